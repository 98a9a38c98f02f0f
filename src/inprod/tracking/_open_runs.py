"""The runs this process has open, so that reads see their buffered points and exit ends them.

Reads (``get_run``, ``metric_history``) flush an open run first: a notebook that logs and then
looks at the history sees every point it logged. At interpreter exit a run that was never ended
has its points flushed and is marked ``killed`` with a note saying why, instead of staying
``running`` forever.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Protocol

logger = logging.getLogger(__name__)


class _Open(Protocol):
    id: str

    def flush(self) -> None: ...

    def _end_at_exit(self) -> None: ...


# strong references: a run nobody ended must still be flushed at exit, not collected first
_runs: dict[str, _Open] = {}
_lock = threading.Lock()


def register(run: _Open) -> None:
    with _lock:
        _runs[run.id] = run


def unregister(run_id: str) -> None:
    with _lock:
        _runs.pop(run_id, None)


def flush_if_open(run_id: str) -> None:
    with _lock:
        run = _runs.get(run_id)
    if run is not None:
        run.flush()


@atexit.register
def _end_open_runs() -> None:
    with _lock:
        runs = list(_runs.values())
    for run in runs:
        try:
            run._end_at_exit()
        except Exception:
            logger.exception("could not end run %s at exit; its last points may be lost", run.id)
