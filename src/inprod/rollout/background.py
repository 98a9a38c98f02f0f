"""A pass repeated in a worker thread by the leading replica: the base of the monitor loop and
the retraining worker (the rollout controller's leadership decides who acts)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class LeaderLoop:
    """Calls :meth:`tick` every ``tick_s`` seconds in a worker thread, never on the event loop
    (the same process answers predictions); one pass at a time; a failed pass is logged with
    ``failure`` and the next one comes as usual. ``tick_s`` 0 turns the loop off (``tick`` may
    still be called directly, as tests do)."""

    failure = "background pass failed"
    task_name = "inprod-leader-loop"

    def __init__(self, *, tick_s: float) -> None:
        self.tick_s = tick_s
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._working = threading.Lock()  # held by a pass; subclasses' tick() takes it

    def tick(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def start(self) -> None:
        if self.tick_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._forever(), name=self.task_name
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self._working.acquire)  # let a pass in its thread finish
        self._working.release()

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("%s; trying again in %g s", self.failure, self.tick_s)
