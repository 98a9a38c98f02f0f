"""Shadow copies: the candidate answers a copy of each request after the client has its answer.

The copy is queued from the response's background hook, which runs once the body is sent, so it
never adds to the client's own latency, and nothing it does (raising, timing out) reaches the
client. Copies are answered in batches: the worker waits ``wait_s`` (20 ms) for more copies,
then calls the shadow model once per version for all of them. Why: a copy answered alone costs
its own model call, thread hop and task, ~380 µs of CPU that a busy server takes from the next
primary request; batched, the primary's p50 at 1 client went from 1.44x to about 1x the
shadow-off figure (benchmarks/rollout/README.md).

Answers are logged with role ``shadow`` and ``primary_id`` pointing at the primary's prediction,
which is how agreement and accuracy on feedback are compared later; a shadow's ``latency_ms`` is
its batch's model call. Where the two disagree a review task is opened (the endpoint's
automation may turn that off). At most ``max_queued_rows`` wait; beyond that copies are skipped
and counted (``inprod_shadow_skipped_total``), so a slow shadow can never pile up work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .batching import concat_inputs, split_result
from .codec import response_rows
from .records import log_predictions, new_id, open_review
from .tap import PredictionLog, now

if TYPE_CHECKING:
    from .metrics import ServerMetrics
    from .runtime import ModelHost, ServedEndpoint

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 0.02
DEFAULT_MAX_QUEUED_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class ShadowCopy:
    """One request as the primary saw it, to be answered again by the shadow ``host``."""

    served: ServedEndpoint
    primary: ModelHost
    host: ModelHost
    batch: Any
    instances: list[Any]
    primary_ids: list[str]
    primary_rows: list[dict]
    request_key: str | None
    trace_id: str | None


class ShadowRunner:
    def __init__(
        self,
        tap: PredictionLog,
        metrics: ServerMetrics,
        *,
        wait_s: float = DEFAULT_WAIT_S,
        max_queued_rows: int = DEFAULT_MAX_QUEUED_ROWS,
    ) -> None:
        self.tap = tap
        self.metrics = metrics
        self.wait_s = wait_s
        self.max_queued_rows = max_queued_rows
        self._queue: deque[ShadowCopy] = deque()
        self._queued_rows = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._closing = False

    async def kick(self, copy: ShadowCopy) -> None:
        """Queue the copy (the response is sent by now) and return at once."""
        rows = len(copy.instances)
        if self._queued_rows + rows > self.max_queued_rows:
            self.metrics.shadow_skipped.labels(copy.served.name).inc()
            return
        copy.host.inflight += 1  # keeps the version loaded until the copy is answered
        self._queue.append(copy)
        self._queued_rows += rows
        if self._worker is None:
            self._wake = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._work())
        assert self._wake is not None
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await asyncio.sleep(self.wait_s)  # let the copies of concurrent requests gather
            await self._drain()
            if self._closing:
                return

    async def _drain(self) -> None:
        """Answer everything queued, one model call per shadow version; copies that arrive
        meanwhile go in the next round without waiting again."""
        while self._queue:
            copies = list(self._queue)
            self._queue.clear()
            self._queued_rows = 0
            by_host: dict[int, list[ShadowCopy]] = {}
            for copy in copies:
                by_host.setdefault(id(copy.host), []).append(copy)
            await asyncio.gather(*(self._answer(group) for group in by_host.values()))

    async def _answer(self, group: list[ShadowCopy]) -> None:
        host = group[0].host
        sizes = [len(c.instances) for c in group]
        timeout_s = max(c.served.settings.timeout_ms for c in group) / 1000.0
        started = time.perf_counter()
        parts = None
        error_id = None
        try:
            async with asyncio.timeout(timeout_s):
                batch = concat_inputs([c.batch for c in group])
                result = await host.batcher.submit(batch, sum(sizes))
            parts = split_result(result, sizes)
        except Exception as exc:  # a shadow's failure is logged and counted, never raised
            error_id = new_id()
            log.warning(
                "shadow %s failed on %d copies (error id %s): %s: %s",
                host.ref, len(group), error_id, type(exc).__name__, exc,
            )  # fmt: skip
        finally:
            host.inflight -= len(group)
        elapsed_ms = 1000.0 * (time.perf_counter() - started)
        when = now()
        for i, copy in enumerate(group):
            rows = None if parts is None else response_rows(parts[i])
            self._record(copy, rows, error_id, elapsed_ms, when)

    def _record(
        self,
        copy: ShadowCopy,
        rows: list[dict] | None,
        error_id: str | None,
        elapsed_ms: float,
        when: Any,
    ) -> None:
        served = copy.served
        self.metrics.shadow_outcome(served.name, rows is not None).inc()
        log_predictions(
            self.tap, served, copy.host, "shadow", copy.instances, rows,
            ids=[new_id() for _ in copy.instances], when=when, latency_ms=elapsed_ms,
            request_key=copy.request_key, trace_id=copy.trace_id,
            status="ok" if rows is not None else "error", error_id=error_id,
            primary_ids=copy.primary_ids,
        )  # fmt: skip
        if rows is None or not served.automation.review_disagreements:
            return
        for i, (mine, theirs) in enumerate(zip(rows, copy.primary_rows, strict=True)):
            if str(mine.get("output")) != str(theirs.get("output")):
                open_review(
                    self.tap, served, copy.primary, prediction_id=copy.primary_ids[i],
                    reason="disagreement", instance=copy.instances[i],
                    row={**theirs, "shadow": mine}, when=when,
                )  # fmt: skip

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Answer the copies still queued (bounded), so they reach the log before it closes."""
        if self._worker is None or self._wake is None:
            return
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
        except TimeoutError:
            self._worker.cancel()
            log.warning("%d shadow copies were not answered before shutdown", len(self._queue))
