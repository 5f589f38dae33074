"""The reindex lock of the Chroma server store: see :class:`ServerLock` for what it guarantees and
where its race window is."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import Any, Protocol

from bot.errors import BotError, IndexBusyError
from bot.store.base import busy_error, now_iso, pid_alive
from bot.store.server_client import CONNECT_TIMEOUT, PLACEHOLDER, READ_TIMEOUT, ServerCollection

log = logging.getLogger(__name__)

LOCK_ID = "reindex-lock"
LOCK_TTL = 60.0             # seconds a lock lives without a heartbeat


class LockHost(Protocol):
    """What a :class:`ServerLock` needs of its store (:class:`bot.store.server.ServerStore`): the
    bookkeeping collection the lock record lives in, and where to say that it holds the lock."""

    meta: ServerCollection
    held_lock: ServerLock | None


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
    they hold it. A heartbeat refresh that stalled past the expiry can likewise straddle a
    takeover (it read our record, the other process took over, then the refresh writes ours back);
    then it is the other process's heartbeat that finds its token gone. Two guards make all of
    this harmless: the heartbeat notices when the record no longer carries our token, and
    :meth:`ServerStore.write_manifest` refuses to publish or roll back for a process that lost
    the lock. Even then the manifest is only ever replaced whole, pointing at a
    complete, checked version. Expiry compares wall clocks of different hosts: keep them in sync.
    """

    def __init__(self, store: LockHost, command: str, ttl: float) -> None:
        self.store = store
        self.command = command
        self.ttl = ttl
        self.token = secrets.token_hex(8)
        self.since = now_iso()
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
        self.since = now_iso()
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
