"""Where the index lives: index versions in ChromaDB (one collection of passages each), the
manifest that says which version is live, and the reindex lock.

:func:`open_store` chooses the store the settings ask for: folders under the index directory
(:mod:`~bot.store.embedded`) or a Chroma server (:mod:`~bot.store.server`, with its lock in
:mod:`~bot.store.server_lock` and its connection in :mod:`~bot.store.server_client`). Both build
on :mod:`~bot.store.base` (the version record, the manifest rules, the :class:`VersionStore`
protocol) and neither imports the other. :mod:`~bot.store.feedback` keeps feedback and what
users could not find.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.store.base import StoreLock, Version, VersionStore, new_version_id
from bot.store.embedded import EmbeddedStore, writable_folder
from bot.store.server import ServerStore

__all__ = ["EmbeddedStore", "ServerStore", "StoreLock", "Version", "VersionStore",
           "new_version_id", "open_store", "writable_folder"]


def open_store(settings: Any, *namespace: str) -> VersionStore:
    """The store the settings ask for: a Chroma server when ``chroma_url`` is set, else folders
    under ``index_dir``. ``namespace`` keeps a separate set of versions (e.g. an eval dataset's)."""
    if settings.chroma_url:
        return ServerStore(settings.chroma_url, namespace=namespace)
    return EmbeddedStore(Path(settings.index_dir).joinpath(*namespace))


if TYPE_CHECKING:  # mypy checks that both stores implement the interface callers rely on

    def _implements(embedded: EmbeddedStore, server: ServerStore) -> list[VersionStore]:
        return [embedded, server]
