"""Which retrieved sentences may be said in an answer (bot.answer.extractive picks among them).

Never: a sentence that carries an instruction to the model (``INJECTION``), one from a reading
list, a line or a section about the document itself, a fragment too short to say anything, a
short list item that is only a label, or a bare web address.
"""

from __future__ import annotations

import re

from langchain_core.documents import Document

from bot.answer.citing import INJECTION
from bot.documents import is_reading_list
from bot.ingest.sentences import LIST_MARK, Sentence, split_sentences

# A line about the document itself ("This guide is for artists who...", "This guide adds
# practical background to..."), and the sentence that goes on describing it ("It explains who
# buys custody places..."): they tell the reader what they are reading, never the answer to a
# question. "This guide" always names the document in hand; "the guide" may name another one
# ("The guide to security vetting..."), so only its describing verbs count.
_DESCRIBES = (r"(is for|is written|is aimed|explains|covers|describes|sets out|gives|adds|"
              r"collects|points to|introduces|looks at|lists|brings together|answers|"
              r"summari[sz]es)")
_ABOUT_THE_DOCUMENT = re.compile(
    r"^(this (guide|document|page|leaflet|booklet|factsheet|section)\b|"
    r"the (guide|document|page|leaflet|booklet|factsheet|section)\b[^.]{0,40}?\b"
    + _DESCRIBES + r"\b)", re.I)
_GOES_ON_DESCRIBING = re.compile(r"^it (also )?" + _DESCRIBES + r"\b", re.I)


def about_the_document(sentence: Sentence, doc: Document) -> bool:
    """A line about the document in hand, or the next one going on describing it."""
    clean = sentence.clean
    if _ABOUT_THE_DOCUMENT.match(clean):
        return True
    if not _GOES_ON_DESCRIBING.match(clean):
        return False
    before = split_sentences(doc.page_content[:sentence.start].rsplit("\n", 1)[-1])  # its line
    return bool(before and _ABOUT_THE_DOCUMENT.match(before[-1].clean))


# A section about the document itself ("What this guide covers", "About this guide"): it
# introduces what follows and points elsewhere, and answers nothing. Led with, it read as an
# answer to practical questions ("is art one of the subjects the education provider has to
# deliver?" answered with the education guide's introduction).
_SECTION_ABOUT_THE_DOCUMENT = re.compile(
    r"\bthis (guide|document|leaflet|booklet|factsheet)\b", re.I)


def usable(sentence: Sentence, doc: Document) -> bool:
    """Whether a retrieved sentence may be said as part of an answer."""
    if INJECTION.search(sentence.text):
        return False
    section = str(doc.metadata.get("section") or "")
    if is_reading_list(section) or _SECTION_ABOUT_THE_DOCUMENT.search(section):
        return False
    clean = sentence.clean
    if about_the_document(sentence, doc):
        return False
    if len(clean) < 25 or len(clean.split()) < 5:
        return False
    if LIST_MARK.match(sentence.text) and len(clean.split()) < 8 and clean[-1:] not in ".!":
        return False  # a short list item ("Emotional content that could upset participants")
    if re.search(r"https?://|www\.", clean) and len(clean) < 200:
        return False
    return True
