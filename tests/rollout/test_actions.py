"""Plan changes as a state machine: refusals name the allowed actions, every change is audited,
promotion and rollback move what serves, and bad input changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rollout_helpers import ENDPOINT, MODEL, fitted, start_canary, two_versions
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from inprod import endpoints, models
from inprod.errors import Conflict, InvalidInput, NotFound
from inprod.provenance import current_user
from inprod.rollout import actions
from inprod.rollout.plan import TRANSITIONS
from inprod.store import Store
from inprod.store.tables import AuditEvent

V2 = f"{MODEL}@2"


@pytest.fixture
def deployed(store: Store) -> Store:
    two_versions(store)
    return store


def revision(store: Store) -> int:
    return actions.get_plan(ENDPOINT, store=store).revision


# --- the state machine ------------------------------------------------------------------------

# how to bring a fresh endpoint into each state
REACH: dict[str, Callable[[Store], Any]] = {
    "stable": lambda s: None,
    "shadowing": lambda s: actions.shadow(ENDPOINT, V2, store=s),
    "ramping": lambda s: start_canary(s),
    "paused": lambda s: (start_canary(s), actions.pause(ENDPOINT, store=s)),
    "promoted": lambda s: actions.blue_green(ENDPOINT, V2, check=False, store=s),
    "rolled_back": lambda s: (start_canary(s), actions.rollback(ENDPOINT, store=s)),
    "aborted": lambda s: (actions.shadow(ENDPOINT, V2, store=s), actions.abort(ENDPOINT, store=s)),
}

# what each refusal must offer instead (the controller's "advance" is never offered)
ALLOWED = {
    "stable": "shadow, canary, blue-green, automation",
    "shadowing": "canary, promote, abort, automation",
    "ramping": "promote, pause, abort, rollback, automation",
    "paused": "promote, resume, abort, rollback, automation",
    "promoted": "shadow, canary, blue-green, rollback, automation",
    "rolled_back": "shadow, canary, blue-green, automation",
    "aborted": "shadow, canary, blue-green, automation",
}

ACT: dict[str, Callable[[Store], Any]] = {
    "shadow": lambda s: actions.shadow(ENDPOINT, V2, store=s),
    "canary": lambda s: actions.canary(ENDPOINT, V2, store=s),
    "blue_green": lambda s: actions.blue_green(ENDPOINT, V2, check=False, store=s),
    "advance": lambda s: actions.advance(
        ENDPOINT, expected_revision=revision(s), results=[], store=s
    ),
    "promote": lambda s: actions.promote(ENDPOINT, store=s),
    "pause": lambda s: actions.pause(ENDPOINT, store=s),
    "resume": lambda s: actions.resume(ENDPOINT, store=s),
    "abort": lambda s: actions.abort(ENDPOINT, store=s),
    "rollback": lambda s: actions.rollback(ENDPOINT, store=s),
    "automation": lambda s: actions.set_automation(ENDPOINT, "shadow", store=s),
}


@pytest.mark.parametrize("state", list(REACH))
def test_every_forbidden_action_is_refused_with_the_allowed_ones(
    deployed: Store, state: str
) -> None:
    REACH[state](deployed)
    plan = actions.get_plan(ENDPOINT, store=deployed)
    assert plan.state == state
    forbidden = [a for a, froms in TRANSITIONS.items() if state not in froms]
    assert forbidden, f"every action is allowed from {state}?"

    for action in forbidden:
        with pytest.raises(Conflict) as info:
            ACT[action](deployed)
        message = info.value.message
        assert f"endpoint {ENDPOINT!r} is {state}; allowed now: {ALLOWED[state]} " in message

    assert actions.get_plan(ENDPOINT, store=deployed) == plan
    assert plan.to_dict()["allowed_actions"] == ALLOWED[state].replace("-", "_").split(", ")


def test_refusals_say_what_is_missing(deployed: Store) -> None:
    with pytest.raises(Conflict, match="nothing to promote: endpoint 'phone-inspector' is stable"):
        actions.promote(ENDPOINT, store=deployed)
    with pytest.raises(Conflict, match="nothing to roll back"):
        actions.rollback(ENDPOINT, store=deployed)
    with pytest.raises(Conflict, match="nothing is paused"):
        actions.resume(ENDPOINT, store=deployed)


def test_a_stale_revision_is_refused(deployed: Store) -> None:
    plan = start_canary(deployed)
    actions.pause(ENDPOINT, store=deployed)

    with pytest.raises(Conflict, match=f"changed meanwhile .*expected {plan.revision}"):
        actions.rollback(ENDPOINT, expected_revision=plan.revision, store=deployed)
    assert actions.get_plan(ENDPOINT, store=deployed).state == "paused"


def test_history_records_who_when_why_and_from_to(deployed: Store) -> None:
    before = datetime.now(UTC)
    actions.shadow(ENDPOINT, V2, reason="try v2 beside v1", actor="alice", store=deployed)
    actions.set_automation(ENDPOINT, "partial", threshold=0.9, store=deployed)
    actions.promote(ENDPOINT, reason="agrees 99%", actor="bob", store=deployed)

    events = actions.history(ENDPOINT, store=deployed)

    assert [(e.action, e.actor, e.from_state, e.to_state, e.reason) for e in events] == [
        ("shadow", "alice", "stable", "shadowing", "try v2 beside v1"),
        ("automation", current_user(), "shadowing", "shadowing", ""),
        ("promote", "bob", "shadowing", "promoted", "agrees 99%"),
    ]
    times = [datetime.fromisoformat(e.time) for e in events]
    assert before - timedelta(seconds=1) <= times[0] <= times[1] <= times[2]
    assert events[0].details["to"]["candidate"] == {"ref": V2, "role": "shadow", "weight": 0.0}
    assert events[1].details["to"]["automation"] == "partial"
    assert [e.action for e in actions.history(ENDPOINT, limit=2, store=deployed)] == [
        "automation", "promote",
    ]  # fmt: skip


def test_history_of_an_unknown_endpoint_is_not_found(deployed: Store) -> None:
    with pytest.raises(NotFound, match="no endpoint 'phone-inspecter'; did you mean"):
        actions.history("phone-inspecter", store=deployed)


# --- what serves after a change ---------------------------------------------------------------


def test_promoting_a_shadow_moves_the_alias_the_endpoint_follows(deployed: Store) -> None:
    actions.shadow(ENDPOINT, V2, store=deployed)

    plan = actions.promote(ENDPOINT, store=deployed)

    assert (plan.state, plan.candidate, plan.primary_ref) == ("promoted", None, f"{MODEL}@champion")
    assert models.get(f"{MODEL}@champion", store=deployed).version == 2
    assert plan.previous is not None and plan.previous.ref == f"{MODEL}@1"
    with deployed.session(write=False) as s:
        moved = s.scalars(select(AuditEvent).where(AuditEvent.kind == "alias.moved")).all()
    assert [(e.subject, e.details) for e in moved][-1] == (
        f"model:{MODEL}", {"alias": "champion", "from": 1, "to": 2},
    )  # fmt: skip


def test_promoting_on_an_endpoint_pinned_to_a_version_repoints_it(store: Store) -> None:
    two_versions(store, endpoint_ref=f"{MODEL}@1")
    actions.shadow(ENDPOINT, V2, store=store)

    plan = actions.promote(ENDPOINT, store=store)

    assert plan.primary_ref == V2
    assert endpoints.get(ENDPOINT, store=store).model_ref == V2
    assert models.get(f"{MODEL}@champion", store=store).version == 1


def test_blue_green_keeps_the_previous_version_and_rollback_returns_to_it(
    deployed: Store,
) -> None:
    switched_at = datetime.now(UTC)
    plan = actions.blue_green(ENDPOINT, V2, keep_previous="5m", store=deployed)

    assert plan.state == "promoted" and plan.candidate is None
    assert models.get(f"{MODEL}@champion", store=deployed).version == 2
    assert plan.previous is not None and plan.previous.ref == f"{MODEL}@1"
    until = datetime.fromisoformat(plan.previous.until)
    assert timedelta(seconds=299) <= until - switched_at <= timedelta(seconds=302)
    assert plan.keep_previous_s == 300.0
    assert plan.previous_live(switched_at) == plan.previous
    assert plan.previous_live(until) is None

    back = actions.rollback(ENDPOINT, reason="v2 misbehaves", store=deployed)

    assert (back.state, back.previous) == ("rolled_back", None)
    assert models.get(f"{MODEL}@champion", store=deployed).version == 1
    assert actions.history(ENDPOINT, store=deployed)[-1].to_state == "rolled_back"
    with pytest.raises(Conflict, match="nothing to roll back"):
        actions.rollback(ENDPOINT, store=deployed)


def test_rolling_back_a_canary_removes_the_candidate(deployed: Store) -> None:
    start_canary(deployed)

    plan = actions.rollback(ENDPOINT, reason="bad", store=deployed)

    assert (plan.state, plan.candidate, plan.primary_ref) == (
        "rolled_back", None, f"{MODEL}@champion",
    )  # fmt: skip
    assert models.get(f"{MODEL}@champion", store=deployed).version == 1


def test_resume_starts_the_steps_window_again(deployed: Store) -> None:
    plan = start_canary(deployed)
    actions.pause(ENDPOINT, store=deployed)

    resumed = actions.resume(ENDPOINT, store=deployed)

    assert resumed.state == "ramping"
    assert resumed.candidate is not None and plan.candidate is not None
    assert resumed.candidate.step_started_at > plan.candidate.step_started_at  # type: ignore[operator]
    assert resumed.candidate.started_at == plan.candidate.started_at


def test_a_canary_starts_at_its_first_step(deployed: Store) -> None:
    plan = start_canary(deployed, steps="5,25,100", interval="2m", min_requests=7)

    cand = plan.candidate
    assert cand is not None
    assert (cand.ref, cand.role, cand.steps, cand.step, cand.weight) == (
        V2, "canary", (5.0, 25.0, 100.0), 0, 0.05,
    )  # fmt: skip
    assert (cand.interval_s, cand.min_requests, cand.gates) == (120.0, 7, ("error_rate<=0.01",))


# --- bad input changes nothing ----------------------------------------------------------------


def test_an_incompatible_tensor_width_is_refused_naming_both(deployed: Store) -> None:
    wide, sample = fitted(features=5)
    models.register(MODEL, wide, sample=sample, store=deployed)
    before = revision(deployed)

    with pytest.raises(InvalidInput) as info:
        actions.canary(ENDPOINT, f"{MODEL}@3", store=deployed)

    assert info.value.message == (
        f"{MODEL}@3 is not compatible with {MODEL}@1, which serves now: the primary takes "
        "tensor float64 [N, 4], the candidate tensor float64 [N, 5]"
    )
    assert revision(deployed) == before


def test_incompatible_columns_are_refused_naming_the_fields(store: Store) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)
    v1 = pd.DataFrame(X, columns=["brightness", "contrast", "blur", "edges"])
    v2 = pd.DataFrame(X, columns=["brightness", "contrast", "blur", "glare"])
    models.register("cols", LogisticRegression().fit(v1, y), sample=v1[:3], store=store)
    models.register("cols", LogisticRegression().fit(v2, y), sample=v2[:3], store=store)
    endpoints.create("tabular", "cols@1", store=store)

    with pytest.raises(InvalidInput) as info:
        actions.shadow("tabular", "cols@2", store=store)

    message = info.value.message
    assert "the candidate needs column(s) glare clients do not send" in message
    assert "the candidate lacks column(s) edges" in message
    assert actions.get_plan("tabular", store=store).revision == 0


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("5,5,100", "must increase"),
        ("50,25,100", "must increase"),
        ("5,25,50", "must end at 100"),
        ("0,50,100", "must be above 0"),
        ("-5,100", "must be above 0"),
        ("five,100", "must be percentages"),
        ("", "steps are empty"),
        ("5,nan,100", "must"),
    ],
)
def test_bad_steps_are_refused(deployed: Store, steps: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        start_canary(deployed, steps=steps)
    assert info.value.field == "steps"
    assert actions.get_plan(ENDPOINT, store=deployed).state == "stable"
    assert revision(deployed) == 0


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"gates": ["bogus<=0.01"]}, "gates", "known gate metrics: 'accuracy', 'error_rate'"),
        ({"gates": ["error_rat<=0.01"]}, "gates", "did you mean 'error_rate'"),
        ({"interval": "soon"}, "interval", "not a duration like 30s"),
        ({"min_requests": -1}, "min_requests", "whole number >= 0"),
    ],
)
def test_bad_canary_options_are_refused(
    deployed: Store, options: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        start_canary(deployed, **options)
    assert info.value.field == field
    assert revision(deployed) == 0


@pytest.mark.parametrize("threshold", [0, 1.5, -0.1, None, float("nan")])
def test_partial_automation_needs_a_threshold_in_zero_one(
    deployed: Store, threshold: float | None
) -> None:
    with pytest.raises(InvalidInput, match=r"threshold in \(0, 1\]") as info:
        actions.set_automation(ENDPOINT, "partial", threshold=threshold, store=deployed)
    assert info.value.field == "threshold"
    assert revision(deployed) == 0


def test_automation_refuses_an_unknown_mode_and_a_stray_threshold(deployed: Store) -> None:
    with pytest.raises(InvalidInput, match="'robot' is not one of human, shadow, assist"):
        actions.set_automation(ENDPOINT, "robot", store=deployed)
    with pytest.raises(InvalidInput, match="applies only to partial"):
        actions.set_automation(ENDPOINT, "full", threshold=0.9, store=deployed)
    with pytest.raises(InvalidInput, match="audit rate"):
        actions.set_automation(ENDPOINT, "full", audit_rate=2.0, store=deployed)
    assert revision(deployed) == 0

    plan = actions.set_automation(ENDPOINT, "partial", threshold=1.0, store=deployed)
    assert (plan.automation.mode, plan.automation.threshold, plan.revision) == ("partial", 1.0, 1)


def test_deploying_an_unknown_version_names_the_latest(deployed: Store) -> None:
    with pytest.raises(NotFound, match=f"model '{MODEL}' has no version 9 \\(latest is 2\\)"):
        actions.canary(ENDPOINT, f"{MODEL}@9", store=deployed)
    with pytest.raises(NotFound, match="no model 'nosuch'"):
        actions.shadow(ENDPOINT, "nosuch@1", store=deployed)
    with pytest.raises(NotFound, match="no endpoint 'nowhere'"):
        actions.shadow("nowhere", V2, store=deployed)
    assert revision(deployed) == 0


def test_deploying_the_version_that_already_serves_is_refused(deployed: Store) -> None:
    with pytest.raises(Conflict, match="already serves endpoint 'phone-inspector'"):
        actions.blue_green(ENDPOINT, f"{MODEL}@1", check=False, store=deployed)
    assert revision(deployed) == 0


def test_repointing_an_endpoint_is_audited_and_refused_during_a_rollout(deployed: Store) -> None:
    before = revision(deployed)
    endpoints.update(ENDPOINT, model=V2, store=deployed)
    plan = actions.get_plan(ENDPOINT, store=deployed)
    assert plan.primary_ref == V2 and plan.revision == before + 1
    last = actions.history(ENDPOINT, store=deployed)[-1]
    assert last.action == "repoint"
    assert (last.details["from"]["primary"], last.details["to"]["primary"]) == (
        f"{MODEL}@champion",
        V2,
    )
    actions.shadow(ENDPOINT, f"{MODEL}@1", store=deployed)
    with pytest.raises(Conflict, match="is shadowing: finish the rollout first"):
        endpoints.update(ENDPOINT, model=f"{MODEL}@1", store=deployed)
    assert actions.get_plan(ENDPOINT, store=deployed).primary_ref == V2
    endpoints.update(ENDPOINT, settings={"timeout_ms": 500}, store=deployed)  # settings still may


def test_a_refused_blue_green_is_refused_before_the_warm_up(
    deployed: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inprod.rollout import warm

    actions.shadow(ENDPOINT, V2, store=deployed)
    warmed: list[str] = []
    monkeypatch.setattr(warm, "warm_check", lambda *a, **k: warmed.append("warmed"))
    with pytest.raises(Conflict, match="endpoint 'phone-inspector' is shadowing; allowed now"):
        actions.blue_green(ENDPOINT, V2, store=deployed)
    assert warmed == []
