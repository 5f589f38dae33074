"""Where the index lives: index versions in ChromaDB (one collection each), the manifest that says
which version is live, and the reindex lock, in folders under the index directory
(:mod:`~bot.store.embedded`) or in a Chroma server (:mod:`~bot.store.server`); both implement
one protocol. :mod:`~bot.store.feedback` keeps feedback and what users could not find."""
