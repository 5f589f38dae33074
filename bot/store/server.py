"""Index versions, the manifest, the document registries and the reindex lock in a Chroma server.

With ``BOT_CHROMA_URL`` set, everything several app processes must agree on lives in the server
and nothing is written to the embedded store (the embedding cache under ``index/cache`` stays
local: it is only a cache). Collections, all created with ``embedding_function=None`` and cosine
space, so Chroma's default embedder never runs:

    chunks_<version>  one per index version: passages, vectors and metadata
    bot_manifest      record ``manifest``: the manifest JSON (document) with the live version and
                      an update counter (metadata); record ``reindex-lock``: who holds the lock
    bot_registry      each version's document registry, JSON cut into parts of at most 12 KB

The manifest is one record replaced by one ``upsert``, so a reader sees the old manifest or the
new one, never a mix. A version is built and checked before the manifest names it, and deleted
only after the manifest has stopped naming it. Chroma has no compare-and-set: :class:`ServerLock`
(:mod:`bot.store.server_lock`) says what the lock guarantees and where its race window is. Every
call goes through :meth:`ServerStore.call`, which turns an unreachable server into
:class:`~bot.errors.StoreUnavailable` and forgets the client, so the next call reconnects;
:mod:`bot.store.server_client` holds what talking to the server needs (the address, the timeouts,
collections read in pages).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bot.errors import BotError, ConfigError, IndexBusyError, StoreUnavailable
from bot.store.base import (
    FORMAT,
    ManifestStore,
    checked_manifest,
    chroma_settings,
    hnsw_configuration,
    now_iso,
)
from bot.store.server_client import (
    CONNECT_TIMEOUT,
    PLACEHOLDER,
    READ_TIMEOUT,
    UNAVAILABLE,
    ServerCollection,
    parse_url,
    unreachable,
)
from bot.store.server_lock import LOCK_TTL, ServerLock

log = logging.getLogger(__name__)

T = TypeVar("T")
MANIFEST_ID = "manifest"
REGISTRY_PART = 12_000      # characters of registry JSON per record (managed Chroma caps documents)


def _safe_name(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", part).strip("-") or "x"


class ServerStore(ManifestStore):
    """The :class:`~bot.store.embedded.EmbeddedStore` interface over a Chroma server; see the module
    docstring. ``namespace`` prefixes every collection name (``eval_<dataset>_...``)."""

    def __init__(self, url: str, namespace: Sequence[str] = (), lock_ttl: float = LOCK_TTL) -> None:
        self.url = url
        self.host, self.port, self.ssl = parse_url(url)
        self.prefix = "".join(f"{_safe_name(p)}_" for p in namespace)
        self.lock_ttl = lock_ttl
        self.held_lock: ServerLock | None = None
        self._client: Any = None
        self._generation = 0
        self._guard = threading.RLock()
        self.meta = ServerCollection(self, f"{self.prefix}bot_manifest", create=True)
        self.registry = ServerCollection(self, f"{self.prefix}bot_registry", create=True)

    def __repr__(self) -> str:
        return f"ServerStore({self.url!r}, prefix={self.prefix!r})"

    # -- the connection --------------------------------------------------------------------------

    def client(self) -> tuple[Any, int]:
        """The client and its generation (which changes whenever the client is replaced)."""
        with self._guard:
            if self._client is None:
                self._client = self._connect()
                self._generation += 1
            return self._client, self._generation

    def _connect(self) -> Any:
        import chromadb
        import httpx
        from chromadb.errors import ChromaError

        try:
            client = chromadb.HttpClient(host=self.host, port=self.port, ssl=self.ssl,
                                         settings=chroma_settings())
        except ChromaError as exc:
            if exc.code() in (401, 403):
                raise ConfigError(f"The Chroma server at {self.url} refused the connection "
                                  f"({exc.message()}): check its credentials.") from exc
            raise self._unavailable(exc) from exc
        except Exception as exc:  # chromadb reports "could not connect" as a ValueError
            raise self._unavailable(exc) from exc
        # chromadb's HTTP session never times out; a hung server must not hang every question.
        session = getattr(getattr(client, "_server", None), "_session", None)
        if isinstance(session, httpx.Client):
            session.timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        return client

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # INFO, not WARNING: the sentence reaches the user; `-v` shows operators the cause.
        log.info("chroma_unavailable url=%s error=%s: %s", self.url, type(exc).__name__, exc)
        with self._guard:
            self._client = None  # never keep a broken client: the next call reconnects
        return StoreUnavailable(UNAVAILABLE)

    def call(self, fn: Callable[[], T]) -> T:
        """Run one request; an unreachable server becomes StoreUnavailable."""
        try:
            return fn()
        except BotError:
            raise
        except Exception as exc:
            if unreachable(exc):
                raise self._unavailable(exc) from exc
            raise

    # -- manifest --------------------------------------------------------------------------------

    def read_manifest(self) -> dict[str, Any]:
        got = self.meta.get(ids=[MANIFEST_ID], include=["documents"])
        if not got["ids"]:
            return {"format": FORMAT, "live": None, "versions": []}
        try:
            data = json.loads(got["documents"][0])
        except (TypeError, ValueError):
            data = None
        if not isinstance(data, dict):
            raise BotError(f"The index manifest in the Chroma server at {self.url} is unreadable: "
                           "run 'python -m bot index --full' to rebuild the index.")
        return checked_manifest(data, f"in the Chroma server at {self.url}")

    def version_exists(self, version_id: str) -> bool:
        from chromadb.errors import NotFoundError

        try:
            self.call(ServerCollection(self, self.collection_name(version_id)).target)
        except NotFoundError:
            return False
        return True

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest record in one upsert (readers see all of it or none of it), after
        checking that this process still holds the reindex lock it took."""
        if self.held_lock is not None and not self.held_lock.still_held():
            raise IndexBusyError("Another process took over the reindex lock while this one was "
                                 "working: the live index was left unchanged; run it again.")
        manifest = dict(manifest, serial=int(manifest.get("serial", 0)) + 1, updated=now_iso())
        self.meta.upsert(ids=[MANIFEST_ID], embeddings=[PLACEHOLDER],
                         documents=[json.dumps(manifest, sort_keys=True)],
                         metadatas=[{"live": manifest.get("live") or "",
                                     "serial": manifest["serial"], "updated": manifest["updated"]}])

    def manifest_stamp(self) -> str:
        """The live version and the manifest's update counter: one small request per question."""
        got = self.meta.get(ids=[MANIFEST_ID], include=["metadatas"])
        meta = (got["metadatas"][0] or {}) if got["ids"] else {}
        return f"{meta.get('live') or '-'}:{meta.get('serial', 0)}"

    # -- versions --------------------------------------------------------------------------------

    def collection_name(self, version_id: str) -> str:
        return f"{self.prefix}chunks_{version_id}"

    def create_collection(self, version_id: str) -> ServerCollection:
        name = self.collection_name(version_id)
        self.call(lambda: self.client()[0].create_collection(
            name, embedding_function=None, configuration=hnsw_configuration()))
        return ServerCollection(self, name)

    def collection(self, version_id: str) -> ServerCollection:
        from chromadb.errors import NotFoundError

        collection = ServerCollection(self, self.collection_name(version_id))
        try:
            self.call(collection.target)
        except NotFoundError as exc:
            raise StoreUnavailable(
                f"The index version {version_id} is missing from the Chroma server at {self.url}: "
                "run 'python -m bot index --full' to rebuild it.") from exc
        return collection

    def write_registry(self, version_id: str, registry: dict[str, Any]) -> None:
        text = json.dumps(registry, sort_keys=True)
        parts = [text[i:i + REGISTRY_PART] for i in range(0, len(text), REGISTRY_PART)]
        self.registry.delete(where={"version": version_id})
        self.registry.add(
            ids=[f"{version_id}:{n:05d}" for n in range(len(parts))],
            embeddings=[PLACEHOLDER] * len(parts), documents=parts,
            metadatas=[{"version": version_id, "part": n, "parts": len(parts)}
                       for n in range(len(parts))])

    def read_registry(self, version_id: str) -> dict[str, Any]:
        got = self.registry.get(where={"version": version_id}, include=["documents", "metadatas"])
        if not got["ids"]:
            return {}
        parts = sorted(zip(got["metadatas"], got["documents"]), key=lambda p: p[0]["part"])
        if len(parts) != parts[0][0]["parts"]:
            raise BotError(f"The document list of index version {version_id} is incomplete: run "
                           "'python -m bot index --full' to rebuild the index.")
        return json.loads("".join(doc for _, doc in parts))

    def delete_version(self, version_id: str) -> None:
        from chromadb.errors import NotFoundError

        try:
            self.call(lambda: self.client()[0].delete_collection(self.collection_name(version_id)))
        except NotFoundError:
            pass
        self.registry.delete(where={"version": version_id})

    def _collection_names(self) -> list[str]:
        names: list[str] = []
        while True:
            page = self.call(lambda: self.client()[0].list_collections(limit=100, offset=len(names)))
            names.extend(c.name for c in page)
            if len(page) < 100:
                return names

    def clean_orphans(self) -> list[str]:
        """Delete versions no manifest entry names (half-built by a crashed run). Call it only while
        holding the lock: a version being built by the lock holder is not in the manifest yet."""
        known = {v["id"] for v in self.read_manifest().get("versions", [])}
        head = self.collection_name("")
        found = {n[len(head):] for n in self._collection_names() if n.startswith(head)}
        registered = self.registry.get(include=["metadatas"])
        found |= {m["version"] for m in registered["metadatas"] if m and m.get("version")}
        removed = sorted(found - known)
        for version_id in removed:
            self.delete_version(version_id)
        return removed

    # -- lock ------------------------------------------------------------------------------------

    def lock(self, command: str = "index") -> ServerLock:
        return ServerLock(self, command, self.lock_ttl)
