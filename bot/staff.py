"""Staff use cases: upload, replace and remove documents, preview, reindex, rollback, status.

Every action checks the staff password on the server (constant-time comparison); with no
``BOT_STAFF_PASSWORD`` set the staff area is off. Uploaded file names are reduced to a safe base
name (letters, digits, dot, dash, underscore) inside ``guidance/`` or ``evidence/``, so nothing can
be written outside the documents folder, and replacing an existing file needs explicit
confirmation. Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import hmac
import os
import re
import unicodedata
from collections.abc import Generator
from pathlib import Path

from bot.documents import DOC_TYPES, IndexReport, Progress
from bot.errors import BotError
from bot.loaders import SUPPORTED, path_inside

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
ENABLE_HINT = ("The staff area is off: set BOT_STAFF_PASSWORD before starting the app to "
               "enable it.")


class StaffError(BotError):
    pass


def check_password(expected: str | None, given: str | None) -> None:
    if not expected:
        raise StaffError(ENABLE_HINT)
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise StaffError("Wrong staff password: check it and try again.")


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


class Staff:
    def __init__(self, bot) -> None:
        self.bot = bot

    @property
    def enabled(self) -> bool:
        return bool(self.bot.settings.staff_password)

    @property
    def docs_dir(self) -> Path:
        return Path(self.bot.settings.docs_dir)

    def check(self, password: str | None) -> None:
        """Raise StaffError unless ``password`` is the staff password."""
        check_password(self.bot.settings.staff_password, password)

    def documents(self, password: str | None) -> list[str]:
        self.check(password)
        return sorted(p.relative_to(self.docs_dir).as_posix() for p in self.docs_dir.rglob("*")
                      if p.is_file() and not p.name.startswith("."))

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

    def remove(self, password: str | None, source: str) -> str:
        self.check(password)
        target = inside(self.docs_dir, source)
        if not target.is_file():
            raise StaffError(f"There is no document called {source}.")
        target.unlink()
        return f"Removed {source}. Reindex to take it out of answers."

    def index(self, password: str | None, dry_run: bool = False
              ) -> Generator[Progress, None, IndexReport]:
        self.check(password)
        return self.bot.index(dry_run=dry_run)

    def rollback(self, password: str | None) -> str:
        self.check(password)
        version = self.bot.rollback()
        return f"Version {version.id} ({version.documents} documents) is live again."

    def status(self, password: str | None):
        self.check(password)
        return self.bot.status()
