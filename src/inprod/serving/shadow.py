"""Shadow copies: the candidate answers a copy of each request after the client has its answer.

The copy starts from the response's background hook, which runs once the body is sent, so it
never adds to the client's latency, and nothing it does (raising, timing out) reaches the
client. Its answers are logged with role ``shadow`` and ``primary_id`` pointing at the primary's
prediction, which is how agreement and accuracy on feedback are compared later; where the two
disagree a review task is opened (the endpoint's automation may turn that off). At most
``max_in_flight`` copies run at once; beyond that copies are skipped and counted
(``inprod_shadow_skipped_total``), so a slow shadow can never pile up work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codec import response_rows
from .records import log_predictions, new_id, open_review
from .tap import PredictionLog, now

if TYPE_CHECKING:
    from .metrics import ServerMetrics
    from .runtime import ModelHost, ServedEndpoint

log = logging.getLogger(__name__)

DEFAULT_MAX_IN_FLIGHT = 256


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
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.tap = tap
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task] = set()

    async def kick(self, copy: ShadowCopy) -> None:
        """Start the shadow call (the response is sent by now) and return at once."""
        if len(self._tasks) >= self.max_in_flight:
            self.metrics.shadow_skipped.labels(copy.served.name).inc()
            return
        copy.host.inflight += 1  # keeps the version loaded until the copy is answered
        task = asyncio.get_running_loop().create_task(self._run(copy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, copy: ShadowCopy) -> None:
        served, host, instances = copy.served, copy.host, copy.instances
        started = time.perf_counter()
        rows: list[dict] | None = None
        error_id = None
        try:
            async with asyncio.timeout(served.settings.timeout_ms / 1000.0):
                result = await host.batcher.submit(copy.batch, len(instances))
            rows = response_rows(result)
        except Exception as exc:  # the shadow's failure is logged and counted, never raised
            error_id = new_id()
            log.warning(
                "shadow %s on %s failed (error id %s): %s: %s",
                host.ref, served.name, error_id, type(exc).__name__, exc,
            )  # fmt: skip
        finally:
            host.inflight -= 1
        elapsed_ms = 1000.0 * (time.perf_counter() - started)
        when = now()
        self.metrics.shadow_requests.labels(served.name, "ok" if rows else "error").inc()
        log_predictions(
            self.tap, served, host, "shadow", instances, rows,
            ids=[new_id() for _ in instances], when=when, latency_ms=elapsed_ms,
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
                    reason="disagreement",
                    instance=instances[i], row={**theirs, "shadow": mine}, when=when,
                )  # fmt: skip

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Let running copies finish (bounded), so their answers reach the log before it closes."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
