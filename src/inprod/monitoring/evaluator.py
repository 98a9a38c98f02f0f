"""The monitor evaluator: computes every monitor's metric, moves its state, opens and resolves
alerts, and queues the alert's actions.

States: ``ok``; ``pending`` (the rule holds, not yet for ``--for``); ``firing`` (an alert is
open); ``no_data`` (too few observations to judge: an empty window never fires and never
resolves an open alert); ``error`` (the metric could not be computed, e.g. a custom function
raised; the message is kept on the monitor and in its history, and other monitors go on).

Profile metrics are judged over whole profile windows: a pass at ``now`` covers the windows
that closed before ``now − GRACE_S`` (the writer stores a window a few seconds after it
closes), so a half-written minute never reads as a drop in traffic. ``now`` may be any time,
which is how ``inprod monitor run --from --to`` replays a stretch of history.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..errors import InprodError
from ..store import Store, get_store
from ..store.tables import ActionRun, Alert, AlertEvent, Monitor, utcnow
from .metrics import MetricSpec, Span, compute, parse_metric, profile_metric
from .monitors import Rule, action_text

log = logging.getLogger(__name__)

PROFILE_WINDOW_S = 60
GRACE_S = 8.0  # the writers store a window 5 s after it closes (windows.GRACE_S)
OPEN_STATES = ("firing", "acknowledged")


@dataclass(frozen=True)
class Evaluation:
    """What one pass found for one monitor; ``change`` names a transition (fired, resolved,
    pending, no_data, error, ok) or is None when the state stayed."""

    monitor_id: int
    endpoint: str
    name: str
    metric: str
    at: datetime
    value: float | None
    samples: int
    reference_value: float | None
    state: str
    change: str | None
    alert_id: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out


def judged_until(now: datetime, spec: MetricSpec, profile_s: int = PROFILE_WINDOW_S) -> datetime:
    """The end of the span judged at ``now``: the last closed profile window (``profile_s``
    long, the servers' profile_seconds) for profile metrics, ``now`` itself for feedback
    metrics (read from the log)."""
    if spec.family == "feedback":
        return now
    moment = now - timedelta(seconds=GRACE_S)
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % max(1, profile_s), tz=UTC)


def evaluate(
    *,
    now: datetime | None = None,
    endpoint: str | None = None,
    profile_s: int = PROFILE_WINDOW_S,
    store: Store | None = None,
) -> list[Evaluation]:
    """One pass over every enabled monitor (of ``endpoint``, or all); one monitor's failure is
    recorded against it and never stops the others. ``profile_s``: the profile window length
    the servers write (settings.profile_seconds)."""
    store = get_store(store)
    now = now or datetime.now(UTC)
    cache: dict[Any, Any] = {"profile_s": profile_s}
    with store.session(write=False) as s:
        query = select(Monitor.id).where(Monitor.enabled.is_(True)).order_by(Monitor.id)
        if endpoint is not None:
            query = query.where(Monitor.endpoint == endpoint)
        ids = list(s.scalars(query))
    results = []
    for monitor_id in ids:
        try:
            result = _evaluate_one(monitor_id, now, store, cache)
        except Exception:  # the store itself failing: log, go on with the next one
            log.exception("evaluating monitor %s failed", monitor_id)
            continue
        if result is not None:
            results.append(result)
    return results


def _measure(
    row: Monitor, rule: Rule, spec: MetricSpec, now: datetime, store: Store, cache: dict
) -> tuple[float | None, int, float | None]:
    until = judged_until(now, spec, cache.get("profile_s", PROFILE_WINDOW_S))
    span = Span(row.endpoint, until - timedelta(seconds=rule.window_s), until, rule.role)
    needs_reference = (
        spec.family == "drift" and spec.feature != "multivariate"
    ) or rule.change_pct is not None
    reference = _reference_profile(row.endpoint, rule, store, cache) if needs_reference else None
    value = compute(spec, span, store=store, reference=reference, reference_name=rule.reference,
                    function=rule.function, cache=cache)  # fmt: skip
    ref_value = None
    if rule.change_pct is not None and value.value is not None:
        ref_value = _reference_value(row.endpoint, spec, rule, reference, store, cache)
    return value.value, value.samples, ref_value


def _reference_profile(endpoint: str, rule: Rule, store: Store, cache: dict) -> Any:
    key = ("reference", endpoint, rule.reference)
    if key not in cache:
        from .reference import reference_profile

        cache[key] = reference_profile(endpoint, reference=rule.reference, store=store)[1]
    return cache[key]


def _reference_value(
    endpoint: str, spec: MetricSpec, rule: Rule, reference: Any, store: Store, cache: dict
) -> float | None:
    """The metric on the reference: the reference profile's value for profile metrics; for
    feedback metrics the reference window's value, else the value registered on the served
    model version (e.g. its test accuracy)."""
    if spec.family in ("software", "input", "output"):
        return profile_metric(spec, reference).value
    if spec.family == "feedback" and rule.reference and rule.reference.startswith("window:"):
        since, until = _window_bounds(rule.reference)
        return compute(spec, Span(endpoint, since, until, rule.role), store=store).value
    if spec.family == "feedback":
        from .. import models
        from ..rollout.actions import get_plan

        version = models.get(get_plan(endpoint, store=store).primary_ref, store=store)
        value = (version.metrics or {}).get(spec.name)
        return float(value) if isinstance(value, int | float) else None
    return None


def _window_bounds(reference: str) -> tuple[datetime, datetime]:
    start, _, end = reference.partition(":")[2].partition("/")
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def _evaluate_one(monitor_id: int, now: datetime, store: Store, cache: dict) -> Evaluation | None:
    with store.session(write=False) as s:
        row = s.get(Monitor, monitor_id)
        if row is None or not row.enabled:
            return None
        rule = Rule.from_dict(row.rule)
        spec = parse_metric(row.metric)
        snapshot = (row.endpoint, rule, spec)
    error = None
    value = ref_value = None
    samples = 0
    try:
        value, samples, ref_value = _measure(row, rule, spec, now, store, cache)
    except InprodError as exc:
        error = exc.message
    except Exception as exc:  # a custom metric function's own bug
        error = f"{type(exc).__name__}: {exc}"
    _, rule, spec = snapshot
    with store.session() as s:
        row = s.get(Monitor, monitor_id, with_for_update=True)
        if row is None:
            return None
        return _transition(s, row, rule, spec, now, value, samples, ref_value, error)


def _transition(
    s: Any,
    row: Monitor,
    rule: Rule,
    spec: MetricSpec,
    now: datetime,
    value: float | None,
    samples: int,
    ref_value: float | None,
    error: str | None,
) -> Evaluation:
    previous = row.state
    open_alert = s.scalar(
        select(Alert).where(Alert.monitor_id == row.id, Alert.state.in_(OPEN_STATES))
    )
    minimum = rule.min_samples or spec.min_samples
    change = None
    alert_id = open_alert.id if open_alert is not None else None
    details = {"value": value, "samples": samples, "reference_value": ref_value}
    if error is not None:
        state = "error"
        if previous != "error" or row.last_error != error:
            _event(s, row, alert_id, now, "error", {"error": error})
            change = "error"
        row.last_error = error
    elif value is None or samples < minimum:
        state = "no_data"
        if previous != "no_data":
            _event(s, row, alert_id, now, "no_data", {**details, "needed": minimum})
            change = "no_data"
    elif rule.breached(value, ref_value):
        since = row.state_since if previous in ("pending", "firing") else now
        if open_alert is not None:
            state = "firing"
        elif (now - (since or now)).total_seconds() >= rule.for_s:
            alert = _fire(s, row, rule, now, value, ref_value, since or now)
            alert_id, state, change = alert.id, "firing", "fired"
        else:
            state = "pending"
            if previous != "pending":
                change = "pending"
        if previous not in ("pending", "firing"):
            row.state_since = now
    else:
        state = "ok"
        if open_alert is not None:
            open_alert.state = "resolved"
            open_alert.resolved_at = now
            _event(s, row, open_alert.id, now, "resolved", details)
            change = "resolved"
        elif previous != "ok":
            change = "ok"
    if state != previous and state not in ("pending", "firing"):
        row.state_since = now
    if state != "error":
        row.last_error = None
    row.state = state
    row.last_value = value
    row.last_evaluated_at = now
    return Evaluation(
        row.id, row.endpoint, row.name, row.metric, now, value, samples, ref_value, state,
        change, alert_id, error,
    )  # fmt: skip


def _fire(
    s: Any,
    row: Monitor,
    rule: Rule,
    now: datetime,
    value: float,
    ref_value: float | None,
    since: datetime,
) -> Alert:
    message = f"{row.endpoint}: {row.metric} = {value:.4g}, rule {rule.describe()}"
    if ref_value is not None:
        message += f" (reference {ref_value:.4g})"
    alert = Alert(
        monitor_id=row.id, endpoint=row.endpoint, severity=row.severity, state="firing",
        started_at=now, value=value, message=message,
        details={"metric": row.metric, "rule": dict(row.rule), "reference_value": ref_value,
                 "breached_since": since.isoformat(), "monitor": row.name},
    )  # fmt: skip
    s.add(alert)
    s.flush()
    _event(s, row, alert.id, now, "fired", {"value": value, "message": message})
    for action in row.actions or []:
        s.add(
            ActionRun(
                alert_id=alert.id, action_key=action_text(action), kind=action["kind"],
                status="pending", attempts=0, next_attempt_at=now, result={"action": action},
                created_at=utcnow(), updated_at=utcnow(),
            )
        )  # fmt: skip
    return alert


def _event(
    s: Any, row: Monitor, alert_id: int | None, now: datetime, kind: str, details: dict
) -> None:
    s.add(AlertEvent(monitor_id=row.id, alert_id=alert_id, time=now, kind=kind, details=details))
