"""Which passages a search may return: the filters a user or staff member sets (document type,
setting, source), checked before any search, and the documents a newer one supersedes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.documents import DOC_TYPES, SETTINGS_VOCAB
from bot.errors import ConfigError


def superseded_sources(metadatas: Sequence[dict[str, Any]]) -> set[str]:
    """Sources that a newer document says it supersedes (by path or by title): answers prefer
    the current version, so their passages are left out while the newer one is indexed."""
    named = {str(v).strip() for m in metadatas for v in str(m.get("supersedes") or "").split(",")
             if str(v).strip()}
    if not named:
        return set()
    out = set()
    for meta in metadatas:
        source, title = meta.get("source", ""), meta.get("title", "")
        if source in named or title in named or source.rsplit("/", 1)[-1] in named:
            out.add(source)
    return out


def normalise_filters(filters: dict[str, Any] | None) -> dict[str, str]:
    """Check filter keys and values; only doc_type, setting and source are supported."""
    out: dict[str, str] = {}
    for key, value in (filters or {}).items():
        if value in (None, "", "any", "all"):
            continue
        key = {"settings": "setting", "type": "doc_type", "kind": "doc_type"}.get(key, key)
        value = str(value).strip().lower()
        if key == "doc_type" and value not in DOC_TYPES:
            raise ConfigError(f"Unknown document type '{value}': use guidance or evidence.")
        if key == "setting" and value not in SETTINGS_VOCAB:
            raise ConfigError(f"Unknown setting '{value}': use one of {', '.join(SETTINGS_VOCAB)}.")
        if key not in ("doc_type", "setting", "source"):
            raise ConfigError(f"Unknown filter '{key}': use doc_type, setting or source.")
        out[key] = value
    return out


def matches(meta: dict[str, Any], filters: dict[str, str]) -> bool:
    for key, value in filters.items():
        if key == "setting":
            if not meta.get(f"setting_{value}"):
                return False
        elif str(meta.get(key, "")).lower() != value:
            return False
    return True
