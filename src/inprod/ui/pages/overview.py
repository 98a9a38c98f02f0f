"""The overview: every endpoint at a glance over the last hour (its plan, traffic, latency,
errors, accuracy, firing alerts and degree of automation), refreshed every 10 s.

It reads at most the last hour of each endpoint's profiles (minute rows), one bounded accuracy
query per endpoint, and the firing alerts once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import NotFound
from ...monitoring.alerts import AlertInfo, list_alerts
from ...monitoring.sketches import NumericSketch
from ...registry import models
from ...rollout.actions import list_plans
from ...rollout.plan import Automation, DeploymentPlan, Previous
from ...store import Store
from ..render import off_loop, render
from ..series import (
    CLIENT_ROLES,
    accuracy,
    add_up,
    chart,
    parse_window,
    qps_values,
    read_buckets,
)
from ..session import viewer_of

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
MAX_ALERTS = 1000
REFRESH_S = 10


@dataclass(frozen=True)
class EndpointRow:
    """One endpoint's line: its plan and its last hour."""

    plan: DeploymentPlan
    primary_version: str | None  # what the primary reference resolves to now
    previous: Previous | None  # kept loaded for an instant rollback
    requests: int
    qps: float | None
    p99_ms: float | None
    error_rate: float | None
    accuracy: float | None
    labels: int
    alerts: int  # firing
    worst: str | None  # the firing alerts' highest severity
    spark: dict[str, Any]

    @property
    def name(self) -> str:
        return self.plan.endpoint

    @property
    def automation(self) -> str:
        return automation_text(self.plan.automation)


async def overview(request: Request) -> Response:
    viewer_of(request)
    rows = await off_loop(endpoint_rows, store=request.app.state.inprod.store)
    return render(request, "overview.html", rows=rows, refresh_s=REFRESH_S)


async def overview_table(request: Request) -> Response:
    """The table alone, for the page's refresh every :data:`REFRESH_S` seconds."""
    viewer_of(request)
    rows = await off_loop(endpoint_rows, store=request.app.state.inprod.store)
    return render(request, "_overview_table.html", rows=rows)


def endpoint_rows(*, store: Store, now: datetime | None = None) -> list[EndpointRow]:
    """Every endpoint, by name, over the last hour before ``now``."""
    now = now or datetime.now(UTC)
    window = parse_window({"window": "1h"}, now=now)
    firing: dict[str, list[AlertInfo]] = {}
    for alert in list_alerts(state="firing", limit=MAX_ALERTS, store=store):
        firing.setdefault(alert.endpoint, []).append(alert)
    rows = []
    for plan in list_plans(store=store):
        name = plan.endpoint
        buckets = read_buckets(name, window, store=store)
        client = [b for s, b in buckets.items() if s[2] in CLIENT_ROLES]
        profiles = [p for bucket_list in client for _, p in bucket_list if p is not None]
        requests = sum(p.requests for p in profiles)
        latency = NumericSketch()
        for p in profiles:
            latency.merge(p.latency_ms)
        counts, _ = accuracy(name, window, store=store)
        right = sum(r for s, steps in counts.items() if s[2] in CLIENT_ROLES for r, _ in steps)
        labels = sum(t for s, steps in counts.items() if s[2] in CLIENT_ROLES for _, t in steps)
        qps = add_up(qps_values(b, window) for b in client) if client else []
        alerts = firing.get(name, [])
        rows.append(
            EndpointRow(
                plan=plan,
                primary_version=_resolved(plan.primary_ref, store),
                previous=plan.previous_live(now),
                requests=requests,
                qps=requests / (window.end - window.start).total_seconds() if requests else None,
                p99_ms=latency.quantile(0.99),
                error_rate=sum(p.errors for p in profiles) / requests if requests else None,
                accuracy=right / labels if labels else None,
                labels=labels,
                alerts=len(alerts),
                worst=max(
                    (a.severity for a in alerts),
                    key=lambda s: SEVERITY_RANK.get(s, -1),
                    default=None,
                ),
                spark=chart(
                    window,
                    [("req/s", qps)],
                    spark=True,
                    height=36,
                    unit="req/s",
                    y_min=0,
                    empty="no requests in the last hour",
                ),
            )
        )
    return rows


def automation_text(automation: Automation) -> str:
    """``partial ≥ 0.9, audit 5%``: the degree of automation in a few words."""
    text = automation.mode
    if automation.mode == "partial" and automation.threshold is not None:
        text += f" ≥ {automation.threshold:.3g}"
    if automation.audit_rate:
        text += f", audit {automation.audit_rate:.0%}"
    return text


def _resolved(ref: str, store: Store) -> str | None:
    try:
        return models.get(ref, store=store).ref
    except NotFound:  # the alias was removed: the row still shows the plan
        return None


routes: list[BaseRoute] = [
    Route("/", overview, methods=["GET"]),
    Route("/overview/table", overview_table, methods=["GET"]),
]
