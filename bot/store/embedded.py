"""The embedded store: index versions in folders under ``index/``, the manifest, and the lock file.

Each version keeps its own Chroma ``PersistentClient`` folder under ``index/versions/<id>/``, so a
reindex never writes to the store that questions are read from. ``index/manifest.json`` names the
live version and keeps the earlier ones for rollback; it is replaced atomically (write, fsync,
rename), so a crash at any moment leaves the old version live. Collections are created with
``embedding_function=None``: vectors always come from our own embedder, and Chroma's default
embedder (which downloads a model) never runs.

The manifest rules and the interface (:class:`~bot.store.base.VersionStore`) are shared with the
Chroma server store (:mod:`bot.store.server`) through :mod:`bot.store.base`;
:func:`bot.store.open_store` chooses between them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from bot.errors import BotError, IndexBusyError, StoreUnavailable
from bot.store.base import (
    FORMAT,
    ManifestStore,
    busy_error,
    checked_manifest,
    chroma_settings,
    hnsw_configuration,
    pid_alive,
)

log = logging.getLogger(__name__)

COLLECTION = "chunks"
MANIFEST = "manifest.json"


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
