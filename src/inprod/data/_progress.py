"""How long work reports progress: ``progress(stage, done, total)``, called from any thread.

One callback shape for every stage (bytes hashed, columns profiled, images checked) so the CLI
can show one bar per stage without knowing what the stages are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressFn = Callable[[str, int, int], None]


def report(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


class Counter:
    """Turns increments (``artifacts.put_file`` reports bytes copied) into ``(done, total)``."""

    def __init__(self, progress: ProgressFn | None, stage: str, total: int) -> None:
        self._progress = progress
        self._stage = stage
        self._total = total
        self._done = 0
        self._lock = threading.Lock()
        report(progress, stage, 0, total)

    def __call__(self, increment: int) -> None:
        with self._lock:
            self._done += increment
            done = self._done
        report(self._progress, self._stage, done, self._total)
