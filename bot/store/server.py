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
says what the lock guarantees and where its race window is. Every call goes through
:meth:`ServerStore.call`, which turns an unreachable server into
:class:`~bot.errors.StoreUnavailable` and forgets the client, so the next call reconnects.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from bot.errors import BotError, ConfigError, IndexBusyError, StoreUnavailable
from bot.store.embedded import (
    FORMAT,
    ManifestStore,
    busy_error,
    checked_manifest,
    chroma_settings,
    hnsw_configuration,
    pid_alive,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
UNAVAILABLE = "The guidance index is temporarily unavailable: please try again in a minute."
MANIFEST_ID = "manifest"
LOCK_ID = "reindex-lock"
REGISTRY_PART = 12_000      # characters of registry JSON per record (managed Chroma caps documents)
PAGE = 1000                 # records per get() when reading a whole collection
PLACEHOLDER = [1.0]         # bookkeeping records need a vector; they are never searched
LOCK_TTL = 60.0             # seconds a lock lives without a heartbeat
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 60.0
COSINE = {"hnsw:space": "cosine"}
ROWS = ("ids", "embeddings", "documents", "metadatas", "uris", "data")


def parse_url(url: str) -> tuple[str, int, bool]:
    """``http://host:port`` (or ``https://``, or a bare ``host:port``) -> (host, port, ssl)."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 \
            or parts.path.strip("/") or parts.query:
        raise ConfigError(f"BOT_CHROMA_URL '{url}' is not a Chroma server address: use "
                          "http://HOST:PORT, for example http://127.0.0.1:8000.")
    ssl = parts.scheme == "https"
    return parts.hostname, port or (443 if ssl else 8000), ssl


def _safe_name(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", part).strip("-") or "x"


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the server cannot serve us now (rather than a bad request)."""
    import httpx
    from chromadb.errors import ChromaError

    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, ChromaError):
        return exc.code() >= 500 or exc.code() == 429
    # chromadb raises a bare Exception for an HTTP error without a Chroma body (e.g. a proxy's 502)
    return type(exc) is Exception


def _now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


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
        manifest = dict(manifest, serial=int(manifest.get("serial", 0)) + 1, updated=_now_iso())
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


class ServerCollection:
    """A collection in the server, looked up by name (again after a reconnect, or after it was
    re-created); every call goes through :meth:`ServerStore.call`."""

    def __init__(self, store: ServerStore, name: str, create: bool = False) -> None:
        self.store = store
        self.name = name
        self.create = create
        self._collection: Any = None
        self._generation = -1

    def __repr__(self) -> str:
        return f"ServerCollection({self.name!r})"

    def target(self) -> Any:
        client, generation = self.store.client()
        if self._collection is None or generation != self._generation:
            if self.create:
                self._collection = client.get_or_create_collection(
                    self.name, embedding_function=None, metadata=dict(COSINE))
            else:
                self._collection = client.get_collection(self.name, embedding_function=None)
            self._generation = generation
        return self._collection

    def _run(self, method: str, **kwargs: Any) -> Any:
        from chromadb.errors import NotFoundError

        def attempt() -> Any:
            return getattr(self.target(), method)(**kwargs)

        try:
            return self.store.call(attempt)
        except NotFoundError:
            self._collection = None  # deleted and perhaps re-created since we looked it up
            try:
                return self.store.call(attempt)
            except NotFoundError as exc:
                raise StoreUnavailable(UNAVAILABLE) from exc

    def get(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs.get("ids") is not None or kwargs.get("limit") is not None:
            return self._run("get", **kwargs)
        merged: dict[str, Any] = {}
        offset = 0
        while True:  # whole collections are read in pages: servers cap one response's size
            page = self._run("get", limit=PAGE, offset=offset, **kwargs)
            for key, value in page.items():
                if key in ROWS and value is not None:
                    merged.setdefault(key, []).extend(value)
                else:
                    merged.setdefault(key, value)
            offset += len(page["ids"])
            if len(page["ids"]) < PAGE:
                return merged

    def add(self, ids: list[str], **columns: Any) -> None:
        client, _ = self.store.client()
        size = self.store.call(client.get_max_batch_size)
        size = size if size and size > 0 else PAGE
        for start in range(0, len(ids), size):
            batch = {k: (v[start:start + size] if v is not None else None)
                     for k, v in columns.items()}
            self._run("add", ids=list(ids[start:start + size]), **batch)

    def upsert(self, **kwargs: Any) -> None:
        self._run("upsert", **kwargs)

    def delete(self, **kwargs: Any) -> Any:
        return self._run("delete", **kwargs)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return self._run("query", **kwargs)

    def count(self) -> int:
        return self._run("count")


class ServerLock:
    """One reindex (or rollback) at a time across every process that uses the server.

    The lock is the record ``reindex-lock`` in ``bot_manifest``: holder token, pid, host, command,
    ``since``, and ``expires`` (a heartbeat thread pushes it ``ttl`` seconds ahead every ``ttl/4``
    seconds while the lock is held). Taking it: a live, unexpired holder means IndexBusyError; a
    holder whose process is gone (same host) or whose lock expired (any host) is taken over.

    Chroma offers no compare-and-set. Taking a free lock uses ``add``, which leaves an existing
    record untouched (chromadb 1.x; a test checks it), and then reads the record back: of two
    processes adding at once only the first write stands, and only its writer sees its own token.
    Taking over a stale lock deletes it only if its token is still the stale one (``delete`` with
    a ``where``), then adds. That delete is not atomic in Chroma (it finds the ids, then deletes),
    so two processes taking over the same stale lock within a few milliseconds could both believe
    they hold it. Two guards make that harmless: the heartbeat notices when the record no longer
    carries our token, and :meth:`ServerStore.write_manifest` refuses to publish or roll back for a
    process that lost the lock. Even then the manifest is only ever replaced whole, pointing at a
    complete, checked version. Expiry compares wall clocks of different hosts: keep them in sync.
    """

    def __init__(self, store: ServerStore, command: str, ttl: float) -> None:
        self.store = store
        self.command = command
        self.ttl = ttl
        self.token = secrets.token_hex(8)
        self.since = _now_iso()
        self.held = False
        self.lost = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def holder(self) -> dict[str, Any] | None:
        got = self.store.meta.get(ids=[LOCK_ID], include=["metadatas"])
        return dict(got["metadatas"][0] or {}) if got["ids"] else None

    def _record(self) -> dict[str, Any]:
        return {"token": self.token, "pid": os.getpid(), "host": socket.gethostname(),
                "command": self.command, "since": self.since, "expires": time.time() + self.ttl}

    def _stale(self, holder: dict[str, Any]) -> bool:
        if holder.get("host") == socket.gethostname() and not pid_alive(int(holder.get("pid", -1))):
            return True
        return float(holder.get("expires", 0)) < time.time()

    def acquire(self) -> None:
        self.since = _now_iso()
        for _ in range(3):
            holder = self.holder()
            if holder is not None:
                if not self._stale(holder):
                    raise busy_error(holder)
                log.warning("stale_lock_taken_over pid=%s host=%s", holder.get("pid"),
                            holder.get("host"))
                where = {"token": holder["token"]} if holder.get("token") else None
                self.store.meta.delete(ids=[LOCK_ID], where=where)
            try:
                self.store.meta.add(ids=[LOCK_ID], embeddings=[PLACEHOLDER],
                                    metadatas=[self._record()])
                now = self.holder()
            except BotError:  # the server went away: do not leave our lock behind if we can help it
                self._delete_own()
                raise
            if now is not None and now.get("token") == self.token:
                self.held = True
                self.store.held_lock = self
                self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                              name="bot-lock-heartbeat")
                self._beat.start()
                return
        raise IndexBusyError("Could not take the reindex lock: try again in a moment.")

    def still_held(self) -> bool:
        if not self.held or self.lost:
            return False
        holder = self.holder()
        return holder is not None and holder.get("token") == self.token

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                holder = self.holder()
                if holder is None or holder.get("token") != self.token:
                    self.lost = True
                    log.warning("reindex_lock_lost taken_by_pid=%s host=%s",
                                (holder or {}).get("pid"), (holder or {}).get("host"))
                    return
                if not self._stop.is_set():
                    self.store.meta.upsert(ids=[LOCK_ID], embeddings=[PLACEHOLDER],
                                           metadatas=[self._record()])
            except BotError as exc:  # the server is away: keep trying until the lock expires
                log.warning("reindex_lock_heartbeat_failed error=%s", exc)

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=READ_TIMEOUT + CONNECT_TIMEOUT)
        self.held = False
        if self.store.held_lock is self:
            self.store.held_lock = None
        self._delete_own()

    def _delete_own(self) -> None:
        try:  # only our own record: if another process took the lock over, it stays theirs
            self.store.meta.delete(ids=[LOCK_ID], where={"token": self.token})
        except BotError as exc:
            log.warning("reindex_lock_not_released error=%s expires_in=%ss", exc, self.ttl)

    def __enter__(self) -> ServerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if TYPE_CHECKING:  # mypy checks that both stores implement the interface callers rely on
    from bot.store.embedded import EmbeddedStore, VersionStore

    def _implements(embedded: EmbeddedStore, server: ServerStore) -> list[VersionStore]:
        return [embedded, server]
