"""The human review queue: predictions waiting for a person, claimed with a lease, decided once.

Tasks arrive from the server's log writer (low confidence under partial automation, shadow /
primary disagreement, a random audit sample, every request under ``human``) or from
:func:`add_task`. A reviewer claims the oldest available task with :func:`next_task`; the claim
is a lease (``review_lease_seconds``, 300 s by default) so that a reviewer who walks away does not
hold a task forever, and two reviewers never get the same task. :func:`decide` commits the
decision, a :class:`~inprod.store.tables.Feedback` label on the prediction and an
:class:`~inprod.store.tables.Annotation` in one transaction before it returns: a decision the
reviewer saw acknowledged is never lost.

Stored status is ``open``, ``claimed`` or ``decided``; a claim whose lease ran out is stored as
``claimed`` but reads as ``open`` everywhere here, because anyone may take it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound, Unprocessable, suggest
from ..store import Store, get_store
from ..store.tables import Annotation, Feedback, utcnow
from ..store.tables import ReviewTask as TaskRow
from ._checks import (
    ID_RE,
    check_endpoint,
    check_label,
    check_note,
    check_prediction_id,
    check_reason,
    check_reviewer,
    lease_seconds,
    same,
)
from ._checks import REASONS as REASONS

STATUSES = ("open", "claimed", "decided")
DATASET_QUEUE_PREFIX = "dataset:"  # the queue of a dataset's examples: "dataset:NAME"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_NEXT_HINT = "take it again with 'inprod review next'"


@dataclass(frozen=True)
class ReviewTask:
    """A prediction waiting for (or given) a human decision.

    ``status`` is what the task is now: a claim whose lease has run out reads ``open``.
    """

    id: str
    prediction_id: str
    endpoint: str
    model_name: str
    model_version: int
    reason: str
    status: str
    inputs: Any
    outputs: Any
    confidence: float | None
    created_at: datetime
    claimed_by: str | None
    lease_until: datetime | None
    decision: Any
    decided_by: str | None
    decided_at: datetime | None

    @property
    def model(self) -> str:
        return f"{self.model_name}@{self.model_version}"

    @property
    def answer(self) -> Any:
        """The model's answer (``outputs["output"]``), or None when the model was not asked."""
        return self.outputs.get("output") if isinstance(self.outputs, dict) else None

    @property
    def agrees(self) -> bool | None:
        """Whether the decision equals the model's answer (as text); None when either is missing."""
        if self.decision is None or self.answer is None:
            return None
        return same(self.decision, self.answer)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prediction_id": self.prediction_id,
            "endpoint": self.endpoint,
            "model": self.model,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "reason": self.reason,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "answer": self.answer,
            "confidence": self.confidence,
            "created_at": self.created_at.isoformat(),
            "claimed_by": self.claimed_by,
            "lease_until": _iso(self.lease_until),
            "decision": self.decision,
            "decided_by": self.decided_by,
            "decided_at": _iso(self.decided_at),
            "agrees": self.agrees,
        }


@dataclass(frozen=True)
class ReviewerStats:
    """One reviewer's decisions and how often they agreed with the model's answer."""

    reviewer: str
    decided: int
    compared: int  # decisions on tasks where the model gave an answer
    agreed: int

    @property
    def agreement(self) -> float | None:
        """Share of compared decisions equal to the model's answer; None when none compared."""
        return self.agreed / self.compared if self.compared else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "decided": self.decided,
            "compared": self.compared,
            "agreed": self.agreed,
            "agreement": self.agreement,
        }


@dataclass(frozen=True)
class ReviewStats:
    """The queue at a glance: depth, age of the oldest waiting task, reasons, reviewers."""

    endpoint: str | None
    open: int
    claimed: int
    decided: int
    oldest_open_age_s: float | None
    by_reason: dict[str, int] = field(default_factory=dict)
    reviewers: list[ReviewerStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "open": self.open,
            "claimed": self.claimed,
            "decided": self.decided,
            "oldest_open_age_s": self.oldest_open_age_s,
            "by_reason": dict(self.by_reason),
            "reviewers": [r.to_dict() for r in self.reviewers],
        }


def add_task(
    prediction_id: str,
    *,
    endpoint: str,
    model_name: str,
    model_version: int,
    reason: str,
    inputs: Any = None,
    outputs: Any = None,
    confidence: float | None = None,
    store: Store | None = None,
) -> ReviewTask:
    """Put a prediction in the queue from outside the server (say, a label-issue export).

    The prediction need not be stored yet: the server's log may still hold it.
    """
    check_prediction_id(prediction_id)
    check_reason(reason)
    for what, name in (("endpoint", endpoint), ("model_name", model_name)):
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise InvalidInput(f"{what} {name!r} must be a name of 1 to 200 characters", field=what)
    if isinstance(model_version, bool) or not isinstance(model_version, int) or model_version < 1:
        raise InvalidInput(
            f"model_version {model_version!r} must be a version number (1 or more)",
            field="model_version",
        )
    if confidence is not None and (
        isinstance(confidence, bool) or not isinstance(confidence, int | float)
    ):
        raise InvalidInput(f"confidence {confidence!r} must be a number", field="confidence")
    store = get_store(store)
    with store.session() as s:
        row = TaskRow(
            id=uuid.uuid4().hex,
            prediction_id=prediction_id,
            endpoint=endpoint,
            model_name=model_name,
            model_version=model_version,
            reason=reason,
            status="open",
            inputs=inputs,
            outputs=outputs,
            confidence=None if confidence is None else float(confidence),
            created_at=utcnow(),
        )
        s.add(row)
        s.flush()
        return _value(row, row.created_at)


def next_task(
    *,
    reviewer: str,
    endpoint: str | None = None,
    reason: str | None = None,
    skip: Collection[str] = (),
    lease_s: float | None = None,
    store: Store | None = None,
) -> ReviewTask | None:
    """Claim the oldest available task for ``reviewer``; None when the queue is empty.

    ``skip`` passes over those task ids: the ones this reviewer skipped (released), which are
    the oldest again and would otherwise come straight back.

    A reviewer who already holds a live claim (matching the filters) gets that task back with
    its lease renewed, so reloading a page neither loses the task nor takes a second one.
    PostgreSQL skips rows another transaction is claiming (``FOR UPDATE SKIP LOCKED``); SQLite
    serializes write transactions (``BEGIN IMMEDIATE``). Either way no two reviewers share a task.
    """
    reviewer = check_reviewer(reviewer)
    if reason is not None:
        check_reason(reason)
    skipped = _check_skip(skip)
    store = get_store(store)
    lease = timedelta(seconds=lease_seconds(lease_s, store))
    with store.session() as s:
        now = utcnow()
        if endpoint is not None:
            check_endpoint(s, endpoint)
        filters = [TaskRow.endpoint == endpoint] if endpoint is not None else []
        if reason is not None:
            filters.append(TaskRow.reason == reason)
        if skipped:
            filters.append(TaskRow.id.not_in(skipped))
        row = s.scalar(
            select(TaskRow)
            .where(_held_by(reviewer, now), *filters)
            .order_by(TaskRow.created_at, TaskRow.id)
            .limit(1)
        )
        if row is None:
            query = (
                select(TaskRow)
                .where(_available(now), *filters)
                .order_by(TaskRow.created_at, TaskRow.id)
                .limit(1)
            )
            if s.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = s.scalar(query)
        if row is None:
            return None
        row.status, row.claimed_by, row.lease_until = "claimed", reviewer, now + lease
        s.flush()
        return _value(row, now)


def decide(
    task_id: str, label: Any, *, reviewer: str, note: str = "", store: Store | None = None
) -> ReviewTask:
    """Record ``reviewer``'s decision; committed (with its feedback and annotation) on return.

    Refused, changing nothing, when the task is unknown (:class:`NotFound`), already decided,
    held by another reviewer's live lease or the caller's own lease ran out (:class:`Conflict`),
    or the label is not one of the model version's classes (:class:`Unprocessable`, 422). A task
    nobody holds may be decided directly. Labels are compared as text (``"1"`` matches the class
    ``1``) and stored as the class value, so feedback keeps the model's label type.
    """
    reviewer = check_reviewer(reviewer)
    check_label(label)
    check_note(note)
    store = get_store(store)
    with store.session(write=False) as s:
        first = _row(s, task_id)
        model_name, model_version = first.model_name, first.model_version
        from_dataset = first.endpoint.startswith(DATASET_QUEUE_PREFIX)
    # a dataset's example (a label issue, a borderline case) takes any label: its "model" is
    # the dataset version, and a model of the same name must not limit the answer
    classes = None if from_dataset else _classes(model_name, model_version, store)
    with store.session() as s:
        now = utcnow()
        row = _row(s, task_id, lock=True)
        _check_may_decide(row, reviewer, now)
        value = _class_value(label, classes, row)
        row.status, row.decision, row.decided_by, row.decided_at = "decided", value, reviewer, now
        row.claimed_by, row.lease_until = reviewer, None
        s.add(
            Feedback(
                prediction_id=row.prediction_id,
                time=now,
                label=value,
                event=None,
                source=f"review:{reviewer}",
                details={"review_task": row.id, "reason": row.reason, "note": note},
            )
        )
        s.add(
            Annotation(
                dataset=None,
                example_id=row.prediction_id,
                labeler=reviewer,
                label=value,
                source="review",
                prediction_id=row.prediction_id,
                time=now,
                details={"endpoint": row.endpoint, "review_task": row.id},
            )
        )
        s.flush()
        return _value(row, now)


def release(task_id: str, *, reviewer: str, store: Store | None = None) -> ReviewTask:
    """Give a claimed task back to the queue before its lease runs out."""
    reviewer = check_reviewer(reviewer)
    store = get_store(store)
    with store.session() as s:
        now = utcnow()
        row = _row(s, task_id, lock=True)
        if row.status == "decided":
            raise Conflict(f"review task {row.id} is already decided; there is nothing to release")
        if row.status != "claimed" or row.claimed_by != reviewer:
            holder = "nobody" if row.status != "claimed" else repr(row.claimed_by)
            raise Conflict(
                f"review task {row.id} is held by {holder}, not by {reviewer!r}; only the "
                "reviewer holding a task may release it"
            )
        row.status, row.claimed_by, row.lease_until = "open", None, None
        s.flush()
        return _value(row, now)


def get_task(task_id: str, *, store: Store | None = None) -> ReviewTask:
    store = get_store(store)
    with store.session(write=False) as s:
        return _value(_row(s, task_id), utcnow())


def list_tasks(
    *,
    status: str | None = None,
    endpoint: str | None = None,
    limit: int = DEFAULT_LIMIT,
    store: Store | None = None,
) -> list[ReviewTask]:
    """Tasks in queue order (oldest first); decided ones most recently decided first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"status {status!r} is not one of {', '.join(STATUSES)}; "
            f"{suggest(status, STATUSES, what='statuses')}",
            field="status",
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit {limit!r} must be between 1 and {MAX_LIMIT}", field="limit")
    store = get_store(store)
    with store.session(write=False) as s:
        now = utcnow()
        query = select(TaskRow)
        if endpoint is not None:
            check_endpoint(s, endpoint)
            query = query.where(TaskRow.endpoint == endpoint)
        if status == "decided":
            query = query.where(TaskRow.status == "decided").order_by(
                TaskRow.decided_at.desc(), TaskRow.id
            )
        else:
            if status is not None:
                query = query.where(_available(now) if status == "open" else _leased(now))
            query = query.order_by(TaskRow.created_at, TaskRow.id)
        return [_value(r, now) for r in s.scalars(query.limit(limit))]


def stats(*, endpoint: str | None = None, store: Store | None = None) -> ReviewStats:
    """Queue depth, the oldest open task's age, tasks per reason, and per reviewer the decisions
    made and their agreement with the model (decisions equal to ``outputs["output"]``, compared
    as text, over tasks where the model answered)."""
    store = get_store(store)
    with store.session(write=False) as s:
        now = utcnow()
        scope: list[ColumnElement[bool]] = []
        if endpoint is not None:
            check_endpoint(s, endpoint)
            scope.append(TaskRow.endpoint == endpoint)

        def count(condition: ColumnElement[bool]) -> int:
            return s.scalar(select(func.count()).select_from(TaskRow).where(condition, *scope))

        oldest = s.scalar(select(func.min(TaskRow.created_at)).where(_available(now), *scope))
        by_reason = dict(
            s.execute(
                select(TaskRow.reason, func.count())
                .where(*scope)
                .group_by(TaskRow.reason)
                .order_by(TaskRow.reason)
            ).all()
        )
        return ReviewStats(
            endpoint=endpoint,
            open=count(_available(now)),
            claimed=count(_leased(now)),
            decided=count(TaskRow.status == "decided"),
            oldest_open_age_s=_age_s(oldest, now),
            by_reason=by_reason,
            reviewers=_reviewer_stats(s, scope),
        )


# -- helpers -------------------------------------------------------------------------------


def _reviewer_stats(s: Session, scope: list[ColumnElement[bool]]) -> list[ReviewerStats]:
    tallies: dict[str, list[int]] = {}
    rows = s.execute(
        select(TaskRow.decided_by, TaskRow.decision, TaskRow.outputs).where(
            TaskRow.status == "decided", *scope
        )
    )
    for reviewer, decision, outputs in rows:
        tally = tallies.setdefault(reviewer or "", [0, 0, 0])
        tally[0] += 1
        if isinstance(outputs, dict) and outputs.get("output") is not None:
            tally[1] += 1
            tally[2] += same(decision, outputs["output"])
    return [ReviewerStats(r, *t) for r, t in sorted(tallies.items())]


def _check_skip(skip: Collection[str]) -> list[str]:
    ids = [skip] if isinstance(skip, str) else list(skip)
    if len(ids) > MAX_LIMIT or not all(isinstance(i, str) and ID_RE.match(i) for i in ids):
        raise InvalidInput(
            f"skip must be at most {MAX_LIMIT} review task ids (32 hex digits each)", field="skip"
        )
    return ids


def _available(now: datetime) -> ColumnElement[bool]:
    """Open, or claimed with a lease that has run out."""
    return or_(
        TaskRow.status == "open",
        and_(TaskRow.status == "claimed", TaskRow.lease_until <= now),
    )


def _leased(now: datetime) -> ColumnElement[bool]:
    return and_(TaskRow.status == "claimed", TaskRow.lease_until > now)


def _held_by(reviewer: str, now: datetime) -> ColumnElement[bool]:
    return and_(_leased(now), TaskRow.claimed_by == reviewer)


def _live(row: TaskRow, now: datetime) -> bool:
    return row.status == "claimed" and row.lease_until is not None and row.lease_until > now


def _check_may_decide(row: TaskRow, reviewer: str, now: datetime) -> None:
    if row.status == "decided":
        raise Conflict(
            f"review task {row.id} was already decided by {row.decided_by!r} at "
            f"{_fmt(row.decided_at)} (label {row.decision!r}); a decision is final"
        )
    if row.status != "claimed":
        return
    if row.claimed_by == reviewer and not _live(row, now):
        raise Conflict(
            f"your lease on review task {row.id} expired at {_fmt(row.lease_until)}; {_NEXT_HINT}"
        )
    if row.claimed_by != reviewer and _live(row, now):
        raise Conflict(
            f"review task {row.id} is claimed by {row.claimed_by!r} until "
            f"{_fmt(row.lease_until)}; take another one with 'inprod review next'"
        )


def _class_value(label: Any, classes: list[Any] | None, row: TaskRow) -> Any:
    if classes is None:
        return label
    for cls in classes:
        if same(label, cls):
            return cls
    shown = ", ".join(repr(c) for c in classes)
    raise Unprocessable(
        f"label {label!r} is not one of the classes of model {row.model_name}@"
        f"{row.model_version}: {shown}",
        field="label",
    )


def _classes(model_name: str, model_version: int, store: Store) -> list[Any] | None:
    """The version's classes from its signature; None when it lists none (or is gone)."""
    from ..registry import models

    try:
        version = models.get(f"{model_name}@{model_version}", store=store)
    except NotFound:
        return None
    classes = (version.signature or {}).get("classes")
    return list(classes) if classes else None


def _row(s: Session, task_id: str, *, lock: bool = False) -> TaskRow:
    row = None
    if isinstance(task_id, str) and ID_RE.match(task_id):
        row = s.get(TaskRow, task_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(
            f"no review task {str(task_id)[:80]!r}; see the tasks with 'inprod review list'"
        )
    return row


def _value(row: TaskRow, now: datetime) -> ReviewTask:
    status = row.status
    if status == "claimed" and not _live(row, now):
        status = "open"
    return ReviewTask(
        id=row.id,
        prediction_id=row.prediction_id,
        endpoint=row.endpoint,
        model_name=row.model_name,
        model_version=row.model_version,
        reason=row.reason,
        status=status,
        inputs=row.inputs,
        outputs=row.outputs,
        confidence=row.confidence,
        created_at=row.created_at,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        decision=row.decision,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def _age_s(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def _fmt(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "?"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
