"""The part of a question that asks, apart from the story told around it."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def asking_part(question: str) -> str | None:
    """The part of a long question that asks, without the story around it: "I start next week
    at a women's prison running a poetry group. What should I wear?" -> "What should I wear?".
    None when the question is all asking (one sentence). The whole question's vector blurs its
    ask with its context; the sections' headings are questions, best compared with the ask."""
    parts = [p.strip() for p in _SENTENCE_END.split(question.strip()) if p.strip()]
    if len(parts) < 2:
        return None
    asking = [p for p in parts if p.endswith("?")] or parts[-1:]
    if len(asking) == len(parts):
        return None
    return " ".join(asking)
