"""Index versions in ChromaDB, the manifest that says which one is live, and the reindex lock.

Embedded mode keeps each version in its own Chroma ``PersistentClient`` folder under
``index/versions/<id>/``, so a reindex never writes to the store that questions are read from.
``index/manifest.json`` names the live version and keeps the earlier ones for rollback; it is
replaced atomically (write, fsync, rename), so a crash at any moment leaves the old version live.
Collections are created with ``embedding_function=None``: vectors always come from our own
embedder, and Chroma's default embedder (which downloads a model) never runs.

With ``BOT_CHROMA_URL`` set, :func:`open_store` returns a :class:`bot.store.server.ServerStore`
instead: the same interface, with everything shared kept in the Chroma server. Both stores share
the manifest rules of :class:`ManifestStore` (publish, rollback, which version is live). The
interface callers rely on is written down as :class:`VersionStore` (and :class:`StoreLock`);
tests/test_store_contract.py runs one suite of behaviour against both stores.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bot.errors import BotError, IndexBusyError, NoIndexError, StoreUnavailable

log = logging.getLogger(__name__)

COLLECTION = "chunks"


def hnsw_configuration() -> dict:
    """The vector index of every passage collection. With Chroma's defaults (16 neighbours per
    node, ef 100) about 3 in 1,000 of a question's true 40 nearest passages were missed, and which
    ones changed from process to process (the graph is rebuilt when a store opens), so the same
    question could rank differently after a restart. A denser graph searched more widely finds
    them all on the library and SciFact, at about 1 ms per question (docs/benchmarks.md)."""
    return {"hnsw": {"space": "cosine", "ef_construction": 200, "max_neighbors": 32,
                     "ef_search": 500}}
MANIFEST = "manifest.json"
FORMAT = 1


def chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def new_version_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"v{stamp}-{secrets.token_hex(3)}"


def atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


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
    :class:`EmbeddedStore` and :class:`bot.store.server.ServerStore`.

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


def open_store(settings: Any, *namespace: str) -> VersionStore:
    """The store the settings ask for: a Chroma server when ``chroma_url`` is set, else folders
    under ``index_dir``. ``namespace`` keeps a separate set of versions (e.g. an eval dataset's)."""
    if settings.chroma_url:
        from bot.store.server import ServerStore

        return ServerStore(settings.chroma_url, namespace=namespace)
    return EmbeddedStore(Path(settings.index_dir).joinpath(*namespace))


class EmbeddedStore(ManifestStore):
    """Versions in folders under ``index_dir``; see the module docstring."""

    def __init__(self, index_dir: Path) -> None:
        self.root = Path(index_dir)
        self._clients: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.root)!r})"

    # -- manifest --------------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def read_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"format": FORMAT, "live": None, "versions": []}
        except (OSError, ValueError) as exc:
            raise BotError(
                f"The index manifest {self.manifest_path} is unreadable: run "
                "'python -m bot index --full' to rebuild the index."
            ) from exc
        return checked_manifest(data, str(self.manifest_path))

    def version_exists(self, version_id: str) -> bool:
        return self.version_dir(version_id).is_dir()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.manifest_path, manifest)

    def manifest_stamp(self) -> str:
        """Changes whenever the live version may have changed; cheap enough to check per question.
        The inode is part of it: every write renames a new file over the old one, so two writes
        within one tick of the file system's clock still differ."""
        try:
            stat = self.manifest_path.stat()
        except FileNotFoundError:
            return "-"
        return f"{stat.st_ino}:{stat.st_mtime_ns}"

    # -- versions on disk ------------------------------------------------------------------------

    def version_dir(self, version_id: str) -> Path:
        return self.root / "versions" / version_id

    def client(self, version_id: str):
        if version_id not in self._clients:
            import chromadb

            path = self.version_dir(version_id) / "chroma"
            path.mkdir(parents=True, exist_ok=True)
            self._clients[version_id] = chromadb.PersistentClient(
                path=str(path), settings=chroma_settings()
            )
        return self._clients[version_id]

    def create_collection(self, version_id: str):
        return self.client(version_id).create_collection(
            COLLECTION, embedding_function=None, configuration=hnsw_configuration())

    def collection(self, version_id: str):
        if not self.version_exists(version_id):  # opening a client would create its folder
            raise StoreUnavailable(
                f"The index version {version_id} is missing from {self.root}: run "
                "'python -m bot index --full' to rebuild it.")
        try:
            return self.client(version_id).get_collection(COLLECTION, embedding_function=None)
        except Exception as exc:
            raise StoreUnavailable(
                f"The index version {version_id} cannot be opened: run "
                "'python -m bot index --full' to rebuild it."
            ) from exc

    def write_registry(self, version_id: str, registry: dict[str, Any]) -> None:
        atomic_write_json(self.version_dir(version_id) / "documents.json", registry)

    def read_registry(self, version_id: str) -> dict[str, Any]:
        try:
            return json.loads(
                (self.version_dir(version_id) / "documents.json").read_text(encoding="utf-8")
            )
        except FileNotFoundError:
            return {}

    def delete_version(self, version_id: str) -> None:
        client = self._clients.pop(version_id, None)
        if client is not None:
            try:  # close() releases this version's files; clear_system_cache() would leak them
                client.close()
            except Exception:
                log.debug("chroma_close_failed version=%s", version_id, exc_info=True)
        shutil.rmtree(self.version_dir(version_id), ignore_errors=True)

    def clean_orphans(self) -> list[str]:
        """Remove half-built versions that no manifest entry names (left by a crash)."""
        known = {v["id"] for v in self.read_manifest().get("versions", [])}
        base = self.root / "versions"
        removed = []
        if base.is_dir():
            for child in base.iterdir():
                if child.is_dir() and child.name not in known:
                    self.delete_version(child.name)
                    removed.append(child.name)
        for tmp in self.root.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        return removed

    # -- lock ------------------------------------------------------------------------------------

    def lock(self, command: str = "index") -> IndexLock:
        return IndexLock(self.root / "reindex.lock", command)


def writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove it can be written; a read-only or missing index
    folder is one sentence here, never a crash (SIGBUS) inside Chroma or SQLite later."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BotError(f"The index folder {folder} cannot be written ({exc.strerror or exc}): "
                       "check its permissions and free space, or set BOT_INDEX_DIR to a "
                       "writable folder.") from exc


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


class IndexLock:
    """One reindex at a time. The lock file says who holds it; a lock left by a dead process on
    this host is taken over."""

    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.command = command
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def acquire(self) -> None:
        writable_folder(self.path.parent)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is None:
                    # Written a moment ago and not yet filled in, or garbage: wait, then judge.
                    time.sleep(0.2)
                    holder = self.holder() or {"pid": -1, "host": socket.gethostname()}
                same_host = holder.get("host") == socket.gethostname()
                if same_host and not pid_alive(int(holder.get("pid", -1))):
                    log.warning("stale_lock_taken_over pid=%s", holder.get("pid"))
                    self.path.unlink(missing_ok=True)
                    continue
                raise busy_error(holder) from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(info, fh)
            self.held = True
            return
        raise IndexBusyError("Could not take the reindex lock: try again in a moment.")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> IndexLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
