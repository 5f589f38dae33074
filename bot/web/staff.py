"""Staff use cases: upload, replace and remove documents, preview, reindex, rollback, status.

Every action checks the staff password on the server (constant-time comparison); with no
``BOT_STAFF_PASSWORD`` set the staff area is off. Uploaded file names are reduced to a safe base
name (letters, digits, dot, dash, underscore) inside ``guidance/`` or ``evidence/``, so nothing can
be written outside the documents folder, and replacing an existing file needs explicit
confirmation. Files are written atomically (temporary file, then rename).

Wrong passwords are throttled: after ``MAX_FAILURES`` wrong ones within ``LOCKOUT_SECONDS``, every
password check (the right one too) is refused until that window has passed, and each failure is
logged, so guessing is limited to a handful of tries every quarter of an hour. Reindexing from the
web app runs in a child process (:func:`index_in_child`), so a large or hostile document cannot
stall the process that answers questions.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import threading
import time
import unicodedata
import weakref
from collections import deque
from collections.abc import Generator
from pathlib import Path

from bot.documents import DOC_TYPES, IndexReport, Progress
from bot.errors import BotError
from bot.ingest.loaders import SUPPORTED, also_asked_file, path_inside

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
ENABLE_HINT = ("The staff area is off: set BOT_STAFF_PASSWORD before starting the app to "
               "enable it.")


class StaffError(BotError):
    pass


def check_password(expected: str | None, given: str | None) -> None:
    if not expected:
        raise StaffError(ENABLE_HINT)
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise StaffError("Wrong staff password: check it and try again.")


class Throttle:
    """Counts wrong passwords in a sliding window; past the limit every check is refused."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = LOCKOUT_SECONDS,
                 clock=time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.failures: deque[float] = deque()
        self.lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        while self.failures and now - self.failures[0] > self.window:
            self.failures.popleft()

    def check(self, expected: str | None, given: str | None) -> None:
        if not expected:
            raise StaffError(ENABLE_HINT)
        with self.lock:
            now = self.clock()
            self._forget_old(now)
            if len(self.failures) >= self.limit:
                wait = max(1, int((self.window - (now - self.failures[0])) // 60) + 1)
                log.warning("staff_password_locked failures=%s", len(self.failures))
                raise StaffError(f"Too many wrong staff passwords: wait {wait} minutes and try "
                                 "again.")
            try:
                check_password(expected, given)
            except StaffError:
                self.failures.append(now)
                log.warning("staff_password_wrong failures=%s", len(self.failures))
                raise


def safe_name(filename: str) -> str:
    """A file name that is safe to write: no folders, no hidden files, known types only."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-_")
    base = re.sub(r"\.{2,}", ".", base)
    stem, dot, suffix = base.rpartition(".")
    stem = stem.strip(".-_")
    if not dot or not stem:
        raise StaffError(f"'{filename}' has no file type: upload a .md, .pdf, .docx, .txt or "
                         ".html file.")
    if f".{suffix.lower()}" not in SUPPORTED:
        raise StaffError(f"'{filename}' is not a supported type: upload a .md, .pdf, .docx, "
                         ".txt or .html file.")
    return f"{stem[:100]}.{suffix.lower()}"


def inside(root: Path, relative: str) -> Path:
    try:
        return path_inside(root, relative)
    except ValueError as exc:
        raise StaffError(str(exc)) from None


# One throttle per bot, however many Staff views are made of it; forgotten with the bot.
_THROTTLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Staff:
    def __init__(self, bot) -> None:
        self.bot = bot
        self.throttle = _THROTTLES.setdefault(bot, Throttle())

    @property
    def enabled(self) -> bool:
        return bool(self.bot.settings.staff_password)

    @property
    def docs_dir(self) -> Path:
        return Path(self.bot.settings.docs_dir)

    def check(self, password: str | None) -> None:
        """Raise StaffError unless ``password`` is the staff password."""
        self.throttle.check(self.bot.settings.staff_password, password)

    def documents(self, password: str | None) -> list[str]:
        self.check(password)
        return sorted(p.relative_to(self.docs_dir).as_posix() for p in self.docs_dir.rglob("*")
                      if p.is_file() and not p.is_symlink() and not p.name.startswith("."))

    def upload(self, password: str | None, filename: str, data: bytes, folder: str,
               replace: bool = False) -> str:
        self.check(password)
        if folder not in DOC_TYPES:
            raise StaffError("Choose where the document goes: guidance or evidence.")
        if len(data) > MAX_UPLOAD_BYTES:
            raise StaffError("The file is larger than 20 MB: split it or compress its images.")
        if not data.strip():
            raise StaffError("The file is empty.")
        name = safe_name(filename)
        target = inside(self.docs_dir, f"{folder}/{name}")
        if target.exists() and not replace:
            raise StaffError(f"{folder}/{name} already exists: tick 'Replace an existing file' "
                             "to confirm that you want to replace it.")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.uploading")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        verb = "Replaced" if replace else "Added"
        return f"{verb} {folder}/{name}. Preview or reindex to make it answerable."

    def upload_file(self, password: str | None, path: Path, filename: str, folder: str,
                    replace: bool = False) -> str:
        """Upload from a file the web framework received: the password is checked and the size
        read from the file system before a byte of it is read."""
        self.check(password)
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise StaffError("The file is larger than 20 MB: split it or compress its images.")
        return self.upload(password, filename, path.read_bytes(), folder, replace=replace)

    def remove(self, password: str | None, source: str) -> str:
        self.check(password)
        target = inside(self.docs_dir, source)
        if not target.is_file():
            raise StaffError(f"There is no document called {source}.")
        target.unlink()
        phrasings = also_asked_file(target)
        if phrasings.is_file():  # its other phrasings go with it (bot.ingest.loaders)
            phrasings.unlink()
        return f"Removed {source}. Reindex to take it out of answers."

    def index(self, password: str | None, dry_run: bool = False
              ) -> Generator[Progress, None, IndexReport]:
        self.check(password)
        return self.bot.index(dry_run=dry_run)

    def index_in_child(self, password: str | None, dry_run: bool = False
                       ) -> Generator[Progress, None, IndexReport]:
        """:meth:`index` in a child process, with its progress passed back as it happens."""
        self.check(password)
        return index_in_child(self.bot.settings, dry_run=dry_run)

    def rollback(self, password: str | None) -> str:
        self.check(password)
        version = self.bot.rollback()
        return f"Version {version.id} ({version.documents} documents) is live again."

    def status(self, password: str | None):
        self.check(password)
        return self.bot.status()


CHILD_FAILED = ("The reindex stopped before it finished: the live index was left as it was. "
                "Check the server log, then try again.")


def index_in_child(settings, full: bool = False, dry_run: bool = False
                   ) -> Generator[Progress, None, IndexReport]:
    """Run the indexing generator in a fresh process built from ``settings`` and yield its
    progress here; the web process only waits, so questions keep being answered."""
    import multiprocessing
    import queue as queue_module

    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    child = context.Process(target=_child_index, name="bot-reindex", daemon=True,
                            args=(settings.model_dump(), full, dry_run, events))
    child.start()
    try:
        while True:
            try:
                kind, payload = events.get(timeout=1.0)
            except queue_module.Empty:
                if not child.is_alive():
                    raise StaffError(CHILD_FAILED) from None
                continue
            if kind == "progress":
                yield payload
            elif kind == "report":
                return payload
            else:
                raise StaffError(payload)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()


def _child_index(settings: dict, full: bool, dry_run: bool, events) -> None:
    from bot.config import Settings
    from bot.errors import BotError
    from bot.ingest.indexer import drive
    from bot.wiring import build_bot

    try:
        bot = build_bot(Settings(**settings))
        report = drive(bot.index(full=full, dry_run=dry_run),
                       lambda event: events.put(("progress", event)))
        events.put(("report", report))
    except BotError as exc:
        events.put(("error", exc.message))
    except Exception:
        log.exception("child_reindex_failed")
        events.put(("error", CHILD_FAILED))
