"""Retraining requests: what asked for a new model of an endpoint, and the story of making it.

A request is opened by a policy's trigger (:mod:`.triggers`), an alert's ``retrain`` action or a
person, and moves through::

    open ──approve──▶ approved ──▶ running ──▶ deployed | failed | rejected
      │                  │            │   └──▶ awaiting_approval ──approve──▶ deployed
      └──────────────────┴────────────┴──────────────▶ cancelled

``open`` waits for a person (manual policies; the worker approves ``auto`` ones), ``approved``
for the worker or ``inprod retrain run``. A ``failed`` request may run again: the runner skips
its steps already done. Finished requests (deployed, failed, rejected, cancelled) release the
policy's ``active_policy`` key.

At most one live request a policy: ``active_policy`` is UNIQUE, so when two triggers race, one
insert wins and the other joins the winner (its trigger is appended to ``details["triggers"]``)
— one request, not two. Every change of status is an audit event on ``retraining-request:N``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound, suggest
from ..provenance import current_user
from ..store import Store, get_store
from ..store.tables import (
    AuditEvent,
    Endpoint,
    Feedback,
    RetrainingPolicy,
    RetrainingRequest,
    utcnow,
)

log = logging.getLogger(__name__)

STATUSES = (
    "open", "approved", "running", "awaiting_approval", "deployed", "failed", "rejected",
    "cancelled",
)  # fmt: skip
FINISHED = frozenset({"deployed", "failed", "rejected", "cancelled"})
STEP_STATUSES = ("running", "done", "failed", "skipped")
SUBJECT_PREFIX = "retraining-request:"
DEFAULT_LIMIT = 50
# status -> the statuses it may move to (the runner moves a failed request back to running)
_MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"approved", "running", "cancelled"}),
    "approved": frozenset({"running", "failed", "cancelled"}),  # failed: refused to start
    "running": frozenset({"awaiting_approval", "deployed", "failed", "rejected", "cancelled"}),
    "awaiting_approval": frozenset({"running", "deployed", "failed", "cancelled"}),
    "failed": frozenset({"running", "cancelled"}),
    "deployed": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
}


@dataclass(frozen=True)
class RequestInfo:
    """A retraining request as stored; ``details`` holds triggers, steps and results."""

    id: int
    endpoint: str
    status: str
    reason: str
    trigger: str
    alert_id: int | None
    policy_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime | None
    details: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def triggers(self) -> list[dict[str, Any]]:
        return list(self.details.get("triggers") or [])

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.details.get("steps") or [])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("created_at", "updated_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def info(row: RetrainingRequest) -> RequestInfo:
    return RequestInfo(
        id=row.id, endpoint=row.endpoint, status=row.status, reason=row.reason,
        trigger=row.trigger, alert_id=row.alert_id, policy_id=row.policy_id,
        created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
        details=dict(row.details or {}),
    )  # fmt: skip


# -- opening ------------------------------------------------------------------------------------
def open_request(
    endpoint: str,
    *,
    trigger: str,
    reason: str,
    policy_id: int | None = None,
    alert_id: int | None = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
    store: Store | None = None,
) -> RequestInfo:
    """Open a request to retrain ``endpoint``, or join the live one of its policy.

    The request belongs to the endpoint's policy when it has one (``policy_id``, if given, must
    be that policy). A request already made for ``alert_id`` is returned as it is. ``details``
    seeds a new request's details (e.g. the alert that asked).
    """
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row, _ = open_in(
            s, endpoint, trigger=trigger, reason=reason, policy_id=policy_id,
            alert_id=alert_id, details=details, actor=actor,
        )  # fmt: skip
        return info(row)


def open_in(
    s: Session,
    endpoint: str,
    *,
    trigger: str,
    reason: str,
    actor: str,
    policy_id: int | None = None,
    alert_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> tuple[RetrainingRequest, bool]:
    """:func:`open_request` inside the caller's transaction (the triggers update the policy's
    marks in the same one); returns the request and whether it is new."""
    if not trigger or not reason:
        raise InvalidInput("a retraining request needs a trigger and a reason", field="reason")
    now = utcnow()
    entry: dict[str, Any] = {"trigger": trigger, "time": now.isoformat(), "reason": reason}
    if alert_id is not None:
        entry["alert_id"] = alert_id
        same = s.scalar(select(RetrainingRequest).where(RetrainingRequest.alert_id == alert_id))
        if same is not None:
            return same, False
    check_endpoint(s, endpoint)
    policy = s.scalar(
        select(RetrainingPolicy).where(RetrainingPolicy.endpoint == endpoint).with_for_update()
    )
    if policy_id is not None and (policy is None or policy.id != policy_id):
        raise InvalidInput(
            f"policy {policy_id} is not the retraining policy of endpoint {endpoint!r}",
            field="policy_id",
        )
    if policy is not None:
        live = _live(s, policy.id)
        if live is not None:
            _join(live, entry)
            return live, False
    row = RetrainingRequest(
        endpoint=endpoint, status="open", reason=reason, trigger=trigger, alert_id=alert_id,
        policy_id=policy.id if policy else None, active_policy=policy.id if policy else None,
        created_by=actor, created_at=now, updated_at=now,
        details={**(details or {}), "triggers": [entry]},
    )  # fmt: skip
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:
        # another transaction opened the policy's live request (or this alert's) meanwhile
        winner = _live(s, policy.id) if policy is not None else None
        if winner is None and alert_id is not None:
            winner = s.scalar(
                select(RetrainingRequest).where(RetrainingRequest.alert_id == alert_id)
            )
        if winner is None:
            raise
        if alert_id is None or winner.alert_id != alert_id:
            _join(winner, entry)
        return winner, False
    if policy is not None:
        # new labels count from the last request of the policy (see triggers.py)
        newest = s.scalar(select(func.max(Feedback.id))) or 0
        policy.marks = {**(policy.marks or {}), "new-labels": {"feedback_id": newest, "count": 0}}
    _audit(s, actor, "retraining.requested", row, {"trigger": trigger, "reason": reason})
    return row, True


def check_endpoint(s: Session, endpoint: str) -> None:
    """NotFound, naming the closest endpoints, unless ``endpoint`` exists."""
    if s.scalar(select(Endpoint.id).where(Endpoint.name == endpoint)) is None:
        names = s.scalars(select(Endpoint.name)).all()
        raise NotFound(f"no endpoint {endpoint!r}; {suggest(endpoint, names, what='endpoints')}")


def _live(s: Session, policy_id: int) -> RetrainingRequest | None:
    return s.scalar(
        select(RetrainingRequest)
        .where(RetrainingRequest.active_policy == policy_id)
        .with_for_update()
    )


def _join(row: RetrainingRequest, entry: dict[str, Any]) -> None:
    details = dict(row.details or {})
    known = details.get("triggers") or []
    if entry.get("alert_id") is not None and any(
        t.get("alert_id") == entry["alert_id"] for t in known
    ):
        return  # the alert's action and a policy's alert trigger both asked: once is enough
    details["triggers"] = [*known, entry]
    row.details = details
    row.updated_at = utcnow()
    log.info("retraining request %s of %s joined by %s", row.id, row.endpoint, entry["trigger"])


# -- reading ------------------------------------------------------------------------------------
def get_request(request_id: int, *, store: Store | None = None) -> RequestInfo:
    store = get_store(store)
    with store.session(write=False) as s:
        return info(_row(s, request_id))


def list_requests(
    *,
    endpoint: str | None = None,
    status: str | None = None,
    policy_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    store: Store | None = None,
) -> list[RequestInfo]:
    """Requests, latest first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}", field="status")
    if limit < 1:
        raise InvalidInput(f"limit {limit} must be 1 or more", field="limit")
    store = get_store(store)
    query = select(RetrainingRequest).order_by(RetrainingRequest.id.desc()).limit(limit)
    if endpoint is not None:
        query = query.where(RetrainingRequest.endpoint == endpoint)
    if status is not None:
        query = query.where(RetrainingRequest.status == status)
    if policy_id is not None:
        query = query.where(RetrainingRequest.policy_id == policy_id)
    with store.session(write=False) as s:
        return [info(r) for r in s.scalars(query)]


def lock_request(s: Session, request_id: int) -> RetrainingRequest:
    """The request's row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``), so
    that a trigger joining it and the runner recording a step do not overwrite each other."""
    return _row(s, request_id, lock=True)


def _row(s: Session, request_id: int, *, lock: bool = False) -> RetrainingRequest:
    row = s.get(RetrainingRequest, request_id, with_for_update=lock)
    if row is None:
        newest = s.scalar(select(func.max(RetrainingRequest.id)))
        hint = f"the latest is {newest}" if newest else "there are no requests yet"
        raise NotFound(
            f"retraining request {request_id} not found ({hint}); see 'inprod retrain list'"
        )
    return row


# -- changing -----------------------------------------------------------------------------------
def approve(
    request_id: int, *, actor: str | None = None, store: Store | None = None
) -> RequestInfo:
    """Approve what waits for a person: an ``open`` request becomes ``approved`` (the worker
    or ``inprod retrain run`` runs it); a request ``awaiting_approval`` starts its canary
    (:func:`inprod.retraining.runner.approve_deploy`). Conflict in any other state."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = lock_request(s, request_id)
        if row.status == "open":
            move(s, row, "approved", actor=actor, message=f"approved by {actor}")
            return info(row)
        if row.status != "awaiting_approval":
            raise _wrong_state(row, "approved", "open or awaiting_approval")
    from .runner import approve_deploy

    return approve_deploy(request_id, actor=actor, store=store)


def cancel(
    request_id: int,
    *,
    reason: str = "",
    force: bool = False,
    actor: str | None = None,
    store: Store | None = None,
) -> RequestInfo:
    """Cancel a request that has not finished. A ``running`` one only with ``force`` (its
    worker died, or it should stop at its next step: the runner then finds it cancelled)."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = lock_request(s, request_id)
        if row.status == "running" and not force:
            raise Conflict(
                f"retraining request {row.id} is running (step {_current_step(row)}); cancel "
                "it with --force only if its worker is gone, or let it finish"
            )
        if row.status in FINISHED:
            raise _wrong_state(row, "cancelled", "open, approved, running or awaiting_approval")
        move(s, row, "cancelled", actor=actor, message=reason or f"cancelled by {actor}")
        return info(row)


def move(s: Session, row: RetrainingRequest, status: str, *, actor: str, message: str = "") -> None:
    """Change the request's status (audited); Conflict when the state does not allow it.

    A finished status releases the policy's live-request key; running a failed request again
    takes it back (Conflict when the policy has another live request meanwhile)."""
    if status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if status not in _MOVES[row.status]:
        allowed = ", ".join(sorted(_MOVES[row.status])) or "nothing (it is finished)"
        raise Conflict(
            f"retraining request {row.id} is {row.status}; it cannot become {status} (from "
            f"{row.status} it may become {allowed})"
        )
    if status not in FINISHED and row.active_policy is None and row.policy_id is not None:
        try:
            with s.begin_nested():
                row.active_policy = row.policy_id
                s.flush()
        except IntegrityError:
            other = _live(s, row.policy_id)
            raise Conflict(
                f"retraining request {row.id} cannot run again: its policy has a live request "
                f"({other.id if other else 'another'}); finish or cancel that one first"
            ) from None
    before = row.status
    row.status = status
    row.updated_at = utcnow()
    row.details = {**(row.details or {}), "message": message}
    if status in FINISHED:
        row.active_policy = None
    _audit(s, actor, f"retraining.{status}", row, {"from": before, "message": message})


def finish(
    s: Session, row: RetrainingRequest, status: str, message: str = "", *, actor: str = ""
) -> None:
    """End the request as deployed, failed, rejected or cancelled, saying why."""
    if status not in FINISHED:
        raise InvalidInput(f"{status!r} is not a finished status ({', '.join(sorted(FINISHED))})")
    move(s, row, status, actor=actor or row.created_by, message=message)


def record_step(
    s: Session,
    row: RetrainingRequest,
    name: str,
    status: str,
    message: str = "",
    outputs: dict[str, Any] | None = None,
) -> None:
    """Record a step of the run in ``details["steps"]``: ``running`` starts (or restarts) it,
    ``done``/``failed``/``skipped`` end it with a message and outputs. Refuses a finished
    request (Conflict), so a run whose request was cancelled stops at its next step."""
    if status not in STEP_STATUSES:
        raise InvalidInput(f"step status {status!r} is not one of {', '.join(STEP_STATUSES)}")
    if row.status in FINISHED and status == "running":
        raise Conflict(f"retraining request {row.id} is {row.status}; its steps are over")
    now = utcnow().isoformat()
    steps = [dict(step) for step in (row.details or {}).get("steps") or []]
    step = next((st for st in reversed(steps) if st["name"] == name), None)
    if step is None:
        step = {"name": name, "started_at": now}
        steps.append(step)
    if status == "running":
        step.update(started_at=now, finished_at=None, message=message, outputs=outputs or {})
    else:
        step.update(finished_at=now, message=message, outputs=outputs or step.get("outputs", {}))
    step["status"] = status
    row.details = {**(row.details or {}), "steps": steps}
    row.updated_at = utcnow()


def _current_step(row: RetrainingRequest) -> str:
    steps = (row.details or {}).get("steps") or []
    running = [st["name"] for st in steps if st.get("status") == "running"]
    return running[-1] if running else "none yet"


def _wrong_state(row: RetrainingRequest, done: str, needed: str) -> Conflict:
    hint = (
        f"a failed request runs again with 'inprod retrain run {row.id}'"
        if row.status == "failed"
        else f"see 'inprod retrain show {row.id}'"
    )
    return Conflict(
        f"retraining request {row.id} is {row.status}; only a request that is {needed} can be "
        f"{done} — {hint}"
    )


def _audit(
    s: Session, actor: str, kind: str, row: RetrainingRequest, details: dict[str, Any]
) -> None:
    if row.id is None:
        s.flush()
    s.add(
        AuditEvent(
            time=utcnow(), actor=actor or "unknown", kind=kind,
            subject=f"{SUBJECT_PREFIX}{row.id}", details={"endpoint": row.endpoint, **details},
        )
    )  # fmt: skip
