"""Buttons that change production run once per click, however many times the click arrives.

Each action form carries a fresh ``action_id`` (rendered with the page). A double click, a retry
after a slow answer, or a re-sent form reaches :func:`run_once` with the same id and gets the
first call's result back instead of rolling back twice. Ids are kept in memory for a day, per
server: a double click's two requests ride one browser connection to one replica.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import InvalidInput

T = TypeVar("T")
KEEP_S = 86400.0
MAX_KEPT = 10_000
_ID = re.compile(r"^[0-9a-f]{32}$")


def new_action_id() -> str:
    return uuid.uuid4().hex


class ActionLog:
    """The results of recent actions by id; concurrent calls with one id share one run."""

    def __init__(self) -> None:
        self._done: OrderedDict[str, tuple[float, asyncio.Future[Any]]] = OrderedDict()

    async def run_once(self, action_id: Any, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``(result, ran)``: ``ran`` is False when this id already ran (or is running) and the
        result is the first run's. A failed run is forgotten so that the person may retry."""
        if not isinstance(action_id, str) or not _ID.match(action_id):
            raise InvalidInput(
                "the form lacks its action id; reload the page and click again", field="action_id"
            )
        self._expire()
        known = self._done.get(action_id)
        if known is not None:
            return await asyncio.shield(known[1]), False
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._done[action_id] = (time.monotonic(), future)
        try:
            result = await fn()
        except BaseException as exc:
            self._done.pop(action_id, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        future.set_result(result)
        return result, True

    def _expire(self) -> None:
        cutoff = time.monotonic() - KEEP_S
        while self._done and (
            len(self._done) > MAX_KEPT or next(iter(self._done.values()))[0] < cutoff
        ):
            self._done.popitem(last=False)
