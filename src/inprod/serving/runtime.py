"""What a server process holds: the loaded model versions and, per endpoint, how it serves now.

Each endpoint's deployment plan (inprod/rollout) says which versions serve it: the primary, a
candidate in a shadow or canary role, and the previous version kept loaded after a switch so a
rollback is instant. Plans and aliases are re-read from the store when a change is announced
(:mod:`.plan_watch`) and every few seconds. A version is loaded and health-checked on the
endpoint's latest logged inputs before it takes traffic; the swap is one dict update. Requests
in flight keep the version they started on: a version that leaves the plan is closed only once
its last request has been answered.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..endpoints import EndpointSettings, list_endpoints
from ..flavors import Predictor
from ..refs import parse_ref
from ..rollout.plan import Automation, DeploymentPlan
from ..store import Store
from .batching import MicroBatcher
from .metrics import ServerMetrics
from .periodic import Periodic

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 5.0
RETIRE_GRACE_S = 60.0  # longest wait for a retired version's last request before closing it
_HASH_SPACE = 1 << 64


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
    """One loaded model version and its batcher; ``inflight`` counts requests that hold it."""

    model_name: str
    version: int
    predictor: Predictor
    batcher: MicroBatcher
    inflight: int = 0

    @property
    def ref(self) -> str:
        return f"{self.model_name}@{self.version}"


@dataclass
class ServedEndpoint:
    name: str
    model_ref: str
    settings: EndpointSettings
    host: ModelHost | None = None  # the primary
    error: str | None = None  # why it cannot serve (model failed to load)
    metric_children: Any = None
    candidate: ModelHost | None = None
    candidate_role: str | None = None  # "shadow" | "canary"
    candidate_children: Any = None
    canary_weight: float = 0.0
    canary_cut: int = 0  # a request key whose 64-bit hash is below this goes to the canary
    shadow_rate: float = 1.0  # the share of requests copied to a shadow
    salt: bytes = b""
    automation: Automation = field(default_factory=Automation)
    previous: ModelHost | None = None
    state: str = "stable"
    revision: int = 0
    problems: list[str] = field(default_factory=list)  # a candidate that failed to load, ...


@dataclass
class _Wanted:
    """What the store says one endpoint should serve (resolved off the event loop)."""

    settings: EndpointSettings
    plan: DeploymentPlan
    primary: tuple[str, int] | None = None
    error: str | None = None
    candidate: tuple[str, int] | None = None
    previous: tuple[str, int] | None = None


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
    _retiring: set[asyncio.Task] = field(default_factory=set)
    refreshes: int = 0

    async def start(self) -> None:
        await self.refresh()
        self._periodic = Periodic(
            self.refresh,
            self.refresh_s,
            failure="refreshing endpoints from the store failed; keeping the current ones",
        )
        self._periodic.start()

    async def refresh(self) -> None:
        """Re-read endpoints, plans and aliases; load new versions, then swap them in."""
        async with self._lock:
            wanted = await asyncio.to_thread(self._resolve_all)
            loaded_before = len(self._loads)
            old = self.endpoints
            fresh: dict[str, ServedEndpoint] = {}
            for name, want in wanted.items():
                fresh[name] = await self._serve(name, want, old.get(name))
            self.endpoints = fresh
            self._retire_unused()
            self.refreshes += 1
            if len(self._loads) != loaded_before:
                freeze_heap()

    async def _serve(
        self, name: str, want: _Wanted, prior: ServedEndpoint | None
    ) -> ServedEndpoint:
        plan, settings = want.plan, want.settings
        served = ServedEndpoint(
            name, plan.primary_ref, settings, error=want.error, automation=plan.automation,
            state=plan.state, revision=plan.revision,
        )  # fmt: skip
        if want.primary is not None:
            try:
                served.host = await self._host(want.primary, settings, name)
            except Exception as exc:  # a model that fails to load must not stop the rest
                log.exception("endpoint %s: loading %s@%s failed", name, *want.primary)
                message = f"model {want.primary[0]}@{want.primary[1]} failed to load: {exc}"
                if prior is not None and prior.host is not None:
                    served.host = prior.host  # keep answering with the version that works
                    served.problems.append(f"{message}; still serving {prior.host.ref}")
                else:
                    served.error = message
        if served.host is not None:
            served.metric_children = self.metrics.for_version(name, served.host.ref)
        cand = plan.candidate
        if want.candidate is not None and cand is not None and served.host is not None:
            try:
                served.candidate = await self._host(want.candidate, settings, name)
            except Exception as exc:
                log.exception("endpoint %s: loading candidate %s failed", name, cand.ref)
                served.problems.append(f"candidate {cand.ref} failed to load: {exc}")
            else:
                served.candidate_role = cand.role
                served.candidate_children = self.metrics.for_version(name, cand.ref)
                served.shadow_rate = cand.sample_rate
                if cand.role == "canary":
                    served.canary_weight = cand.weight
                    served.canary_cut = min(int(cand.weight * _HASH_SPACE), _HASH_SPACE)
                    served.salt = cand.salt.encode()
        if want.previous is not None:
            try:
                served.previous = await self._host(want.previous, settings, name, check=False)
            except Exception:
                log.exception("endpoint %s: keeping %s@%s loaded failed", name, *want.previous)
        return served

    def _resolve_all(self) -> dict[str, _Wanted]:
        from ..errors import InprodError
        from ..registry import models
        from ..rollout.actions import list_plans

        plans = {p.endpoint: p for p in list_plans(store=self.store)}
        now = datetime.now(UTC)
        out: dict[str, _Wanted] = {}
        for info in list_endpoints(store=self.store):
            plan = plans.get(info.name) or DeploymentPlan(info.name, info.model_ref)
            want = _Wanted(info.settings, plan.with_(primary_ref=info.model_ref))
            try:
                version = models.get(info.model_ref, store=self.store)
                want.primary = (version.name, version.version)
            except InprodError as exc:
                want.error = exc.message
            cand = plan.candidate
            if cand is not None and cand.role in ("shadow", "canary"):
                want.candidate = (cand.model_name, cand.version)
            previous = plan.previous_live(now)
            if previous is not None:
                ref = parse_ref(previous.ref)
                if ref.version is not None and (ref.name, ref.version) != want.primary:
                    want.previous = (ref.name, ref.version)
            out[info.name] = want
        return out

    async def _host(
        self,
        resolved: tuple[str, int],
        settings: EndpointSettings,
        endpoint: str,
        *,
        check: bool = True,
    ) -> ModelHost:
        key = (resolved[0], resolved[1], settings.max_batch_size, settings.max_wait_ms)
        host = self._hosts.get(key)
        if host is not None:
            return host
        from ..registry import models

        ref = f"{resolved[0]}@{resolved[1]}"
        predictor = await asyncio.to_thread(models.load, ref, store=self.store)
        if check:
            await asyncio.to_thread(self._health_check, predictor, endpoint, ref)
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

    def _health_check(self, predictor: Predictor, endpoint: str, ref: str) -> None:
        """A version answers the endpoint's latest logged inputs before it takes traffic."""
        from ..rollout.warm import health_check, replayable, sample_inputs

        instances = sample_inputs(endpoint, store=self.store)
        if replayable(instances):
            health_check(predictor, instances, ref=ref)

    def _retire_unused(self) -> None:
        used = set()
        for e in self.endpoints.values():
            used.update(id(h) for h in (e.host, e.candidate, e.previous) if h is not None)
        for key, host in list(self._hosts.items()):
            if id(host) not in used:
                del self._hosts[key]
                task = asyncio.get_running_loop().create_task(self._retire(host))
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)

    async def _retire(self, host: ModelHost) -> None:
        """Close a version once its requests (and any queued shadow copies) are answered."""
        deadline = time.monotonic() + RETIRE_GRACE_S
        while (host.inflight or not host.batcher.idle) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(host.batcher.close)
        log.info("unloaded %s", host.ref)

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        for host in self._hosts.values():
            await asyncio.to_thread(host.batcher.close)
        self._hosts.clear()
