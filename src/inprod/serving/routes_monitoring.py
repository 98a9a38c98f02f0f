"""Monitors, alerts and metric time series under /api (reads: ``predict``; changes: ``operator``).

The same operations as ``inprod monitor``: a monitor created here is evaluated by the leader's
evaluator like one created on the command line, and every change is audited with the caller
(``token:<id>`` with auth on) as actor.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput
from ..monitoring import alerts, monitors, series
from ..monitoring.evaluator import evaluate
from ..monitoring.metrics import parse_metric
from ..rollout.plan import parse_duration
from .auth import actor_of

router = APIRouter(prefix="/api", tags=["monitoring"])

MAX_POINTS = 2000


class RuleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    above: float | None = Field(None, description="Fire when the metric is above this")
    below: float | None = Field(None, description="Fire when the metric is below this")
    change_from_reference: str | None = Field(None, description="e.g. '20%'")
    for_: str | None = Field(None, alias="for", description="How long it must hold: '10m'")
    window: str | None = Field(None, description="Span the metric is computed over: '5m'")
    min_samples: int | None = Field(None, ge=1)
    severity: str | None = Field(None, description="info, warning or critical")
    actions: list[str] | None = Field(
        None, description="webhook:URL, pause, rollback, retrain, review[:N]"
    )

    def rule(self) -> dict[str, Any]:
        given = {
            "above": self.above, "below": self.below, "change_pct": self.change_from_reference,
            "for_": self.for_, "window": self.window, "min_samples": self.min_samples,
        }  # fmt: skip
        return {k: v for k, v in given.items() if v is not None}


class NewMonitor(RuleFields):
    endpoint: str
    metric: str = Field(description="A metric name, e.g. input.brightness.mean")
    name: str | None = None
    role: str | None = Field(None, description="primary, canary, shadow or previous")
    reference: str | None = Field(None, description="dataset:NAME@V or window:START/END")
    function: str | None = Field(None, description="module:function of a custom.NAME metric")


class MonitorChange(RuleFields):
    enabled: bool | None = None
    reason: str = ""


class Ack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = ""


def _store(request: Request) -> Any:
    return request.app.state.inprod.store


@router.get("/monitors", summary="Every monitor with its state and last value")
async def list_monitors(request: Request, endpoint: str | None = Query(None)) -> list[dict]:
    found = await asyncio.to_thread(monitors.list_monitors, endpoint, store=_store(request))
    return [m.to_dict() for m in found]


@router.post("/monitors", status_code=201, summary="Create a monitor")
async def create_monitor(body: NewMonitor, request: Request) -> dict[str, Any]:
    rule = body.rule()
    for key in ("role", "reference", "function"):
        if getattr(body, key) is not None:
            rule[key] = getattr(body, key)
    m = await asyncio.to_thread(
        monitors.add, body.endpoint, body.metric, name=body.name,
        severity=body.severity or "warning", actions=body.actions or [],
        actor=actor_of(request), store=_store(request), **rule,
    )  # fmt: skip
    return m.to_dict()


@router.get("/monitors/{monitor_id}", summary="One monitor")
async def get_monitor(monitor_id: int, request: Request) -> dict[str, Any]:
    m = await asyncio.to_thread(monitors.get, monitor_id, store=_store(request))
    return m.to_dict()


@router.patch("/monitors/{monitor_id}", summary="Tune a monitor (audited with before/after)")
async def tune_monitor(monitor_id: int, body: MonitorChange, request: Request) -> dict[str, Any]:
    m = await asyncio.to_thread(
        monitors.tune, monitor_id, actor=actor_of(request), reason=body.reason,
        severity=body.severity, actions=body.actions, enabled=body.enabled,
        store=_store(request), **body.rule(),
    )  # fmt: skip
    return m.to_dict()


@router.delete("/monitors/{monitor_id}", summary="Remove a monitor and its alerts")
async def remove_monitor(monitor_id: int, request: Request) -> dict[str, Any]:
    m = await asyncio.to_thread(
        monitors.remove, monitor_id, actor=actor_of(request), store=_store(request)
    )
    return m.to_dict()


@router.get("/monitors/{monitor_id}/history", summary="Who created and tuned it, and why")
async def monitor_history(monitor_id: int, request: Request) -> list[dict[str, Any]]:
    return await asyncio.to_thread(monitors.history, monitor_id, store=_store(request))


@router.get("/alerts", summary="Alerts, latest first")
async def list_alerts(
    request: Request,
    endpoint: str | None = Query(None),
    state: str | None = Query(None, description="open, firing, acknowledged or resolved"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    found = await asyncio.to_thread(
        alerts.list_alerts, endpoint=endpoint, state=state, limit=limit, store=_store(request)
    )
    return [a.to_dict() for a in found]


@router.get("/alerts/{alert_id}", summary="One alert with its events and actions")
async def get_alert(alert_id: int, request: Request) -> dict[str, Any]:
    return await asyncio.to_thread(alerts.get, alert_id, store=_store(request))


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge an alert")
async def ack_alert(alert_id: int, body: Ack, request: Request) -> dict[str, Any]:
    a = await asyncio.to_thread(
        alerts.acknowledge, alert_id, actor=actor_of(request), note=body.note,
        store=_store(request),
    )  # fmt: skip
    return a.to_dict()


@router.post("/monitors/evaluate", summary="Evaluate every monitor now (what the leader does)")
async def evaluate_now(request: Request, endpoint: str | None = Query(None)) -> list[dict]:
    results = await asyncio.to_thread(evaluate, endpoint=endpoint, store=_store(request))
    return [r.to_dict() for r in results]


@router.get(
    "/endpoints/{name}/metrics/{metric}",
    summary="A metric as a time series: one point per step, from window profiles",
)
async def metric_series(
    name: str,
    metric: str,
    request: Request,
    since: str = Query("1h", description="How far back: '1h', '24h', '7d'"),
    step: str = Query("1m", description="Span of each point"),
    role: str = Query("primary"),
) -> dict[str, Any]:
    span_s = parse_duration(since, what="since")
    step_s = parse_duration(step, what="step")
    if step_s < 60 or span_s < step_s:
        raise InvalidInput("step must be 1m or more and no longer than since", field="step")
    if span_s / step_s > MAX_POINTS:
        raise InvalidInput(
            f"{span_s / step_s:.0f} points is more than {MAX_POINTS}; use a larger step",
            field="step",
        )
    now = datetime.now(UTC)
    end = datetime.fromtimestamp(int(now.timestamp()) // 60 * 60, tz=UTC)
    points = await asyncio.to_thread(
        _series, name, metric, end - timedelta(seconds=span_s), end, step_s, role,
        _store(request),
    )  # fmt: skip
    return {"endpoint": name, "metric": metric, "role": role, "step_s": step_s, "points": points}


def _series(
    endpoint: str, metric: str, start: datetime, end: datetime, step_s: float, role: str, store: Any
) -> list[dict[str, Any]]:
    from ..endpoints import get as get_endpoint

    spec = parse_metric(metric)
    get_endpoint(endpoint, store=store)  # 404 with a suggestion for a name that does not exist
    points = series.metric_series(endpoint, spec, start, end, step_s, role=role, store=store)
    return [{"start": t, "value": v} for t, v in points]
