"""Adaptive micro-batching: concurrent requests to one model version share one model call.

Why adaptive: with ``max_wait_ms=0`` a lone request goes to the model at once (no added latency);
requests that arrive while the model is busy wait for its next call and go together, up to
``max_batch_size`` rows. A positive ``max_wait_ms`` additionally holds a partial batch that long
for more rows. Batches count rows, not requests (an incoming batch of 10 counts 10), and never
exceed ``max_batch_size``: a larger request is cut into pieces that run in consecutive calls and
are put back together in order, so every caller gets exactly its own rows back.

Model calls run on one worker thread per model version, off the event loop, so a slow model never
stalls other endpoints and calls to one model never overlap.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..flavors import PredictionBatch

BatchObserver = Callable[[int], None]


@dataclass(slots=True)
class _Item:
    inputs: Any
    rows: int
    future: asyncio.Future


def concat_inputs(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts, axis=0)


def slice_inputs(inputs: Any, start: int, stop: int) -> Any:
    return inputs.iloc[start:stop] if hasattr(inputs, "iloc") else inputs[start:stop]


def _cut(values: Any, start: int, stop: int) -> Any:
    return None if values is None else values[start:stop]


def split_result(result: PredictionBatch, sizes: list[int]) -> list[PredictionBatch]:
    out, start = [], 0
    for n in sizes:
        stop = start + n
        out.append(
            PredictionBatch(
                outputs=result.outputs[start:stop],
                probabilities=_cut(result.probabilities, start, stop),
                classes=result.classes,
                confidence=_cut(result.confidence, start, stop),
            )
        )
        start = stop
    return out


def _join(values: list[Any]) -> Any:
    if values[0] is None:
        return None
    if isinstance(values[0], np.ndarray):
        return np.concatenate(values, axis=0)
    return [v for part in values for v in part]


def merge_results(parts: list[PredictionBatch]) -> PredictionBatch:
    if len(parts) == 1:
        return parts[0]
    return PredictionBatch(
        outputs=_join([p.outputs for p in parts]),
        probabilities=_join([p.probabilities for p in parts]),
        classes=parts[0].classes,
        confidence=_join([p.confidence for p in parts]),
    )


class MicroBatcher:
    """Groups ``submit`` calls into model calls; see the module docstring for the rules."""

    def __init__(
        self,
        predict: Callable[[Any], PredictionBatch],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 0.0,
        name: str = "model",
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{name}")
        self._pending: deque[_Item] = deque()
        self._pending_rows = 0
        self._running = False
        self._on_batch = on_batch
        self._arrived: asyncio.Event | None = None
        self._drain_task: asyncio.Task | None = None

    @property
    def queue_depth(self) -> int:
        """Rows waiting for a model call (not counting the call in progress)."""
        return self._pending_rows

    async def submit(self, inputs: Any, rows: int) -> PredictionBatch:
        """Predict ``rows`` instances; returns exactly their results, in order."""
        if rows <= self.max_batch_size:
            return await self._enqueue(inputs, rows)
        step = self.max_batch_size
        parts = [
            self._enqueue(slice_inputs(inputs, a, min(a + step, rows)), min(step, rows - a))
            for a in range(0, rows, step)
        ]
        return merge_results(list(await asyncio.gather(*parts)))

    def _enqueue(self, inputs: Any, rows: int) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append(_Item(inputs, rows, future))
        self._pending_rows += rows
        if self._arrived is not None:
            self._arrived.set()
        if not self._running:
            self._running = True
            self._drain_task = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                if self.max_wait_s > 0 and self._pending_rows < self.max_batch_size:
                    await self._wait_for_more()
                items = self._take()
                inputs = concat_inputs([i.inputs for i in items])
                if self._on_batch is not None:
                    self._on_batch(sum(i.rows for i in items))
                try:
                    result = await loop.run_in_executor(self._executor, self._predict, inputs)
                except Exception as exc:  # the model raised: every caller in the batch hears it
                    for item in items:
                        if not item.future.done():
                            item.future.set_exception(exc)
                    continue
                if len(items) == 1:
                    if not items[0].future.done():
                        items[0].future.set_result(result)
                    continue
                for item, part in zip(
                    items, split_result(result, [i.rows for i in items]), strict=True
                ):
                    if not item.future.done():  # a caller that timed out is gone
                        item.future.set_result(part)
        finally:
            self._running = False

    async def _wait_for_more(self) -> None:
        deadline = time.monotonic() + self.max_wait_s
        self._arrived = asyncio.Event()
        try:
            while self._pending_rows < self.max_batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    return
        finally:
            self._arrived = None

    def _take(self) -> list[_Item]:
        items: list[_Item] = []
        rows = 0
        while self._pending and rows + self._pending[0].rows <= self.max_batch_size:
            item = self._pending.popleft()
            rows += item.rows
            items.append(item)
        self._pending_rows -= rows
        return items

    @property
    def idle(self) -> bool:
        """Nothing queued and no model call running."""
        return not self._running and not self._pending

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
