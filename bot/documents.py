"""The base types every other module shares: chunks, citations, answers and index reports.

Pages and files travel as LangChain ``Document`` objects; what is ours is what LangChain has no
type for: a chunk with its stable id, a citation with its verbatim quote, an ``Answer`` that always
carries its sources, and the report an index run returns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

DOC_TYPES = ("guidance", "evidence")
SETTINGS_VOCAB = (
    "prison",
    "yoi",
    "secure-training-centre",
    "secure-childrens-home",
    "probation",
    "approved-premises",
    "community",
)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, the unit that is embedded, stored and cited."""

    id: str
    text: str
    source: str
    title: str
    doc_type: str
    page: int | None
    section: str | None
    position: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def context_header(self) -> str:
        """Title and section, prepended to the text for embedding and keyword search."""
        section = self.metadata.get("section_path") or self.section
        if section and section != self.title:
            return f"{self.title} - {section}"
        return self.title

    @property
    def search_text(self) -> str:
        return f"{self.context_header}\n{self.text}"


def heading_text(metadata: dict[str, Any]) -> str:
    """The heading a passage sits under (its section, or the document's title): the search
    ranks these too, the answer check compares them with the question, and the indexer embeds
    them (bot.search.retrieval, bot.answer.deciding, bot.ingest.indexer). Every evidence summary
    has the same six headings ("Who took part", "What it found"), which alone say nothing about
    which study a section is in, so theirs carry the study's title: "Musical Pathways: Who took
    part". Measured on the question sets (docs/quality.md, session 6), about neutral for the key
    fact and fewer wrong answers; summaries' own questions ("Who took part in X?") are answered."""
    section, title = metadata.get("section"), metadata.get("title")
    if metadata.get("doc_type") == "evidence" and section and title and section != title:
        return f"{title}: {section}"
    return str(section or title or "")


def asked_texts(metadata: dict[str, Any]) -> list[str]:
    """Other ways of asking the section's question that staff added under its heading (a
    Markdown comment, bot.ingest.text.also_asked): the heading ranking matches them too."""
    return [t.strip() for t in str(metadata.get("also_asked") or "").split(" | ") if t.strip()]


# A document's list of sources, by its whole heading ("Source", "Sources and further reading"):
# it answers nothing. A heading that merely begins with the word ("Sources differ on the
# reoffending figures") is content.
READING_LIST = re.compile(r"(sources?|references|further reading|reading list|"
                          r"sources and further reading)", re.I)


def is_reading_list(section: object) -> bool:
    """Whether a passage's section heading names a list of sources rather than content."""
    return bool(READING_LIST.fullmatch(str(section or "").strip()))


def chunk_id(source: str, page: int | None, position: int, text: str) -> str:
    """Stable id: the same text at the same place always gets the same id."""
    key = f"{source}\x00{page or 0}\x00{position}\x00{text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    doc_type: str
    page: int | None
    section: str | None
    quote: str
    score: float
    updated: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """What every backend returns: text with [n] markers, the citations they refer to, and
    whether the documents actually cover the question."""

    text: str
    citations: list[Citation]
    grounded: bool
    backend: str = "extractive"
    notice: str | None = None
    refused: bool = False
    searched: str | None = None
    category: str | None = None  # a refusal's policy category, for the staff report

    def to_dict(self, question: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": question,
            "answer": self.text,
            "grounded": self.grounded,
            "backend": self.backend,
            "citations": [c.to_dict() for c in self.citations],
        }
        if self.refused:
            out["refused"] = True
            if self.category:
                out["refused_category"] = self.category
        if self.notice:
            out["notice"] = self.notice
        if self.searched and self.searched != question:
            out["searched"] = self.searched
        return out


@dataclass
class FileProblem:
    source: str
    reason: str


@dataclass
class IndexReport:
    version: str | None = None
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[FileProblem] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    skipped: list[FileProblem] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    embedded: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    changes: dict[str, list[str]] = field(default_factory=dict)

    def warn(self, source: str, message: str) -> None:
        self.warnings.append({"source": source, "message": message})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": [asdict(f) for f in self.failed],
            "warnings": self.warnings,
            "documents": self.documents,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 2),
        }
        if self.skipped:
            out["skipped"] = [asdict(s) for s in self.skipped]
        if self.dry_run:
            out["dry_run"] = True
            out["changes"] = self.changes
        out["embedded"] = self.embedded
        return out


@dataclass(frozen=True)
class Progress:
    """One step of an index run, for a progress bar (CLI) or gr.Progress (web app)."""

    stage: str  # "read", "model", "embed", "store", "sentences", "check", "done"
    done: int
    total: int
    current: str = ""

    @property
    def label(self) -> str:
        return STAGE_LABELS.get(self.stage, self.stage)


STAGE_LABELS = {"read": "Reading documents", "model": "Loading the embedding model",
                "embed": "Embedding passages", "store": "Storing passages",
                "sentences": "Embedding sentences for answers",
                "check": "Checking the new index", "done": "Done"}
