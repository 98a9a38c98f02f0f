"""Judging a canary step: do its gates hold over the step's window, and may it move on?

One pure decision used by the rollout controller (which acts on it) and by ``deploy status``
(which shows it), so what a person sees is what the controller will do.

Rules: nothing is judged before the step has seen ``min_requests`` canary answers. Then any gate
that fails rolls the canary back at once; when every gate passes and the step's ``interval``
is over, the canary advances. A gate that cannot be judged yet (too few labels for accuracy)
holds the step where it is. Relative gates compare with the primary ("champion") over the whole
rollout, which still has data when the canary's last step takes all traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidInput
from ..store import Store
from .gates import GateResult, GateWindow, gate_metrics, parse_gate, resolve_gate_metric
from .plan import DeploymentPlan


@dataclass(frozen=True)
class Judgement:
    """``action``: ``advance``, ``rollback``, ``wait`` or ``none`` (nothing is ramping)."""

    action: str
    reason: str
    requests: int = 0
    results: list[GateResult] = field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "requests": self.requests,
            "gates": [r.to_dict() for r in self.results],
            "window_start": self.window_start,
            "window_end": self.window_end,
        }


def judge(plan: DeploymentPlan, *, store: Store, now: datetime | None = None) -> Judgement:
    """What the controller would do with ``plan`` now."""
    from ..registry import models

    cand = plan.candidate
    if plan.state != "ramping" or cand is None or cand.role != "canary":
        return Judgement("none", f"endpoint {plan.endpoint!r} is {plan.state}; nothing to judge")
    now = now or datetime.now(UTC)
    step_start = datetime.fromisoformat(cand.step_started_at or plan.updated_at)
    rollout_start = datetime.fromisoformat(cand.started_at or cand.step_started_at or "")
    primary = models.get(plan.primary_ref, store=store)
    window = GateWindow(plan.endpoint, cand.model_name, cand.version, "canary", step_start, now)
    champion = GateWindow(
        plan.endpoint, primary.name, primary.version, "primary", rollout_start, now
    )
    metrics = gate_metrics()
    requests = int(metrics["requests"].compute(window, store).samples)
    span = {"window_start": step_start.isoformat(), "window_end": now.isoformat()}
    if requests < cand.min_requests:
        return Judgement(
            "wait",
            f"step {cand.step + 1} ({cand.weight:.0%}) has {requests} of "
            f"{cand.min_requests} canary requests needed to judge it",
            requests,
            **span,
        )
    results = [_judge_gate(text, window, champion, store, metrics) for text in cand.gates]
    failed = [r for r in results if r.status == "fail"]
    if failed:
        reason = "; ".join(
            f"gate {r.gate} failed: {_fmt(r.value)} against a limit of {_fmt(r.limit)}"
            for r in failed
        )
        return Judgement("rollback", reason, requests, results, **span)
    waiting = [r for r in results if r.status == "wait"]
    if waiting:
        reason = "; ".join(f"gate {r.gate} waits: {r.note}" for r in waiting)
        return Judgement("wait", reason, requests, results, **span)
    elapsed = (now - step_start).total_seconds()
    if elapsed < cand.interval_s:
        return Judgement(
            "wait",
            f"every gate holds; step {cand.step + 1} ends in {cand.interval_s - elapsed:.0f} s",
            requests,
            results,
            **span,
        )
    last = cand.step + 1 >= len(cand.steps)
    return Judgement(
        "advance",
        "every gate held; promoting"
        if last
        else f"every gate held; next step {cand.steps[cand.step + 1]:g}%",
        requests,
        results,
        **span,
    )


def _judge_gate(
    text: str, window: GateWindow, champion: GateWindow, store: Store, metrics: dict
) -> GateResult:
    try:
        gate = parse_gate(text)
    except InvalidInput as exc:  # a metric this process does not know (a plug-in not loaded)
        return GateResult(text, "wait", None, None, 0, exc.message)
    metric = metrics.get(gate.metric) or resolve_gate_metric(gate.metric)
    if metric is None:  # parse_gate resolved it a moment ago
        return GateResult(text, "wait", None, None, 0, f"unknown metric {gate.metric!r}")
    value = metric.compute(window, store)
    if value.value is None or value.samples < metric.min_samples:
        return GateResult(
            text, "wait", value.value, None, value.samples,
            f"{value.samples} of {metric.min_samples} observations",
        )  # fmt: skip
    champion_value = None
    if gate.relative is not None:
        ref = metric.compute(champion, store)
        if ref.value is None or ref.samples < metric.min_samples:
            return GateResult(
                text, "wait", value.value, None, value.samples,
                f"the champion has {ref.samples} of {metric.min_samples} observations",
            )  # fmt: skip
        champion_value = ref.value
    limit = gate.limit(champion_value)
    assert limit is not None
    status = "pass" if gate.holds(value.value, limit) else "fail"
    return GateResult(text, status, value.value, limit, value.samples)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
