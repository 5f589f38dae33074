"""A terminal progress bar (tqdm, on stderr) fed by the indexing generator's events."""

from __future__ import annotations

import sys
from typing import Any

from bot.documents import Progress


class CliProgress:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None  # a tqdm bar while a stage runs
        self._stage: str | None = None

    def update(self, event: Progress) -> None:
        if not self.enabled or event.stage == "done":
            return
        from tqdm import tqdm

        if event.stage != self._stage:
            self.close()
            if event.total <= 0:
                return
            self._bar = tqdm(total=event.total, desc=event.label,
                             unit="item", file=sys.stderr, leave=False)
            self._stage = event.stage
        if self._bar is not None:
            self._bar.n = event.done
            if event.current:
                self._bar.set_postfix_str(event.current[-40:], refresh=False)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._stage = None

    def __enter__(self) -> CliProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
