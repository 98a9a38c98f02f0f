"""What a server process holds: the loaded model versions and, per endpoint, which one serves.

Loading happens off the event loop. Endpoints and aliases are re-read from the store every few
seconds (and at once after a change made through this server's API), so moving
``phone-inspector@champion`` takes effect on every replica without a restart. A version is loaded
before it takes traffic; the old one keeps serving until the swap, and the swap is one dict update.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field
from typing import Any

from ..endpoints import EndpointSettings, list_endpoints
from ..flavors import Predictor
from ..store import Store
from .batching import MicroBatcher
from .metrics import ServerMetrics
from .periodic import Periodic

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 5.0


def freeze_heap() -> None:
    """Move everything alive now (models, libraries) out of the garbage collector's sight.

    Why: a loaded server holds ~10^5 long-lived objects; every full collection walked them all,
    ~150 ms with the GIL held, which was most of the p99 under load (benchmarks/serving). Unfreeze
    first, so that cycles left by a model that was swapped out can still be collected once.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass
class ModelHost:
    """One loaded model version and its batcher."""

    model_name: str
    version: int
    predictor: Predictor
    batcher: MicroBatcher

    @property
    def ref(self) -> str:
        return f"{self.model_name}@{self.version}"


@dataclass
class ServedEndpoint:
    name: str
    model_ref: str
    settings: EndpointSettings
    host: ModelHost | None = None
    error: str | None = None  # why it cannot serve (model failed to load)
    metric_children: Any = None


@dataclass
class ServingRuntime:
    store: Store
    metrics: ServerMetrics
    refresh_s: float = DEFAULT_REFRESH_S
    endpoints: dict[str, ServedEndpoint] = field(default_factory=dict)
    _hosts: dict[tuple[str, int, int, float], ModelHost] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _periodic: Periodic | None = None
    _loads: list[str] = field(default_factory=list)

    async def start(self) -> None:
        await self.refresh()
        self._periodic = Periodic(
            self.refresh,
            self.refresh_s,
            failure="refreshing endpoints from the store failed; keeping the current ones",
        )
        self._periodic.start()

    async def refresh(self) -> None:
        """Re-read endpoints and aliases; load new versions, then swap them in."""
        async with self._lock:
            wanted = await asyncio.to_thread(self._resolve_all)
            loaded_before = len(self._loads)
            fresh: dict[str, ServedEndpoint] = {}
            for info, resolved, error in wanted:
                served = ServedEndpoint(info.name, info.model_ref, info.settings, error=error)
                if resolved is not None:
                    try:
                        served.host = await self._host(resolved, info.settings)
                    except Exception as exc:  # a model that fails to load must not stop the rest
                        log.exception("endpoint %s: loading %s failed", info.name, resolved)
                        served.error = f"model {resolved[0]}@{resolved[1]} failed to load: {exc}"
                if served.host is not None:
                    served.metric_children = self.metrics.for_version(info.name, served.host.ref)
                fresh[info.name] = served
            self.endpoints = fresh
            self._close_unused()
            if len(self._loads) != loaded_before:
                freeze_heap()

    def _resolve_all(self) -> list[tuple[Any, tuple[str, int] | None, str | None]]:
        from ..errors import InprodError
        from ..registry import models

        out = []
        for info in list_endpoints(store=self.store):
            try:
                version = models.get(info.model_ref, store=self.store)
                out.append((info, (version.name, version.version), None))
            except InprodError as exc:
                out.append((info, None, exc.message))
        return out

    async def _host(self, resolved: tuple[str, int], settings: EndpointSettings) -> ModelHost:
        key = (resolved[0], resolved[1], settings.max_batch_size, settings.max_wait_ms)
        host = self._hosts.get(key)
        if host is not None:
            return host
        from ..registry import models

        ref = f"{resolved[0]}@{resolved[1]}"
        predictor = await asyncio.to_thread(models.load, ref, store=self.store)
        batcher = MicroBatcher(
            predictor.predict,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            name=ref,
            on_batch=self.metrics.batch_observer(ref),
        )
        self.metrics.watch_queue(ref, lambda: batcher.queue_depth)
        host = ModelHost(resolved[0], resolved[1], predictor, batcher)
        self._hosts[key] = host
        self._loads.append(host.ref)
        log.info("loaded %s (%s)", ref, predictor.flavor)
        return host

    def _close_unused(self) -> None:
        used = {id(e.host) for e in self.endpoints.values() if e.host is not None}
        for key, host in list(self._hosts.items()):
            if id(host) not in used:
                del self._hosts[key]
                host.batcher.close()

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
        for host in self._hosts.values():
            await asyncio.to_thread(host.batcher.close)
        self._hosts.clear()
