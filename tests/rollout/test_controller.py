"""The rollout controller: one tick judges every ramping canary and acts as actor "controller";
the background loop ticks by itself and stops promptly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
from rollout_helpers import ENDPOINT, MODEL, later, log_predictions, start_canary, two_versions

from inprod import endpoints, models
from inprod.rollout import actions, controller
from inprod.rollout.controller import Decision, RolloutController
from inprod.rollout.judge import judge as real_judge
from inprod.store import Store

AFTER_STEP = 601  # seconds: past the helpers' 10m interval


@pytest.fixture
def deployed(store: Store) -> Store:
    two_versions(store)
    return store


@pytest.fixture
def ctl(store: Store) -> Iterator[RolloutController]:
    """A controller ticked by hand; it gives up leadership (a PostgreSQL connection) after."""
    ctl = RolloutController(store, tick_s=0)
    yield ctl
    ctl.release()


def test_tick_advances_a_canary_whose_gates_held_over_its_step(
    deployed: Store, ctl: RolloutController
) -> None:
    plan = start_canary(deployed, steps="10,50,100")
    log_predictions(deployed, n=20, version=2, role="canary")

    decisions = ctl.tick(now=later(plan, AFTER_STEP))

    assert decisions == [
        Decision(ENDPOINT, "advance", "every gate held; next step 50%", plan.revision)
    ]
    after = actions.get_plan(ENDPOINT, store=deployed)
    assert after.state == "ramping" and after.revision == plan.revision + 1
    assert after.candidate is not None and after.candidate.step == 1
    assert after.candidate.weight == 0.5
    event = actions.history(ENDPOINT, store=deployed)[-1]
    assert (event.action, event.actor, event.from_state, event.to_state) == (
        "advance", "controller", "ramping", "ramping",
    )  # fmt: skip
    [gate] = event.details["gates"]
    assert (gate["gate"], gate["status"], gate["value"], gate["samples"]) == (
        "error_rate<=0.01", "pass", 0.0, 20,
    )  # fmt: skip


def test_tick_rolls_back_a_bad_canary_and_history_names_the_gate(
    deployed: Store, ctl: RolloutController
) -> None:
    start_canary(deployed, gates=["error_rate<=0.01", "latency_p99_ms<=300"])
    log_predictions(deployed, n=20, version=2, role="canary", errors=4)

    [decision] = ctl.tick()

    assert decision.action == "rollback"
    after = actions.get_plan(ENDPOINT, store=deployed)
    assert after.state == "rolled_back" and after.candidate is None
    assert after.primary_ref == f"{MODEL}@champion"
    event = actions.history(ENDPOINT, store=deployed)[-1]
    assert (event.action, event.actor, event.from_state, event.to_state) == (
        "rollback", "controller", "ramping", "rolled_back",
    )  # fmt: skip
    assert event.reason == "gate error_rate<=0.01 failed: 0.2 against a limit of 0.01"
    assert event.details["automatic"] is True
    assert [g["status"] for g in event.details["gates"]] == ["fail", "pass"]


def test_tick_ramps_through_every_step_and_promotes_by_moving_the_alias(
    deployed: Store, ctl: RolloutController
) -> None:
    plan = start_canary(deployed, steps="50,100")
    log_predictions(deployed, n=20, version=2, role="canary")
    assert [d.action for d in ctl.tick(now=later(plan, AFTER_STEP))] == ["advance"]

    plan = actions.get_plan(ENDPOINT, store=deployed)
    assert ctl.tick(now=later(plan, AFTER_STEP)) == []  # the new step has no requests yet
    log_predictions(deployed, n=20, version=2, role="canary")
    [decision] = ctl.tick(now=later(plan, AFTER_STEP))

    assert decision.reason == "every gate held; promoting"
    after = actions.get_plan(ENDPOINT, store=deployed)
    assert after.state == "promoted" and after.candidate is None
    assert after.previous is not None and after.previous.ref == f"{MODEL}@1"
    assert endpoints.get(ENDPOINT, store=deployed).model_ref == f"{MODEL}@champion"
    assert models.get(f"{MODEL}@champion", store=deployed).version == 2
    assert actions.history(ENDPOINT, store=deployed)[-1].to_state == "promoted"


def test_promotion_points_an_endpoint_on_a_concrete_version_at_the_candidate(
    store: Store, ctl: RolloutController
) -> None:
    two_versions(store, endpoint_ref=f"{MODEL}@1")
    plan = start_canary(store, steps="100")
    log_predictions(store, n=20, version=2, role="canary")

    [decision] = ctl.tick(now=later(plan, AFTER_STEP))

    assert decision.action == "advance"
    assert endpoints.get(ENDPOINT, store=store).model_ref == f"{MODEL}@2"
    assert models.get(f"{MODEL}@champion", store=store).version == 1


def test_tick_leaves_waiting_and_resting_plans_alone(
    deployed: Store, ctl: RolloutController
) -> None:
    plan = start_canary(deployed)
    log_predictions(deployed, n=5, version=2, role="canary")  # below min_requests

    assert ctl.tick(now=later(plan, AFTER_STEP)) == []
    assert actions.get_plan(ENDPOINT, store=deployed).revision == plan.revision

    actions.pause(ENDPOINT, store=deployed)
    log_predictions(deployed, n=20, version=2, role="canary", errors=20)
    assert ctl.tick() == []
    assert actions.get_plan(ENDPOINT, store=deployed).state == "paused"


def test_a_person_pausing_between_judgement_and_action_wins(
    deployed: Store,
    ctl: RolloutController,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = start_canary(deployed)
    log_predictions(deployed, n=20, version=2, role="canary", errors=4)

    def judge_then_pause(p, *, store, now=None):
        verdict = real_judge(p, store=store, now=now)
        actions.pause(p.endpoint, reason="looking into it", actor="alice", store=store)
        return verdict

    monkeypatch.setattr(controller, "judge", judge_then_pause)
    with caplog.at_level(logging.INFO, logger="inprod.rollout.controller"):
        decisions = ctl.tick()

    assert decisions == []
    after = actions.get_plan(ENDPOINT, store=deployed)
    assert after.state == "paused" and after.revision == plan.revision + 1
    assert [e.actor for e in actions.history(ENDPOINT, store=deployed)][-1] == "alice"
    assert "changed meanwhile" in caplog.text


def test_one_endpoint_failing_to_judge_does_not_stop_the_others(
    deployed: Store,
    ctl: RolloutController,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoints.create("other", f"{MODEL}@champion", store=deployed)
    actions.canary("other", f"{MODEL}@2", min_requests=0, store=deployed)
    plan = start_canary(deployed)
    log_predictions(deployed, n=20, version=2, role="canary")

    def judge_or_fail(p, *, store, now=None):
        if p.endpoint == "other":
            raise RuntimeError("boom")
        return real_judge(p, store=store, now=now)

    monkeypatch.setattr(controller, "judge", judge_or_fail)
    with caplog.at_level(logging.INFO, logger="inprod.rollout.controller"):
        decisions = ctl.tick(now=later(plan, AFTER_STEP))

    assert [(d.endpoint, d.action) for d in decisions] == [(ENDPOINT, "advance")]
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failed) == 1 and "other" in failed[0].getMessage() and failed[0].exc_info
    advanced = [r for r in caplog.records if r.levelno == logging.INFO]
    assert any("next step 50%" in r.getMessage() for r in advanced)


# --- the background loop ----------------------------------------------------------------------


def test_the_loop_advances_a_canary_and_tells_the_server(deployed: Store) -> None:
    start_canary(deployed, interval="0s")
    log_predictions(deployed, n=20, version=2, role="canary")
    changes: list[int] = []

    async def on_change() -> None:
        changes.append(actions.get_plan(ENDPOINT, store=deployed).revision)

    async def main() -> float:
        ctl = RolloutController(deployed, tick_s=0.02, on_change=on_change)
        await ctl.start()
        async with asyncio.timeout(10):
            while not changes:
                await asyncio.sleep(0.01)
        began = time.monotonic()
        await ctl.stop()
        return time.monotonic() - began

    stop_s = asyncio.run(main())

    assert stop_s < 1.0
    plan = actions.get_plan(ENDPOINT, store=deployed)
    assert plan.candidate is not None and plan.candidate.step == 1
    assert changes == [plan.revision]  # the new step waits for requests: no second change


def test_a_failing_tick_or_callback_does_not_end_the_loop(
    deployed: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    start_canary(deployed, interval="0s", steps="10,20,30,100", gates=[], min_requests=0)
    real_tick = RolloutController.tick
    ticks: list[str] = []
    calls: list[int] = []

    def flaky_tick(self, **kwargs):
        ticks.append("tick")
        if len(ticks) == 1:
            raise RuntimeError("store hiccup")
        return real_tick(self, **kwargs)

    async def failing_on_change() -> None:
        calls.append(1)
        raise RuntimeError("refresh failed")

    monkeypatch.setattr(RolloutController, "tick", flaky_tick)

    async def main() -> None:
        ctl = RolloutController(deployed, tick_s=0.01, on_change=failing_on_change)
        await ctl.start()
        async with asyncio.timeout(10):
            while len(calls) < 2:
                await asyncio.sleep(0.01)
        await ctl.stop()

    with caplog.at_level(logging.ERROR, logger="inprod.rollout.controller"):
        asyncio.run(main())

    assert len(calls) >= 2  # ticks went on after a failed tick and a failed callback
    assert "store hiccup" in caplog.text and "refresh failed" in caplog.text
    plan = actions.get_plan(ENDPOINT, store=deployed)
    assert plan.candidate is not None and plan.candidate.step >= 2


def test_stop_returns_promptly_while_the_loop_sleeps(deployed: Store) -> None:
    async def main() -> float:
        ctl = RolloutController(deployed, tick_s=3600, on_change=None)
        await ctl.start()
        await asyncio.sleep(0.05)
        began = time.monotonic()
        await ctl.stop()
        return time.monotonic() - began

    assert asyncio.run(main()) < 1.0


def test_a_zero_tick_starts_no_loop(deployed: Store) -> None:
    start_canary(deployed, interval="0s", gates=[], min_requests=0)

    async def main() -> None:
        ctl = RolloutController(deployed, tick_s=0, on_change=None)
        await ctl.start()
        await asyncio.sleep(0.1)
        await ctl.stop()

    asyncio.run(main())

    assert actions.get_plan(ENDPOINT, store=deployed).candidate.step == 0  # type: ignore[union-attr]
