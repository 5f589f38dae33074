"""What both stores share: the record of an index version, the manifest rules (publish, rollback,
which version is live), the interface callers rely on (:class:`VersionStore` and
:class:`StoreLock`), how Chroma is configured (telemetry off, the vector index of every passage
collection), version ids, and the judgement of a lock's holder.

:mod:`bot.store.embedded` (folders under ``index/``) and :mod:`bot.store.server` (a Chroma server)
build on it; neither imports the other. tests/test_store_contract.py runs one suite of behaviour
against both stores.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bot.errors import BotError, IndexBusyError, NoIndexError

log = logging.getLogger(__name__)

FORMAT = 1


def hnsw_configuration() -> dict:
    """The vector index of every passage collection. With Chroma's defaults (16 neighbours per
    node, ef 100) about 3 in 1,000 of a question's true 40 nearest passages were missed, and which
    ones changed from process to process (the graph is rebuilt when a store opens), so the same
    question could rank differently after a restart. A denser graph searched more widely finds
    them all on the library and SciFact, at about 1 ms per question (docs/benchmarks.md)."""
    return {"hnsw": {"space": "cosine", "ef_construction": 200, "max_neighbors": 32,
                     "ef_search": 500}}


def chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def new_version_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"v{stamp}-{secrets.token_hex(3)}"


@dataclass
class Version:
    """One built index: its id, the model and chunking it was built with, and its documents."""

    id: str
    created: str
    model: str
    dimension: int
    chunking: dict[str, int]
    documents: int
    chunks: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Version:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def checked_manifest(data: Any, where: str) -> dict[str, Any]:
    """``data`` if it has the manifest's shape, else a BotError sentence (never a KeyError or a
    500 later): a dict with ``live`` (an id or null) and ``versions``, each with every field of
    :class:`Version`."""
    fields = set(Version.__dataclass_fields__)
    ok = (isinstance(data, dict) and isinstance(data.get("versions", []), list)
          and (data.get("live") is None or isinstance(data.get("live"), str))
          and all(isinstance(v, dict) and fields <= set(v) and isinstance(v.get("id"), str)
                  for v in data.get("versions", [])))
    if not ok:
        raise BotError(f"The index manifest {where} is not in the expected form: run "
                       "'python -m bot index --full' to rebuild the index.")
    return data


class ManifestStore:
    """The manifest rules both stores share. A manifest is ``{"format", "live", "versions"}``,
    newest version first; subclasses read and write it (atomically) and delete versions."""

    def read_manifest(self) -> dict[str, Any]:
        raise NotImplementedError

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        raise NotImplementedError

    def delete_version(self, version_id: str) -> None:
        raise NotImplementedError

    def version_exists(self, version_id: str) -> bool:
        raise NotImplementedError

    def live(self) -> Version | None:
        manifest = self.read_manifest()
        for entry in manifest.get("versions", []):
            if entry["id"] == manifest.get("live"):
                return Version.from_dict(entry)
        return None

    def require_live(self) -> Version:
        version = self.live()
        if version is None:
            raise NoIndexError("No index has been built yet: run 'python -m bot index' first.")
        return version

    def versions(self) -> list[Version]:
        return [Version.from_dict(v) for v in self.read_manifest().get("versions", [])]

    def publish(self, version: Version, keep: int) -> list[str]:
        """Make ``version`` live; keep the newest ``keep`` versions; return the ids dropped.
        Dropped versions are deleted only after the manifest has stopped naming them."""
        manifest = self.read_manifest()
        entries = [version.to_dict()] + [
            v for v in manifest.get("versions", []) if v["id"] != version.id
        ]
        dropped = [v["id"] for v in entries[keep:]]
        manifest.update({"format": FORMAT, "live": version.id, "versions": entries[:keep]})
        self.write_manifest(manifest)
        for version_id in dropped:
            try:
                self.delete_version(version_id)
            except BotError as exc:  # it is live no more; clean_orphans removes it next time
                log.warning("old_version_not_deleted id=%s error=%s", version_id, exc)
        return dropped

    def rollback(self) -> Version:
        manifest = self.read_manifest()
        entries = manifest.get("versions", [])
        ids = [v["id"] for v in entries]
        if manifest.get("live") not in ids:
            raise NoIndexError("No index has been built yet: run 'python -m bot index' first.")
        position = ids.index(manifest["live"])
        earlier = [v for v in entries[position + 1:] if self.version_exists(v["id"])]
        if not earlier:
            raise BotError("There is no earlier index version to roll back to.")
        target = earlier[0]
        manifest["live"] = target["id"]
        self.write_manifest(manifest)
        return Version.from_dict(target)


@runtime_checkable
class StoreLock(Protocol):
    """One reindex (or rollback) at a time: ``acquire`` raises IndexBusyError while another live
    process holds it; a lock left by a dead process is taken over. A context manager."""

    held: bool

    def acquire(self) -> None: ...

    def release(self) -> None: ...

    def holder(self) -> dict[str, Any] | None:
        """Who holds it (``pid``, ``host``, ``command``, ``since``), or None when it is free."""
        ...

    def __enter__(self) -> StoreLock: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class VersionStore(Protocol):
    """What the indexer, the bot, BEIR evaluation and the benchmark use of a store: index
    versions (one collection of passages each, plus a document registry), a manifest naming the
    live version and keeping earlier ones for rollback, and the reindex lock. Implemented by
    :class:`bot.store.embedded.EmbeddedStore` and :class:`bot.store.server.ServerStore`.

    A collection (from :meth:`create_collection` / :meth:`collection`) is used through Chroma's
    ``add``, ``get``, ``query`` and ``count``, and is typed ``Any`` here because the embedded
    store hands out Chroma's own collection."""

    # -- the manifest: which version is live, the earlier ones ---------------------------------
    def read_manifest(self) -> dict[str, Any]: ...

    def write_manifest(self, manifest: dict[str, Any]) -> None: ...

    def live(self) -> Version | None: ...

    def require_live(self) -> Version:
        """The live version, or NoIndexError."""
        ...

    def versions(self) -> list[Version]:
        """The versions the manifest keeps, newest first."""
        ...

    def publish(self, version: Version, keep: int) -> list[str]:
        """Make ``version`` live, keep the newest ``keep``; return the ids dropped (and deleted)."""
        ...

    def rollback(self) -> Version:
        """Make the newest earlier version whose data still exists live; BotError if none."""
        ...

    def manifest_stamp(self) -> str:
        """Changes whenever the live version may have changed; compared for equality only, and
        cheap enough to check on every question."""
        ...

    # -- versions ------------------------------------------------------------------------------
    def create_collection(self, version_id: str) -> Any: ...

    def collection(self, version_id: str) -> Any:
        """An existing version's passages, or StoreUnavailable; never creates anything."""
        ...

    def version_exists(self, version_id: str) -> bool: ...

    def delete_version(self, version_id: str) -> None: ...

    def write_registry(self, version_id: str, registry: dict[str, Any]) -> None: ...

    def read_registry(self, version_id: str) -> dict[str, Any]:
        """The registry written for ``version_id``, or ``{}`` when there is none."""
        ...

    def clean_orphans(self) -> list[str]:
        """Delete versions no manifest entry names (half-built by a crash); return their ids.
        Only while holding the lock."""
        ...

    # -- the reindex lock ----------------------------------------------------------------------
    def lock(self, command: str = "index") -> StoreLock: ...


def busy_error(holder: dict[str, Any]) -> IndexBusyError:
    return IndexBusyError(
        f"Another reindex is running (process {holder.get('pid')} on {holder.get('host')}, "
        f"since {holder.get('since', 'an unknown time')}): wait for it to finish and try again."
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
