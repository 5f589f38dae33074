"""Talking to a Chroma server, for the server store and its lock: the address, which errors mean
the server cannot serve us now, the request timeouts, and :class:`ServerCollection`, a collection
looked up by name (again after a reconnect) and read in pages. Every call goes through the
store's ``call``, which turns an unreachable server into :class:`~bot.errors.StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from bot.errors import ConfigError, StoreUnavailable

T = TypeVar("T")
UNAVAILABLE = "The guidance index is temporarily unavailable: please try again in a minute."
PAGE = 1000                 # records per get() when reading a whole collection
PLACEHOLDER = [1.0]         # bookkeeping records need a vector; they are never searched
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


class Connection(Protocol):
    """What a :class:`ServerCollection` needs of its store (:class:`bot.store.server.ServerStore`)."""

    def client(self) -> tuple[Any, int]: ...

    def call(self, fn: Callable[[], T]) -> T: ...


class ServerCollection:
    """A collection in the server, looked up by name (again after a reconnect, or after it was
    re-created); every call goes through the store's ``call``."""

    def __init__(self, store: Connection, name: str, create: bool = False) -> None:
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
