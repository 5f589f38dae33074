"""Indexing, stage by stage: read each file into documents (:mod:`~bot.ingest.loaders`, which
picks the reader: :mod:`~bot.ingest.text` for Markdown with front matter and text,
:mod:`~bot.ingest.pdf` per page, :mod:`~bot.ingest.word`, :mod:`~bot.ingest.webpage`, each within
the caps of :mod:`~bot.ingest.limits`), cut them into passages under their headings with stable
ids (:mod:`~bot.ingest.chunking`), split passages into the sentences an answer quotes
(:mod:`~bot.ingest.sentences`), and build a new index version from only what changed
(:mod:`~bot.ingest.indexer`: the one indexing generator, driven by the command line and the
staff page alike)."""
