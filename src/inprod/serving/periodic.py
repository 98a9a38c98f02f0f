"""A background task that repeats a refresh until stopped; one failure never ends it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``refresh`` every ``interval_s`` seconds on the event loop; a failed run is logged
    with ``failure`` and the last good state stays in force."""

    def __init__(
        self, refresh: Callable[[], Awaitable[None]], interval_s: float, *, failure: str
    ) -> None:
        self._refresh = refresh
        self.interval_s = interval_s
        self._failure = failure
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever())

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._refresh()
            except Exception:
                log.exception(self._failure)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
