"""Indexing, stage by stage: read each file into documents (:mod:`~bot.ingest.loaders`: Markdown
with front matter, PDF per page, Word, HTML, text, each capped in size), cut them into passages
under their headings with stable ids (:mod:`~bot.ingest.chunking`), split passages into the
sentences an answer quotes (:mod:`~bot.ingest.sentences`), and build a new index version from
only what changed (:mod:`~bot.ingest.indexer`: the one indexing generator, driven by the command
line and the staff page alike)."""
