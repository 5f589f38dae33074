"""The embedding cache: vectors by (model, sha256 of text) in SQLite, shared by the indexer (only
text the cache lacks is embedded), the sentence vectors an answer looks up, and the policy checks.
Several processes may share it; it is only a cache, so it stays local even with a Chroma server.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np


class EmbeddingCache:
    """Vectors by (model, sha256 of text), in SQLite so several processes can share it."""

    def __init__(self, path: Path, model: str) -> None:
        self.path = path
        self.model = model
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A cache: after a power cut it may lack the last vectors written, never be corrupt, so
        # commits need not wait for the disk (WAL with synchronous=NORMAL).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vector BLOB, "
            "PRIMARY KEY (model, hash))"
        )
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = keys[start:start + 500]
                marks = ",".join("?" * len(batch))
                rows = self._conn.execute(
                    f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({marks})",
                    [self.model, *batch],
                ).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def copy_from(self, other: EmbeddingCache) -> None:
        """Replace this cache's contents with a consistent copy of ``other``'s (SQLite's backup:
        safe while other processes use either file)."""
        with self._lock, other._lock:
            other._conn.backup(self._conn)

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(self.model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def close(self) -> None:
        self._conn.close()
