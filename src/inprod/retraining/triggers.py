"""When a policy asks for retraining: its triggers, and :func:`check`, which evaluates them.

    alert:MONITOR          an open (firing or acknowledged) alert of that monitor of the endpoint
                           that this policy has not seen yet
    new-labels:N           N labelled predictions of the endpoint (feedback with a label, review
                           decisions) since the policy's last request (all of them before one)
    schedule:PERIOD        hourly, daily, weekly or every:DURATION (every:6h) since the last
                           scheduled run (since the policy was made, at first); skipped, and the
                           clock moves on, while fewer than the policy's min_labels new labels
                           exist: a model retrained on the same data would be the same model

Each check of a policy runs in one transaction with the policy's row locked: the triggers that
fire open a request (or join the live one, :func:`.requests.open_in`) and their marks move in
``RetrainingPolicy.marks`` — the newest alert seen, the labels counted so far and the feedback
id they were counted to, the last scheduled time — so a trigger fires once. Labels are counted,
never loaded, and each check counts only the feedback that arrived since the last one. Opening
a request starts the count afresh, whatever opened it: new labels count from the last request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from ..errors import InprodError, InvalidInput
from ..rollout.plan import parse_duration
from ..store import Store, get_store
from ..store.tables import (
    Alert,
    Feedback,
    Monitor,
    Prediction,
    RetrainingPolicy,
    RetrainingRequest,
)
from . import requests
from .requests import RequestInfo

log = logging.getLogger(__name__)

ACTOR = "retraining"
KINDS = ("alert", "new-labels", "schedule")
SCHEDULES = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0}
MIN_PERIOD_S = 60.0
DEFAULT_MIN_LABELS = 1
# a label may arrive before its prediction is stored (the server logs in the background, about
# a second later): the count waits this long for the prediction before passing the label by
LABEL_WAIT_S = 30.0
_FORMS = "alert:MONITOR, new-labels:N or schedule:hourly|daily|weekly|every:DURATION"


@dataclass(frozen=True)
class Trigger:
    """One parsed trigger; ``text`` is how it is written and stored."""

    kind: str
    text: str
    monitor: str | None = None  # alert
    labels: int | None = None  # new-labels
    period_s: float | None = None  # schedule


def parse_trigger(text: str) -> Trigger:
    """``alert:brightness-drift``, ``new-labels:500``, ``schedule:weekly`` or
    ``schedule:every:6h``; InvalidInput names the forms."""
    if not isinstance(text, str):
        raise InvalidInput(f"trigger {text!r} is not one of {_FORMS}", field="triggers")
    kind, _, arg = text.strip().partition(":")
    arg = arg.strip()
    if kind not in KINDS or not arg:
        raise InvalidInput(f"trigger {text!r} is not one of {_FORMS}", field="triggers")
    canonical = f"{kind}:{arg}"
    if kind == "alert":
        return Trigger(kind, canonical, monitor=arg)
    if kind == "new-labels":
        if not arg.isdigit() or int(arg) < 1:
            raise InvalidInput(
                f"trigger {text!r}: N must be a whole number of labels, 1 or more "
                "(e.g. new-labels:500)",
                field="triggers",
            )
        return Trigger(kind, f"new-labels:{int(arg)}", labels=int(arg))
    if arg in SCHEDULES:
        return Trigger(kind, canonical, period_s=SCHEDULES[arg])
    every, _, span = arg.partition(":")
    if every != "every" or not span:
        raise InvalidInput(
            f"trigger {text!r}: the schedule is hourly, daily, weekly or every:DURATION "
            "(e.g. schedule:every:6h)",
            field="triggers",
        )
    period_s = parse_duration(span, what="schedule")
    if period_s < MIN_PERIOD_S:
        raise InvalidInput(
            f"trigger {text!r}: retraining more often than every {MIN_PERIOD_S:g}s makes no "
            "sense; give a longer period",
            field="triggers",
        )
    return Trigger(kind, canonical, period_s=period_s)


def parse_triggers(texts: list[str]) -> list[Trigger]:
    """Parse a policy's triggers: each once, at most one new-labels and one schedule."""
    parsed = [parse_trigger(t) for t in texts]
    seen: dict[str, str] = {}
    for t in parsed:
        key = t.text if t.kind == "alert" else t.kind
        if key in seen:
            raise InvalidInput(
                f"triggers {seen[key]!r} and {t.text!r}: give at most one {key} trigger"
                if t.kind != "alert"
                else f"trigger {t.text!r} is given twice",
                field="triggers",
            )
        seen[key] = t.text
    return parsed


def find_monitor(s: Session, endpoint: str, name: str) -> Monitor | None:
    """The endpoint's monitor called ``name`` (or with that id)."""
    query = select(Monitor).where(Monitor.endpoint == endpoint)
    if name.isdigit():
        by_id = s.scalar(query.where(Monitor.id == int(name)))
        if by_id is not None:
            return by_id
    return s.scalar(query.where(Monitor.name == name))


# -- checking -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Fired:
    trigger: str
    reason: str
    alert_id: int | None = None


def check(now: datetime | None = None, *, store: Store | None = None) -> list[RequestInfo]:
    """Evaluate every enabled policy's triggers; returns the requests opened or joined.

    A policy that cannot be checked (its monitor was removed, the store hiccuped) is logged
    and skipped; the others still are."""
    store = get_store(store)
    now = now or datetime.now(UTC)
    with store.session(write=False) as s:
        ids = list(
            s.scalars(
                select(RetrainingPolicy.id)
                .where(RetrainingPolicy.enabled.is_(True))
                .order_by(RetrainingPolicy.id)
            )
        )
    touched: dict[int, RequestInfo] = {}
    for policy_id in ids:
        try:
            for row in _check_policy(policy_id, now, store):
                touched[row.id] = row
        except InprodError as exc:
            log.warning("retraining policy %s: triggers not checked: %s", policy_id, exc.message)
    return list(touched.values())


def _check_policy(policy_id: int, now: datetime, store: Store) -> list[RequestInfo]:
    with store.session() as s:
        policy = s.get(RetrainingPolicy, policy_id, with_for_update=True)
        if policy is None or not policy.enabled:
            return []
        marks = dict(policy.marks or {})
        parsed = [parse_trigger(t) for t in policy.triggers or []]
        labels = _count_labels(s, policy.endpoint, marks, now) if _counts_labels(parsed) else 0
        fired: list[_Fired] = []
        for trigger in parsed:
            if trigger.kind == "alert":
                got = _alert(s, policy, trigger, marks)
            elif trigger.kind == "new-labels":
                got = _new_labels(trigger, labels, marks)
            else:
                got = _schedule(policy, trigger, labels, marks, now)
            if got is not None:
                fired.append(got)
        opened: dict[int, RetrainingRequest] = {}
        for f in fired:
            row, new = requests.open_in(
                s, policy.endpoint, trigger=f.trigger, reason=f.reason, actor=ACTOR,
                policy_id=policy.id, alert_id=f.alert_id,
            )  # fmt: skip
            opened[row.id] = row
            if new:  # open_in started the labels count afresh: keep that
                marks["new-labels"] = policy.marks["new-labels"]
        if marks != (policy.marks or {}):
            policy.marks = marks
        return [requests.info(r) for r in opened.values()]


def _alert(s: Session, policy: RetrainingPolicy, t: Trigger, marks: dict) -> _Fired | None:
    assert t.monitor is not None
    monitor = find_monitor(s, policy.endpoint, t.monitor)
    if monitor is None:
        log.warning("retraining policy of %s: no monitor %r any more; trigger %s cannot fire",
                    policy.endpoint, t.monitor, t.text)  # fmt: skip
        return None
    seen = (marks.get(t.text) or {}).get("alert_id", 0)
    newest = s.scalar(
        select(Alert)
        .where(Alert.monitor_id == monitor.id, Alert.state != "resolved", Alert.id > seen)
        .order_by(Alert.id.desc())
        .limit(1)
    )
    if newest is None:
        return None
    marks[t.text] = {"alert_id": newest.id}
    reason = f"alert {newest.id} of monitor {monitor.name!r}: {newest.message}".rstrip(": ")
    return _Fired(t.text, reason, newest.id)


def _counts_labels(parsed: list[Trigger]) -> bool:
    return any(t.kind in ("new-labels", "schedule") for t in parsed)


def _count_labels(s: Session, endpoint: str, marks: dict, now: datetime) -> int:
    """Labelled predictions of ``endpoint`` since the policy's last request, counted on from
    the mark (``feedback_id`` seen, ``count`` so far), so a check reads only new feedback. The
    mark stops before a recent label whose prediction is not stored yet (:data:`LABEL_WAIT_S`),
    so that label is counted at a later check instead of being passed by."""
    mark = marks.get("new-labels") or {}
    seen, count = int(mark.get("feedback_id", 0)), int(mark.get("count", 0))
    newest = s.scalar(select(func.max(Feedback.id))) or 0
    stored = exists().where(Prediction.id == Feedback.prediction_id)
    waiting = s.scalar(
        select(func.min(Feedback.id)).where(
            Feedback.id > seen,
            Feedback.label.is_not(None),
            Feedback.time > now - timedelta(seconds=LABEL_WAIT_S),
            ~stored,
        )
    )
    if waiting is not None:
        newest = min(newest, waiting - 1)
    if newest > seen:
        count += count_labels(s, endpoint, after=seen, upto=newest)
        marks["new-labels"] = {"feedback_id": newest, "count": count}
    return count


def count_labels(s: Session, endpoint: str, *, after: int, upto: int) -> int:
    """Predictions of ``endpoint`` labelled by feedback with ``after < id <= upto``: one
    aggregate query driven by the feedback id range (each row checked by the prediction's
    key), so its cost follows the new feedback, not the endpoint's history."""
    mine = exists().where(Prediction.id == Feedback.prediction_id, Prediction.endpoint == endpoint)
    count = s.scalar(
        select(func.count(func.distinct(Feedback.prediction_id))).where(
            Feedback.id > after, Feedback.id <= upto, Feedback.label.is_not(None), mine
        )
    )
    return int(count or 0)


def _new_labels(t: Trigger, labels: int, marks: dict) -> _Fired | None:
    assert t.labels is not None
    if labels < t.labels:
        return None
    marks["new-labels"] = {**marks["new-labels"], "count": 0}
    return _Fired(t.text, f"{labels} new labels since the last request (at least {t.labels})")


def _schedule(
    policy: RetrainingPolicy, t: Trigger, labels: int, marks: dict, now: datetime
) -> _Fired | None:
    assert t.period_s is not None
    last_text = (marks.get("schedule") or {}).get("at")
    last = datetime.fromisoformat(last_text) if last_text else policy.created_at
    if now < last + timedelta(seconds=t.period_s):
        return None
    need = int((policy.settings or {}).get("min_labels", DEFAULT_MIN_LABELS))
    if labels < need:
        marks["schedule"] = {"at": now.isoformat(), "skipped": f"{labels} new labels, need {need}"}
        return None
    marks["schedule"] = {"at": now.isoformat()}
    every = t.text.removeprefix("schedule:")
    return _Fired(t.text, f"scheduled ({every}); the last was at {last:%Y-%m-%d %H:%M} UTC")
