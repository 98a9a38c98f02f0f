"""Alerts: listing, acknowledging, and the history of one alert (its events and actions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound
from ..provenance import current_user
from ..store import Store, get_store
from ..store.tables import ActionRun, Alert, AlertEvent, Monitor, utcnow

STATES = ("firing", "acknowledged", "resolved")


@dataclass(frozen=True)
class AlertInfo:
    id: int
    monitor_id: int
    monitor: str
    endpoint: str
    severity: str
    state: str
    started_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    value: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("started_at", "resolved_at", "acknowledged_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def _info(row: Alert, monitor_name: str) -> AlertInfo:
    return AlertInfo(
        id=row.id, monitor_id=row.monitor_id, monitor=monitor_name, endpoint=row.endpoint,
        severity=row.severity, state=row.state, started_at=row.started_at,
        resolved_at=row.resolved_at, acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at, value=row.value, message=row.message,
    )  # fmt: skip


def list_alerts(
    *,
    endpoint: str | None = None,
    state: str | None = None,
    limit: int = 100,
    store: Store | None = None,
) -> list[AlertInfo]:
    """Latest first; ``state`` "open" means firing or acknowledged."""
    if state is not None and state not in (*STATES, "open"):
        raise InvalidInput(f"state {state!r} is not one of open, {', '.join(STATES)}")
    if limit < 1:
        raise InvalidInput("limit must be 1 or more")
    store = get_store(store)
    query = (
        select(Alert, Monitor.name)
        .join(Monitor, Monitor.id == Alert.monitor_id)
        .order_by(Alert.started_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    if endpoint is not None:
        query = query.where(Alert.endpoint == endpoint)
    if state == "open":
        query = query.where(Alert.state.in_(("firing", "acknowledged")))
    elif state is not None:
        query = query.where(Alert.state == state)
    with store.session(write=False) as s:
        return [_info(a, name) for a, name in s.execute(query)]


def get(alert_id: int, *, store: Store | None = None) -> dict[str, Any]:
    """The alert with its events (fired, acknowledged, resolved, each action attempt) and the
    state of each action."""
    store = get_store(store)
    with store.session(write=False) as s:
        row = s.get(Alert, alert_id)
        if row is None:
            raise NotFound(f"alert {alert_id} not found; list them with 'inprod monitor alerts'")
        monitor = s.get(Monitor, row.monitor_id)
        return {
            **_info(row, monitor.name if monitor else "").to_dict(),
            **histories(s, [alert_id])[alert_id],
        }


def histories(s: Session, alert_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each alert's ``details``, ``events`` and ``actions`` (as :func:`get` shows them), in three
    indexed reads however many alerts: a page of a hundred alerts read one by one took half a
    second on PostgreSQL."""
    ids = list(alert_ids)
    out: dict[int, dict[str, Any]] = {i: {"details": {}, "events": [], "actions": []} for i in ids}
    if not ids:
        return out
    for alert_id, details in s.execute(select(Alert.id, Alert.details).where(Alert.id.in_(ids))):
        out[alert_id]["details"] = details or {}
    for e in s.scalars(
        select(AlertEvent).where(AlertEvent.alert_id.in_(ids)).order_by(AlertEvent.id)
    ):
        out[e.alert_id]["events"].append(
            {"time": e.time.isoformat(), "kind": e.kind, "details": e.details}
        )
    for r in s.scalars(select(ActionRun).where(ActionRun.alert_id.in_(ids)).order_by(ActionRun.id)):
        out[r.alert_id]["actions"].append(
            {
                "action": r.action_key,
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "result": r.result,
            }
        )
    return out


def acknowledge(
    alert_id: int, *, actor: str | None = None, note: str = "", store: Store | None = None
) -> AlertInfo:
    """Someone is on it: the alert stays open until its rule stops holding, but is marked."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = s.get(Alert, alert_id, with_for_update=True)
        if row is None:
            raise NotFound(f"alert {alert_id} not found; list them with 'inprod monitor alerts'")
        if row.state == "resolved":
            raise Conflict(f"alert {alert_id} is already resolved; nothing to acknowledge")
        if row.state == "acknowledged":
            raise Conflict(f"alert {alert_id} was already acknowledged by {row.acknowledged_by}")
        now = utcnow()
        row.state, row.acknowledged_by, row.acknowledged_at = "acknowledged", actor, now
        s.add(
            AlertEvent(
                monitor_id=row.monitor_id, alert_id=row.id, time=now, kind="acknowledged",
                details={"by": actor, "note": note},
            )
        )  # fmt: skip
        monitor = s.get(Monitor, row.monitor_id)
        return _info(row, monitor.name if monitor else "")
