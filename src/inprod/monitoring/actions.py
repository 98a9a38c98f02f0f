"""What an alert does: notify a webhook, pause or roll back the endpoint's rollout, open a
retraining request, or send a sample of recent answers to the review queue.

Each action of an alert is one ``action_runs`` row (unique per alert and action), created when
the alert fires, so a second evaluator pass, a restart or another replica never runs it twice.
Webhooks are retried with exponential backoff (``BACKOFF_S`` × 2^attempt, ``MAX_ATTEMPTS`` in
all) with a bounded timeout; every attempt is an alert event, so a failing receiver is visible
in ``inprod monitor alerts --id N``. Actions that cannot succeed by retrying (no canary to
pause) finish at once with what happened.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..errors import InprodError
from ..store import Store, get_store
from ..store.tables import (
    ActionRun,
    Alert,
    AlertEvent,
    Prediction,
    ReviewTask,
    utcnow,
)

log = logging.getLogger(__name__)

ACTOR = "monitor"
MAX_ATTEMPTS = 5
BACKOFF_S = 2.0
WEBHOOK_TIMEOUT_S = 5.0
REVIEW_LOOKBACK = timedelta(hours=1)


def run_due(*, now: datetime | None = None, store: Store | None = None) -> list[dict[str, Any]]:
    """Run every pending action whose time has come; returns what each attempt did."""
    store = get_store(store)
    now = now or datetime.now(UTC)
    with store.session(write=False) as s:
        due = list(
            s.scalars(
                select(ActionRun.id)
                .where(ActionRun.status == "pending", ActionRun.next_attempt_at <= now)
                .order_by(ActionRun.id)
            )
        )
    return [r for r in (_run_one(run_id, now, store) for run_id in due) if r is not None]


def _run_one(run_id: int, now: datetime, store: Store) -> dict[str, Any] | None:
    with store.session(write=False) as s:
        run = s.get(ActionRun, run_id)
        if run is None or run.status != "pending":
            return None
        alert = s.get(Alert, run.alert_id)
        if alert is None:
            return None
        action = dict(run.result.get("action") or {"kind": run.kind})
        context = {
            "alert_id": alert.id, "monitor_id": alert.monitor_id, "endpoint": alert.endpoint,
            "severity": alert.severity, "state": alert.state, "value": alert.value,
            "message": alert.message, "started_at": alert.started_at.isoformat(),
            "details": alert.details,
        }  # fmt: skip
        attempt = run.attempts + 1
    retry = False
    try:
        outcome = _perform(action, context, store, now)
        status, error = "done", None
    except _Retry as exc:
        outcome, error = {}, str(exc)
        retry = attempt < MAX_ATTEMPTS
        status = "pending" if retry else "failed"
    except InprodError as exc:
        outcome, error, status = {}, exc.message, "failed"
    except Exception as exc:
        log.exception("action %s of alert %s failed", action.get("kind"), context["alert_id"])
        outcome, error, status = {}, f"{type(exc).__name__}: {exc}", "failed"
    with store.session() as s:
        run = s.get(ActionRun, run_id, with_for_update=True)
        if run is None or run.status != "pending":
            return None  # someone else finished it meanwhile
        run.attempts = attempt
        run.status = status
        run.last_error = error
        run.result = {**run.result, "outcome": outcome}
        run.updated_at = utcnow()
        run.next_attempt_at = (
            now + timedelta(seconds=BACKOFF_S * 2 ** (attempt - 1) * (1 + 0.1 * random.random()))
            if retry
            else None
        )
        kind = "action.done" if status == "done" else "action.failed"
        details = {"action": run.action_key, "attempt": attempt, "error": error,
                   "outcome": outcome, "retrying": retry}  # fmt: skip
        s.add(AlertEvent(monitor_id=context["monitor_id"], alert_id=context["alert_id"],
                         time=now, kind=kind, details=details))  # fmt: skip
    return {"alert_id": context["alert_id"], **details, "status": status}


class _Retry(Exception):
    """A failure worth trying again (a webhook that timed out or answered 5xx)."""


def _perform(action: dict[str, Any], alert: dict[str, Any], store: Store, now: datetime) -> dict:
    kind = action["kind"]
    if kind == "webhook":
        return _webhook(action["url"], alert)
    if kind in ("pause", "rollback"):
        return _rollout(kind, alert, store)
    if kind == "retrain":
        return _retrain(alert, store)
    if kind == "review":
        return _review_sample(int(action.get("sample", 20)), alert, store, now)
    raise _Unknown(kind)


class _Unknown(InprodError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown action kind {kind!r}")


def _webhook(url: str, alert: dict[str, Any]) -> dict[str, Any]:
    import httpx

    body = {"event": "alert.fired", "alert": alert}
    try:
        response = httpx.post(url, json=body, timeout=WEBHOOK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise _Retry(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        raise InprodError(f"the webhook refused the alert: HTTP {response.status_code}: "
                          f"{response.text[:200]}")  # fmt: skip
    return {"http_status": response.status_code}


def _rollout(kind: str, alert: dict[str, Any], store: Store) -> dict[str, Any]:
    from ..rollout import actions

    endpoint = alert["endpoint"]
    plan = actions.get_plan(endpoint, store=store)
    reason = f"alert {alert['alert_id']}: {alert['message']}"
    if kind == "pause":
        if plan.state != "ramping":
            return {"skipped": f"endpoint {endpoint!r} is {plan.state}, not ramping a canary"}
        new = actions.pause(endpoint, reason=reason, actor=ACTOR, store=store)
    else:
        if plan.candidate is None and plan.state not in ("promoted",):
            return {"skipped": f"endpoint {endpoint!r} has no candidate or previous version to "
                    "roll back to"}  # fmt: skip
        new = actions.rollback(endpoint, reason=reason, actor=ACTOR, store=store)
    return {"plan_state": new.state, "revision": new.revision}


def _retrain(alert: dict[str, Any], store: Store) -> dict[str, Any]:
    """A retraining request for the alert (one however often it asks); on an endpoint with a
    retraining policy, that policy's request — joining its live one if there is one."""
    from ..retraining import requests

    request = requests.open_request(
        alert["endpoint"], trigger=f"alert:{alert['alert_id']}", reason=alert["message"],
        alert_id=alert["alert_id"], details={"alert": alert}, actor=ACTOR, store=store,
    )  # fmt: skip
    return {"retraining_request": request.id}


def _review_sample(n: int, alert: dict[str, Any], store: Store, now: datetime) -> dict[str, Any]:
    """The ``n`` latest logged answers of the endpoint (with inputs, not already queued) become
    review tasks (reason ``monitor``), so people label what the model sees now."""
    from ..review import queue

    with store.session(write=False) as s:
        queued = select(ReviewTask.prediction_id).where(ReviewTask.endpoint == alert["endpoint"])
        rows = s.scalars(
            select(Prediction)
            .where(
                Prediction.endpoint == alert["endpoint"],
                Prediction.role == "primary",
                Prediction.status == "ok",
                Prediction.inputs.is_not(None),
                Prediction.time >= now - REVIEW_LOOKBACK,
                Prediction.time <= now,
                Prediction.id.not_in(queued),
            )
            .order_by(Prediction.time.desc())
            .limit(n)
        ).all()
    for p in rows:
        queue.add_task(
            p.id, endpoint=p.endpoint, model_name=p.model_name, model_version=p.model_version,
            reason="monitor", inputs=p.inputs, outputs=p.outputs, confidence=p.confidence,
            store=store,
        )  # fmt: skip
    return {"review_tasks": len(rows)}
