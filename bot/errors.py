"""Errors written for people.

Every message is one sentence fit to show an artist or a staff member, saying what went wrong and
what to do next. Front-ends convert them at the edge (a Click exception, a ``gr.Warning``, a 4xx);
nobody sees a traceback unless they ask for ``--debug``.

    BotError                 exit code 2 unless a subclass says otherwise
    +-- ConfigError          bad settings or flags
    +-- ModelError           the embedding model cannot be loaded
    +-- NoIndexError         no index has been built yet (exit code 3)
    +-- IndexBusyError       another reindex holds the lock
    +-- StoreUnavailable     the vector store (e.g. a Chroma server) cannot be reached
    +-- DocumentError        one file could not be read (recorded per file, never fatal to a run)
"""

from __future__ import annotations


class BotError(Exception):
    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BotError):
    pass


class ModelError(BotError):
    pass


class NoIndexError(BotError):
    exit_code = 3


class IndexBusyError(BotError):
    pass


class StoreUnavailable(BotError):
    pass


class DocumentError(BotError):
    """A single document could not be read; ``reason`` is shown in the index report."""
