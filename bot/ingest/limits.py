"""What one file may cost, whatever its format, and the shape of a heading every reader returns.

The caps make a hostile or mistaken upload a file problem in the report rather than minutes of
work and gigabytes of memory (docs/security.md).
"""

from __future__ import annotations

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PDF_PAGES = 500
MAX_TEXT_CHARS = 2_000_000           # characters of text in one file, any format
MAX_DOCX_XML_BYTES = 20 * 1024 * 1024  # a Word file's XML, uncompressed, checked before parsing
# Staff's other phrasings of a section's question, per heading, from a Markdown comment or a
# phrasings file beside any document (bot.ingest.text, bot.ingest.loaders)
MAX_PHRASINGS = 20
MAX_PHRASING_CHARS = 300
Heading = tuple[int, int, int, str]  # start, end, level, title
