"""Changing a deployment plan: every change is one transaction that locks the endpoint's row,
checks the transition, writes the new plan, bumps its revision and records an audit event
(who, when, why, from -> to). On PostgreSQL the same transaction notifies every replica
(``NOTIFY inprod_plans``), so they apply it within a second of the commit.

These functions are the Python API (``inprod.deploy``); the CLI, ``/api`` and the rollout
controller all call them, so a change means the same wherever it comes from.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound, suggest
from ..provenance import current_user
from ..refs import parse_ref
from ..store import Store, get_store
from ..store.tables import AuditEvent, Endpoint, Model, ModelVersion, utcnow
from .gates import GateResult, parse_gates
from .plan import (
    DEFAULT_GATES,
    DEFAULT_INTERVAL_S,
    DEFAULT_KEEP_PREVIOUS_S,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_STEPS,
    TRANSITIONS,
    Automation,
    Candidate,
    DeploymentPlan,
    Previous,
    allowed_actions,
    parse_duration,
    parse_steps,
)

NOTIFY_CHANNEL = "inprod_plans"
SUBJECT_PREFIX = "endpoint:"
MAX_REASON_CHARS = 2000


@dataclass(frozen=True)
class PlanEvent:
    """One audited change of a plan."""

    id: int
    time: str
    actor: str
    action: str
    from_state: str
    to_state: str
    reason: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reason": self.reason,
            "details": self.details,
        }


def get_plan(endpoint: str, *, store: Store | None = None) -> DeploymentPlan:
    store = get_store(store)
    with store.session(write=False) as s:
        return DeploymentPlan.from_row(_endpoint_row(s, endpoint))


def list_plans(*, store: Store | None = None) -> list[DeploymentPlan]:
    store = get_store(store)
    with store.session(write=False) as s:
        rows = s.scalars(select(Endpoint).order_by(Endpoint.name)).all()
        return [DeploymentPlan.from_row(r) for r in rows]


def shadow(
    endpoint: str,
    model: str,
    *,
    sample_rate: float = 1.0,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
) -> DeploymentPlan:
    """Run ``model`` next to the primary on a copy of each request, after the response.

    ``sample_rate`` (0, 1] copies only that share of requests: a shadow costs its server CPU
    (benchmarks/rollout/README.md), which a server near saturation may not have to spare.
    """
    rate = sample_rate
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise InvalidInput(
            f"shadow sample rate {rate!r} must be in (0, 1], e.g. 0.2 to copy a fifth of requests",
            field="sample_rate",
        )

    def mutate(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
        cand = _candidate(s, row, model, role="shadow")
        cand = Candidate(**{**cand.__dict__, "sample_rate": float(rate)})
        return plan.with_(state="shadowing", candidate=cand)

    return _change(endpoint, "shadow", mutate, reason=reason, actor=actor, store=store)


def canary(
    endpoint: str,
    model: str,
    *,
    steps: str | list[float] | tuple[float, ...] = DEFAULT_STEPS,
    interval: str | float = DEFAULT_INTERVAL_S,
    gates: list[str] | tuple[str, ...] = DEFAULT_GATES,
    min_requests: int = DEFAULT_MIN_REQUESTS,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
) -> DeploymentPlan:
    """Send a growing share of traffic to ``model``: each step lasts at least ``interval`` and
    ``min_requests``, and the controller moves on only while every gate holds."""
    parsed_steps = parse_steps(steps)
    interval_s = parse_duration(interval, what="interval")
    gate_list = tuple(g.text for g in parse_gates(list(gates)))
    if not isinstance(min_requests, int) or isinstance(min_requests, bool) or min_requests < 0:
        raise InvalidInput(
            f"min_requests {min_requests!r} must be a whole number >= 0", field="min_requests"
        )

    def mutate(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
        cand = _candidate(s, row, model, role="canary")
        now = utcnow().isoformat()
        cand = Candidate(
            **{
                **cand.__dict__,
                "steps": parsed_steps,
                "interval_s": interval_s,
                "gates": gate_list,
                "min_requests": min_requests,
                "step_started_at": now,
                "started_at": now,
            }
        )
        return plan.with_(state="ramping", candidate=cand)

    return _change(endpoint, "canary", mutate, reason=reason, actor=actor, store=store)


def blue_green(
    endpoint: str,
    model: str,
    *,
    keep_previous: str | float = DEFAULT_KEEP_PREVIOUS_S,
    check: bool = True,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
) -> DeploymentPlan:
    """Switch all traffic to ``model`` at once; the old version stays loaded ``keep_previous``
    so that :func:`rollback` is instant. With ``check`` the new version is first loaded here and
    asked to predict on the endpoint's latest logged inputs (a failure changes nothing)."""
    keep_s = parse_duration(keep_previous, what="keep_previous")
    store = get_store(store)
    if check:
        from .warm import warm_check

        state = get_plan(endpoint, store=store).state  # refuse before the slow warm-up
        if state not in TRANSITIONS["blue_green"]:
            raise Conflict(_refusal(endpoint, "blue_green", state))
        warm_check(endpoint, model, store=store)

    def mutate(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
        cand = _candidate(s, row, model, role="green")
        previous = _point_primary(s, row, cand.model_name, cand.version, keep_s)
        return plan.with_(
            state="promoted", candidate=None, previous=previous, keep_previous_s=keep_s
        )

    return _change(endpoint, "blue_green", mutate, reason=reason, actor=actor, store=store)


def promote(
    endpoint: str, *, reason: str = "", actor: str | None = None, store: Store | None = None
) -> DeploymentPlan:
    """Make the candidate the primary now (skipping any steps left)."""
    return _change(endpoint, "promote", _promote, reason=reason, actor=actor, store=store)


def _promote(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
    cand = plan.candidate
    assert cand is not None  # the transition table only allows promote with a candidate
    previous = _point_primary(s, row, cand.model_name, cand.version, plan.keep_previous_s)
    return plan.with_(state="promoted", candidate=None, previous=previous)


def pause(
    endpoint: str, *, reason: str = "", actor: str | None = None, store: Store | None = None
) -> DeploymentPlan:
    """Hold the canary at its current share; the controller stops judging it."""
    return _change(
        endpoint, "pause", lambda s, r, p: p.with_(state="paused"), reason=reason, actor=actor,
        store=store,
    )  # fmt: skip


def resume(
    endpoint: str, *, reason: str = "", actor: str | None = None, store: Store | None = None
) -> DeploymentPlan:
    """Go on ramping; the current step's window starts again now."""

    def mutate(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
        cand = _restart_step(plan.candidate)
        return plan.with_(state="ramping", candidate=cand)

    return _change(endpoint, "resume", mutate, reason=reason, actor=actor, store=store)


def abort(
    endpoint: str, *, reason: str = "", actor: str | None = None, store: Store | None = None
) -> DeploymentPlan:
    """Stop trying the candidate; the primary keeps serving."""
    return _change(
        endpoint, "abort", lambda s, r, p: p.with_(state="aborted", candidate=None),
        reason=reason, actor=actor, store=store,
    )  # fmt: skip


def rollback(
    endpoint: str,
    *,
    reason: str = "",
    actor: str | None = None,
    expected_revision: int | None = None,
    details: dict[str, Any] | None = None,
    store: Store | None = None,
) -> DeploymentPlan:
    """Take the canary out of traffic, or, after a promotion or blue-green switch, serve the
    previous version again (instantly while it is still kept loaded)."""

    def mutate(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
        if plan.state == "promoted":
            if plan.previous is None:
                raise Conflict(
                    f"endpoint {endpoint!r} has no previous version to roll back to; "
                    f"deploy one with 'inprod deploy {endpoint} --blue-green MODEL@VERSION'"
                )
            ref = parse_ref(plan.previous.ref)
            _point_primary(s, row, ref.name, ref.version, 0)
            return plan.with_(state="rolled_back", previous=None)
        return plan.with_(state="rolled_back", candidate=None)

    return _change(
        endpoint, "rollback", mutate, reason=reason, actor=actor, store=store,
        expected_revision=expected_revision, details=details,
    )  # fmt: skip


def advance(
    endpoint: str,
    *,
    expected_revision: int,
    results: list[GateResult],
    store: Store | None = None,
) -> DeploymentPlan:
    """The controller's move: every gate held over the step, so take the next step (or promote
    after the last). Refused with Conflict when someone changed the plan since it was judged."""

    def mutate(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
        cand = plan.candidate
        assert cand is not None
        if cand.step + 1 >= len(cand.steps):
            return _promote(s, row, plan)
        nxt = Candidate(
            **{**cand.__dict__, "step": cand.step + 1, "step_started_at": utcnow().isoformat()}
        )
        return plan.with_(candidate=nxt)

    return _change(
        endpoint, "advance", mutate, reason="every gate held", actor="controller", store=store,
        expected_revision=expected_revision, details={"gates": [r.to_dict() for r in results]},
    )  # fmt: skip


def set_automation(
    endpoint: str,
    mode: str,
    *,
    threshold: float | None = None,
    audit_rate: float | None = None,
    review_disagreements: bool | None = None,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
) -> DeploymentPlan:
    """Change how much the model decides alone (see :class:`Automation`)."""

    def mutate(s: Session, row: Endpoint, plan: DeploymentPlan) -> DeploymentPlan:
        old = plan.automation
        new = Automation(
            mode=mode,
            threshold=threshold,
            audit_rate=old.audit_rate if audit_rate is None else audit_rate,
            review_disagreements=old.review_disagreements
            if review_disagreements is None
            else review_disagreements,
        ).check()
        return plan.with_(automation=new)

    return _change(endpoint, "automation", mutate, reason=reason, actor=actor, store=store)


def history(endpoint: str, *, limit: int = 100, store: Store | None = None) -> list[PlanEvent]:
    """The plan's audited changes, oldest first (the last ``limit``)."""
    store = get_store(store)
    with store.session(write=False) as s:
        _endpoint_row(s, endpoint)
        rows = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject == SUBJECT_PREFIX + endpoint)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        ).all()
    return [
        PlanEvent(
            id=r.id,
            time=r.time.isoformat(),
            actor=r.actor,
            action=r.kind.removeprefix("deploy."),
            from_state=r.details.get("from_state", ""),
            to_state=r.details.get("to_state", ""),
            reason=r.details.get("reason", ""),
            details=r.details,
        )
        for r in reversed(rows)
    ]


# --- the one way a plan changes ------------------------------------------------------------


Mutation = Callable[[Session, Endpoint, DeploymentPlan], DeploymentPlan]


def _change(
    endpoint: str,
    action: str,
    mutate: Mutation,
    *,
    reason: str,
    actor: str | None,
    store: Store | None,
    expected_revision: int | None = None,
    details: dict[str, Any] | None = None,
) -> DeploymentPlan:
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"reason must be text of at most {MAX_REASON_CHARS} characters")
    store = get_store(store)
    with store.session() as s:
        row = _endpoint_row(s, endpoint, lock=True)
        plan = DeploymentPlan.from_row(row)
        if expected_revision is not None and plan.revision != expected_revision:
            raise Conflict(
                f"the plan of {endpoint!r} changed meanwhile (revision {plan.revision}, "
                f"expected {expected_revision}); look again with 'inprod deploy status {endpoint}'"
            )
        if plan.state not in TRANSITIONS[action]:
            raise Conflict(_refusal(endpoint, action, plan.state))
        before = _summary(s, plan)
        new = mutate(s, row, plan)
        now = utcnow()
        row.plan = new.stored()
        row.state = new.state
        row.revision = plan.revision + 1
        row.updated_at = now
        s.add(
            AuditEvent(
                time=now,
                actor=actor or current_user(),
                kind=f"deploy.{action}",
                subject=SUBJECT_PREFIX + endpoint,
                details={
                    "from_state": plan.state,
                    "to_state": new.state,
                    "reason": reason,
                    "from": before,
                    "to": _summary(s, new.with_(primary_ref=row.model_ref)),
                    **(details or {}),
                },
            )
        )
        s.flush()
        notify(s, endpoint)
        return DeploymentPlan.from_row(row)


def notify(s: Session, endpoint: str) -> None:
    """Tell every replica listening on PostgreSQL; delivered when the transaction commits."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(
            text("SELECT pg_notify(:channel, :name)"), {"channel": NOTIFY_CHANNEL, "name": endpoint}
        )


def _refusal(endpoint: str, action: str, state: str) -> str:
    allowed = allowed_actions(state)
    what = {
        "promote": "nothing to promote",
        "pause": "nothing is ramping",
        "resume": "nothing is paused",
        "abort": "nothing is in flight",
        "rollback": "nothing to roll back",
    }.get(action, f"cannot {action.replace('_', '-')} now")
    return (
        f"{what}: endpoint {endpoint!r} is {state}; allowed now: "
        f"{', '.join(a.replace('_', '-') for a in allowed)} "
        f"(see 'inprod deploy status {endpoint}')"
    )


def _summary(s: Session, plan: DeploymentPlan) -> dict[str, Any]:
    """The plan as history shows it; ``primary_version`` is what an alias resolved to then."""
    from ..registry._lookup import resolve

    cand = plan.candidate
    try:
        model, version = resolve(s, plan.primary_ref)
        primary_version: str | None = f"{model.name}@{version.version}"
    except NotFound:
        primary_version = None
    return {
        "primary": plan.primary_ref,
        "primary_version": primary_version,
        "candidate": None
        if cand is None
        else {"ref": cand.ref, "role": cand.role, "weight": cand.weight},
        "automation": plan.automation.mode,
    }


def _endpoint_row(s: Session, name: str, *, lock: bool = False) -> Endpoint:
    query = select(Endpoint).where(Endpoint.name == name)
    row = s.scalar(query.with_for_update() if lock else query)
    if row is None:
        known = s.scalars(select(Endpoint.name)).all()
        raise NotFound(f"no endpoint {name!r}; {suggest(name, known, what='endpoints')}")
    return row


def _candidate(s: Session, row: Endpoint, model: str, *, role: str) -> Candidate:
    from ..registry._lookup import resolve

    cand_model, cand_version = resolve(s, model)
    primary_model, primary_version = resolve(s, row.model_ref)
    if cand_version.id == primary_version.id:
        raise Conflict(
            f"{cand_model.name}@{cand_version.version} already serves endpoint {row.name!r} "
            "as its primary; register a new version to deploy"
        )
    check_compatible(primary_model, primary_version, cand_model, cand_version)
    return Candidate(
        ref=f"{cand_model.name}@{cand_version.version}",
        model_name=cand_model.name,
        version=cand_version.version,
        role=role,
        salt=secrets.token_hex(4),
    )


def check_compatible(pm: Model, pv: ModelVersion, cm: Model, cv: ModelVersion) -> None:
    """The candidate must take what the primary takes, so no client request breaks on it."""
    from ..flavors import Signature

    want = Signature.from_dict(pv.signature).inputs
    have = Signature.from_dict(cv.signature).inputs
    if want is None or have is None or want == have:
        return
    problems: list[str] = []
    if want.kind != have.kind:
        problems.append(f"the primary takes {want.describe()}, the candidate {have.describe()}")
    elif want.kind == "columns":
        wanted = {c.name: c.dtype for c in want.columns}
        had = {c.name: c.dtype for c in have.columns}
        if missing := sorted(set(had) - set(wanted)):
            problems.append(
                f"the candidate needs column(s) {', '.join(missing)} clients do not send"
            )
        if extra := sorted(set(wanted) - set(had)):
            problems.append(f"the candidate lacks column(s) {', '.join(extra)}")
        for name in sorted(set(wanted) & set(had)):
            if wanted[name] != had[name] and None not in (wanted[name], had[name]):
                problems.append(
                    f"column {name!r} is {wanted[name]} for the primary, "
                    f"{had[name]} for the candidate"
                )
    elif (want.dtype, tuple(want.shape[1:])) != (have.dtype, tuple(have.shape[1:])):
        problems.append(f"the primary takes {want.describe()}, the candidate {have.describe()}")
    if problems:
        raise InvalidInput(
            f"{cm.name}@{cv.version} is not compatible with {pm.name}@{pv.version}, which serves "
            f"now: {'; '.join(problems)}",
            field="model",
        )


def _point_primary(
    s: Session, row: Endpoint, model_name: str, version: int | None, keep_s: float
) -> Previous | None:
    """Make ``model_name@version`` the endpoint's primary; returns the version it replaces.

    An endpoint that follows an alias of the same model (``phone-inspector@champion``) keeps
    following it and the alias moves, so the alias always names what serves.
    """
    from ..registry._lookup import resolve
    from ..registry.models import _move_alias

    _, old_version = resolve(s, row.model_ref)
    old_model_name = parse_ref(row.model_ref).name
    old_ref = f"{old_model_name}@{old_version.version}"
    target_ref = f"{model_name}@{version}"
    model, target = resolve(s, target_ref)
    current = parse_ref(row.model_ref)
    if current.alias is not None and current.name == model_name:
        _move_alias(s, model, target, current.alias)
    else:
        row.model_ref = target_ref
    return Previous(ref=old_ref, until=(utcnow() + timedelta(seconds=keep_s)).isoformat())


def _restart_step(cand: Candidate | None) -> Candidate | None:
    if cand is None:
        return None
    return Candidate(**{**cand.__dict__, "step_started_at": utcnow().isoformat()})
