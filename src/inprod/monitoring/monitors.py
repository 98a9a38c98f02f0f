"""Monitors: a rule on one metric of one endpoint, kept in the store and evaluated by the leader.

A rule fires when the metric, computed over the last ``window`` of traffic, is ``--above`` or
``--below`` a threshold (both: outside the band), or moved more than ``--change-from-reference``
percent from the same metric on the reference; and only once that has held for ``--for``. Every
change to a monitor (created, tuned, enabled, removed) is an audit event, so a threshold nobody
remembers changing can be traced. Rules that could never fire or always fire are refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..errors import Conflict, InvalidInput, NotFound, suggest
from ..provenance import current_user
from ..rollout.plan import parse_duration
from ..store import Store, get_store
from ..store.audit import subject_events
from ..store.tables import AuditEvent, Endpoint, Monitor, utcnow
from .metrics import MetricSpec, parse_metric

SEVERITIES = ("info", "warning", "critical")
ACTION_KINDS = ("webhook", "pause", "rollback", "retrain", "review")
DEFAULT_WINDOW_S = 300.0
MIN_WINDOW_S = 5.0
DEFAULT_REVIEW_SAMPLE = 20
MAX_REVIEW_SAMPLE = 1000
SUBJECT_PREFIX = "monitor:"
# metrics that are fractions: a threshold outside [0, 1] can never be crossed
_FRACTION_STATS = ("error_rate", "missing", "out_of_schema", "share", "null", "needs_review")
_FRACTION_STATS += ("accuracy", "precision", "recall", "calibration", "event", "auc")


@dataclass(frozen=True)
class Rule:
    """When a monitor fires. ``change_pct`` compares with the reference's value of the metric."""

    above: float | None = None
    below: float | None = None
    change_pct: float | None = None
    for_s: float = 0.0
    window_s: float = DEFAULT_WINDOW_S
    min_samples: int | None = None  # None: the metric's own minimum (30 labels for accuracy)
    role: str = "primary"
    reference: str | None = None  # None: the endpoint's training data, where one is needed
    function: str | None = None  # module:function of a custom metric

    def breached(self, value: float, reference: float | None) -> bool:
        """Whether ``value`` breaks the rule (``reference`` needed only for change rules)."""
        if self.change_pct is not None:
            if reference is None:
                return False
            if reference == 0:
                return value != 0
            return abs(value - reference) / abs(reference) * 100.0 > self.change_pct
        if self.above is not None and value > self.above:
            return True
        return self.below is not None and value < self.below

    def describe(self) -> str:
        if self.change_pct is not None:
            cond = f"changes > {self.change_pct:g}% from the reference"
        elif self.above is not None and self.below is not None:
            cond = f"outside [{self.below:g}, {self.above:g}]"
        elif self.above is not None:
            cond = f"> {self.above:g}"
        else:
            cond = f"< {self.below:g}"
        held = f" for {_fmt_s(self.for_s)}" if self.for_s else ""
        return f"{cond}{held} (over {_fmt_s(self.window_s)}, {self.role})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class MonitorInfo:
    id: int
    endpoint: str
    name: str
    metric: str
    rule: Rule
    severity: str
    actions: list[dict[str, Any]]
    enabled: bool
    source: str
    state: str
    state_since: datetime | None
    last_value: float | None
    last_evaluated_at: datetime | None
    last_error: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    summary: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rule"] = self.rule.to_dict()
        for key in ("state_since", "last_evaluated_at", "created_at", "updated_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def info(row: Monitor) -> MonitorInfo:
    rule = Rule.from_dict(row.rule)
    return MonitorInfo(
        id=row.id, endpoint=row.endpoint, name=row.name, metric=row.metric, rule=rule,
        severity=row.severity, actions=list(row.actions or []), enabled=row.enabled,
        source=row.source, state=row.state, state_since=row.state_since,
        last_value=row.last_value, last_evaluated_at=row.last_evaluated_at,
        last_error=row.last_error, created_by=row.created_by, created_at=row.created_at,
        updated_at=row.updated_at, summary=f"{row.metric} {rule.describe()}",
    )  # fmt: skip


def make_rule(
    metric: str,
    *,
    above: float | None = None,
    below: float | None = None,
    change_pct: float | str | None = None,
    for_: str | float = 0,
    window: str | float | None = None,
    min_samples: int | None = None,
    role: str = "primary",
    reference: str | None = None,
    function: str | None = None,
) -> tuple[MetricSpec, Rule]:
    """Check a rule for ``metric``; InvalidInput says what to change."""
    spec = parse_metric(metric)
    pct = _percent(change_pct)
    given = [x for x in (above, below) if x is not None]
    if pct is None and not given:
        raise InvalidInput(
            f"monitor on {metric!r} has no threshold; give --above, --below (or both, for a "
            "band) or --change-from-reference PCT",
            field="rule",
        )
    if pct is not None and given:
        raise InvalidInput(
            "give either --above/--below or --change-from-reference, not both", field="rule"
        )
    for value in given:
        if not math.isfinite(value):
            raise InvalidInput(f"threshold {value!r} must be a finite number", field="rule")
    if above is not None and below is not None and below >= above:
        raise InvalidInput(
            f"--below {below:g} and --above {above:g} leave no value that is fine (the band "
            "fires outside [below, above]); make below smaller than above",
            field="rule",
        )
    _check_possible(spec, above, below)
    for_s = parse_duration(for_, what="for")
    window_s = DEFAULT_WINDOW_S if window is None else parse_duration(window, what="window")
    if window_s < MIN_WINDOW_S:
        raise InvalidInput(
            f"window {_fmt_s(window_s)} is too short; give --window {MIN_WINDOW_S:g}s or more "
            "(and at least the servers' profile window, 1m by default)",
            field="window",
        )
    if min_samples is not None and min_samples < 1:
        raise InvalidInput("--min-samples must be 1 or more", field="min_samples")
    if role not in ("primary", "canary", "shadow", "previous"):
        raise InvalidInput(
            f"role {role!r} is not one of primary, canary, shadow, previous", field="role"
        )
    if spec.family == "custom" and function is not None and ":" not in function:
        raise InvalidInput(f"--function {function!r} must be module:function", field="function")
    if function is not None and spec.family != "custom":
        raise InvalidInput("--function is only for custom.NAME metrics", field="function")
    if reference is not None:
        _check_reference(reference)
    return spec, Rule(
        above=above, below=below, change_pct=pct, for_s=for_s, window_s=window_s,
        min_samples=min_samples, role=role, reference=reference, function=function,
    )  # fmt: skip


def _percent(value: float | str | None) -> float | None:
    if value is None:
        return None
    text = str(value).strip().rstrip("%")
    try:
        pct = float(text)
    except ValueError:
        raise InvalidInput(
            f"--change-from-reference {value!r} must be a percentage like 20%", field="rule"
        ) from None
    if not math.isfinite(pct) or pct <= 0:
        raise InvalidInput(f"--change-from-reference {value!r} must be more than 0%", field="rule")
    return pct


def _check_possible(spec: MetricSpec, above: float | None, below: float | None) -> None:
    """Refuse thresholds the metric can never cross (a rate above 1, a latency below 0)."""
    stat = spec.stat or ""
    fraction = stat in _FRACTION_STATS or spec.name == "drift.share"
    low, high = (0.0, 1.0) if fraction else (0.0, math.inf)
    if spec.family == "drift" and stat in ("psi", "wasserstein"):
        high = math.inf
    if spec.family in ("custom",) or (spec.family == "output" and spec.feature == "value"):
        return  # any real number
    if spec.family == "input" and stat in ("mean", "min", "max", *_QUANTILE_NAMES):
        return
    if above is not None and above >= high:
        raise InvalidInput(
            f"{spec.name} can never be above {above:g} (it is at most {high:g}); this monitor "
            "would never fire",
            field="rule",
        )
    if below is not None and below <= low:
        raise InvalidInput(
            f"{spec.name} can never be below {below:g} (it is at least {low:g}); this monitor "
            "would never fire",
            field="rule",
        )


_QUANTILE_NAMES = ("p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99")


def _check_reference(reference: str) -> None:
    kind, _, rest = reference.partition(":")
    if kind not in ("dataset", "window") or not rest:
        raise InvalidInput(
            f"reference {reference!r} must be dataset:NAME@VERSION or window:START/END (ISO times)",
            field="reference",
        )


def parse_action(text: str) -> dict[str, Any]:
    """``webhook:URL``, ``pause``, ``rollback``, ``retrain`` or ``review[:N]`` as stored."""
    kind, _, arg = text.strip().partition(":")
    if kind not in ACTION_KINDS:
        raise InvalidInput(
            f"action {text!r} is not one of webhook:URL, pause, rollback, retrain, review[:N]",
            field="actions",
        )
    if kind == "webhook":
        if not arg.startswith(("http://", "https://")):
            raise InvalidInput(
                f"action {text!r}: a webhook needs an http(s) URL, e.g. "
                "webhook:https://hooks.example.com/inprod",
                field="actions",
            )
        return {"kind": kind, "url": arg}
    if kind == "review":
        try:
            n = int(arg) if arg else DEFAULT_REVIEW_SAMPLE
        except ValueError:
            raise InvalidInput(
                f"action {text!r}: N must be a whole number", field="actions"
            ) from None
        if not 1 <= n <= MAX_REVIEW_SAMPLE:
            raise InvalidInput(
                f"action {text!r}: N must be 1 to {MAX_REVIEW_SAMPLE}", field="actions"
            )
        return {"kind": kind, "sample": n}
    if arg:
        raise InvalidInput(f"action {text!r}: {kind} takes no argument", field="actions")
    return {"kind": kind}


def action_text(action: dict[str, Any]) -> str:
    kind = action["kind"]
    if kind == "webhook":
        return f"webhook:{action['url']}"
    if kind == "review":
        return f"review:{action['sample']}"
    return kind


def _check_endpoint(s: Any, endpoint: str) -> None:
    """An endpoint, or a pipeline's function stage (``PIPELINE/STAGE``, logged like one)."""
    from .pipelines import is_function_stage

    if s.scalar(select(Endpoint.id).where(Endpoint.name == endpoint)) is None and not (
        is_function_stage(s, endpoint)
    ):
        names = s.scalars(select(Endpoint.name)).all()
        raise NotFound(
            f"endpoint {endpoint!r} not found; {suggest(endpoint, names, what='endpoints')}"
        )


def add(
    endpoint: str,
    metric: str,
    *,
    name: str | None = None,
    severity: str = "warning",
    actions: list[str] | None = None,
    source: str = "user",
    actor: str | None = None,
    store: Store | None = None,
    **rule: Any,
) -> MonitorInfo:
    """Create a monitor (``rule`` takes :func:`make_rule`'s keywords)."""
    spec, parsed = make_rule(metric, **rule)
    if severity not in SEVERITIES:
        raise InvalidInput(
            f"severity {severity!r} is not one of {', '.join(SEVERITIES)}", field="severity"
        )
    stored_actions = [parse_action(a) for a in actions or []]
    name = (name or f"{spec.name} {parsed.describe().split(' (')[0]}").strip()
    if not name or len(name) > 200:
        raise InvalidInput("monitor name must be 1 to 200 characters", field="name")
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        _check_endpoint(s, endpoint)
        clash = s.scalar(
            select(Monitor.id).where(Monitor.endpoint == endpoint, Monitor.name == name)
        )
        if clash is not None:
            raise Conflict(
                f"endpoint {endpoint!r} already has a monitor named {name!r} (id {clash}); "
                "give another --name, or change it with 'inprod monitor tune'"
            )
        now = utcnow()
        row = Monitor(
            endpoint=endpoint, name=name, metric=spec.name, rule=parsed.to_dict(),
            severity=severity, actions=stored_actions, enabled=True, source=source,
            state="no_data", created_by=actor, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(row)
        s.flush()
        _audit(s, actor, "monitor.created", row, {"rule": parsed.to_dict(), "metric": spec.name})
        return info(row)


def get(ref: int | str, *, endpoint: str | None = None, store: Store | None = None) -> MonitorInfo:
    store = get_store(store)
    with store.session(write=False) as s:
        return info(_find(s, ref, endpoint))


def _find(s: Any, ref: int | str, endpoint: str | None) -> Monitor:
    """By id, or by name (within ``endpoint`` when names repeat across endpoints)."""
    row = None
    if isinstance(ref, int) or str(ref).isdigit():
        row = s.get(Monitor, int(ref))
    else:
        query = select(Monitor).where(Monitor.name == str(ref))
        if endpoint is not None:
            query = query.where(Monitor.endpoint == endpoint)
        rows = s.scalars(query).all()
        if len(rows) > 1:
            raise InvalidInput(
                f"{len(rows)} monitors are named {ref!r}; give the endpoint or the id "
                f"({', '.join(str(r.id) for r in rows)})"
            )
        row = rows[0] if rows else None
    if row is None or (endpoint is not None and row.endpoint != endpoint):
        names = s.scalars(select(Monitor.name)).all()
        raise NotFound(f"monitor {ref!r} not found; {suggest(str(ref), names, what='monitors')}")
    return row


def list_monitors(endpoint: str | None = None, *, store: Store | None = None) -> list[MonitorInfo]:
    store = get_store(store)
    with store.session(write=False) as s:
        query = select(Monitor).order_by(Monitor.endpoint, Monitor.id)
        if endpoint is not None:
            query = query.where(Monitor.endpoint == endpoint)
        return [info(r) for r in s.scalars(query)]


def tune(
    ref: int | str,
    *,
    endpoint: str | None = None,
    actor: str | None = None,
    reason: str = "",
    severity: str | None = None,
    actions: list[str] | None = None,
    enabled: bool | None = None,
    store: Store | None = None,
    **changes: Any,
) -> MonitorInfo:
    """Change a monitor's rule, severity, actions or enabled flag; audited with before/after.

    ``changes`` are :func:`make_rule` keywords; the ones not given keep their values."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = _find(s, ref, endpoint)
        before = {"rule": dict(row.rule), "severity": row.severity, "actions": list(row.actions),
                  "enabled": row.enabled}  # fmt: skip
        if changes:
            current = Rule.from_dict(row.rule)
            merged = {
                "above": current.above, "below": current.below, "change_pct": current.change_pct,
                "for_": current.for_s, "window": current.window_s,
                "min_samples": current.min_samples, "role": current.role,
                "reference": current.reference, "function": current.function,
            }  # fmt: skip
            if {"above", "below"} & changes.keys() or "change_pct" in changes:
                merged.update(above=None, below=None, change_pct=None)  # a new threshold form
            merged.update(changes)
            _, parsed = make_rule(row.metric, **merged)
            row.rule = parsed.to_dict()
        if severity is not None:
            if severity not in SEVERITIES:
                raise InvalidInput(
                    f"severity {severity!r} is not one of {', '.join(SEVERITIES)}",
                    field="severity",
                )
            row.severity = severity
        if actions is not None:
            row.actions = [parse_action(a) for a in actions]
        if enabled is not None:
            row.enabled = enabled
        after = {"rule": dict(row.rule), "severity": row.severity, "actions": list(row.actions),
                 "enabled": row.enabled}  # fmt: skip
        if after == before:
            raise InvalidInput("nothing to change: give a new threshold, severity, actions, "
                               "--enable or --disable")  # fmt: skip
        row.updated_at = utcnow()
        _audit(s, actor, "monitor.tuned", row, {"before": before, "after": after,
                                                "reason": reason})  # fmt: skip
        return info(row)


def remove(
    ref: int | str,
    *,
    endpoint: str | None = None,
    actor: str | None = None,
    store: Store | None = None,
) -> MonitorInfo:
    """Delete a monitor with its alerts and their history (the audit event keeps its rule)."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = _find(s, ref, endpoint)
        gone = info(row)
        _audit(s, actor, "monitor.removed", row, {"rule": dict(row.rule), "metric": row.metric})
        from ..store.tables import ActionRun, Alert, AlertEvent

        alert_ids = s.scalars(select(Alert.id).where(Alert.monitor_id == row.id)).all()
        if alert_ids:
            for table in (ActionRun,):
                for r in s.scalars(select(table).where(table.alert_id.in_(alert_ids))):
                    s.delete(r)
        for r in s.scalars(select(AlertEvent).where(AlertEvent.monitor_id == row.id)):
            s.delete(r)
        for r in s.scalars(select(Alert).where(Alert.monitor_id == row.id)):
            s.delete(r)
        s.delete(row)
        return gone


def history(
    ref: int | str, *, endpoint: str | None = None, store: Store | None = None
) -> list[dict[str, Any]]:
    """Audit events of one monitor: created, tuned (before/after), removed."""
    store = get_store(store)
    with store.session(write=False) as s:
        row = _find(s, ref, endpoint)
        return subject_events(s, f"{SUBJECT_PREFIX}{row.id}")


def _audit(s: Any, actor: str, kind: str, row: Monitor, details: dict[str, Any]) -> None:
    s.add(
        AuditEvent(
            time=utcnow(), actor=actor, kind=kind, subject=f"{SUBJECT_PREFIX}{row.id}",
            details={"endpoint": row.endpoint, "name": row.name, **details},
        )
    )  # fmt: skip


# -- defaults from the project's scoping metrics -------------------------------------------------
_SCOPING = {
    "accuracy": "accuracy",
    "latency_p99_ms": "latency.p99",
    "latency_p99": "latency.p99",
    "latency_p95_ms": "latency.p95",
    "latency_p50_ms": "latency.p50",
    "p99_latency_ms": "latency.p99",
    "error_rate": "error_rate",
    "qps": "qps",
    "throughput": "qps",
}


def scoping_defaults(
    endpoint: str, project: str, *, actor: str | None = None, store: Store | None = None
) -> list[MonitorInfo]:
    """A monitor per key metric of ``project`` that monitoring can measure: the metric must
    keep its target (``accuracy>=0.95`` → accuracy below 0.95 fires; ``qps>=1000`` → traffic
    above the scoped 1000 QPS fires, a load the service was not sized for). Idempotent: a
    target that already has its monitor is skipped."""
    from ..projects import get as get_project

    store = get_store(store)
    created = []
    existing = {m.name for m in list_monitors(endpoint, store=store)}
    for target in get_project(project, store=store).metrics:
        metric = _SCOPING.get(target.name, target.name)
        try:
            parse_metric(metric)
        except InvalidInput:
            continue  # a business metric monitoring cannot see
        name = f"scoping: {target}"
        if name in existing:
            continue
        if metric == "qps":
            threshold = {"above": target.target}
        elif target.op in (">=", ">"):
            threshold = {"below": target.target}
        elif target.op in ("<=", "<"):
            threshold = {"above": target.target}
        else:
            continue
        window = "1h" if metric == "accuracy" else "5m"
        created.append(
            add(
                endpoint,
                metric,
                name=name,
                source="scoping",
                actor=actor,
                store=store,
                window=window,
                **threshold,
            )
        )
    return created


def _fmt_s(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
