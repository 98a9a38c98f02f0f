"""judge(): what the controller would do with a ramping canary, on hand-written prediction logs."""

from __future__ import annotations

import pytest
from rollout_helpers import (
    answers_right,
    give_labels,
    later,
    log_predictions,
    start_canary,
    two_versions,
)

from inprod.rollout import actions
from inprod.rollout.judge import judge
from inprod.store import Store

AFTER_STEP = 601  # seconds: past the helpers' 10m interval


@pytest.fixture
def deployed(store: Store) -> Store:
    two_versions(store)
    return store


def test_judge_waits_until_the_step_has_min_requests(deployed: Store) -> None:
    plan = start_canary(deployed, min_requests=20)
    log_predictions(deployed, n=5, version=2, role="canary")
    log_predictions(deployed, n=50, version=1, role="primary")  # the champion's do not count

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.action == "wait"
    assert "5 of 20" in j.reason
    assert j.requests == 5
    assert j.results == []


def test_judge_rolls_back_a_canary_whose_error_rate_breaks_its_gate(deployed: Store) -> None:
    plan = start_canary(deployed, gates=["error_rate<=0.01"])
    log_predictions(deployed, n=20, version=2, role="canary", errors=4)

    j = judge(plan, store=deployed)  # at once: a failed gate does not wait for the interval

    assert j.action == "rollback"
    assert "error_rate<=0.01" in j.reason and "0.2" in j.reason
    [result] = j.results
    assert (result.status, result.value, result.limit, result.samples) == ("fail", 0.2, 0.01, 20)


def test_judge_waits_for_the_interval_when_every_gate_holds(deployed: Store) -> None:
    plan = start_canary(deployed)
    log_predictions(deployed, n=20, version=2, role="canary")

    j = judge(plan, store=deployed, now=later(plan, 60))

    assert j.action == "wait"
    assert "every gate holds" in j.reason and "ends in 540 s" in j.reason
    assert [r.status for r in j.results] == ["pass"]


def test_judge_advances_to_the_next_step_after_the_interval(deployed: Store) -> None:
    plan = start_canary(deployed, steps="10,50,100")
    log_predictions(deployed, n=20, version=2, role="canary", errors=0)

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.action == "advance"
    assert j.reason == "every gate held; next step 50%"
    assert j.results[0].value == 0.0


def test_judge_promotes_after_the_last_step(deployed: Store) -> None:
    plan = start_canary(deployed, steps="50,100")
    plan = actions.advance(
        plan.endpoint, expected_revision=plan.revision, results=[], store=deployed
    )
    assert plan.candidate is not None and plan.candidate.step == 1
    log_predictions(deployed, n=20, version=2, role="canary")

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.action == "advance"
    assert "promoting" in j.reason


def test_judge_has_nothing_to_do_without_a_ramping_canary(deployed: Store) -> None:
    plan = start_canary(deployed)
    paused = actions.pause(plan.endpoint, store=deployed)

    assert judge(paused, store=deployed).action == "none"
    assert judge(actions.get_plan(plan.endpoint, store=deployed), store=deployed).action == "none"


# --- relative gates ---------------------------------------------------------------------------

ACCURACY_GATE = "accuracy>=champion-0.01"


def labelled(store: Store, *, version: int, role: str, n: int, right: int) -> None:
    outputs, labels = answers_right(n, right)
    ids = log_predictions(store, n=n, version=version, role=role, outputs=outputs)
    give_labels(store, ids, labels)


def test_accuracy_gate_waits_for_30_labels(deployed: Store) -> None:
    plan = start_canary(deployed, gates=[ACCURACY_GATE])
    labelled(deployed, version=1, role="primary", n=40, right=40)
    labelled(deployed, version=2, role="canary", n=29, right=10)  # bad, but too few labels

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.action == "wait"
    [result] = j.results
    assert result.status == "wait" and result.samples == 29
    assert "29 of 30" in j.reason


def test_accuracy_gate_waits_while_the_champion_has_too_few_labels(deployed: Store) -> None:
    plan = start_canary(deployed, gates=[ACCURACY_GATE])
    labelled(deployed, version=1, role="primary", n=10, right=10)
    labelled(deployed, version=2, role="canary", n=40, right=40)

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.action == "wait"
    assert "champion has 10 of 30" in j.reason


def test_accuracy_gate_rolls_back_a_clearly_worse_canary(deployed: Store) -> None:
    plan = start_canary(deployed, gates=[ACCURACY_GATE])
    labelled(deployed, version=1, role="primary", n=40, right=38)  # 0.95
    labelled(deployed, version=2, role="canary", n=40, right=30)  # 0.75

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.action == "rollback"
    [result] = j.results
    assert result.value == pytest.approx(0.75)
    assert result.limit == pytest.approx(0.94)
    assert ACCURACY_GATE in j.reason


def test_accuracy_gate_passes_a_canary_as_good_as_the_champion(deployed: Store) -> None:
    plan = start_canary(deployed, gates=[ACCURACY_GATE])
    labelled(deployed, version=1, role="primary", n=40, right=36)
    labelled(deployed, version=2, role="canary", n=40, right=36)

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.action == "advance"
    assert j.results[0].status == "pass"
    assert j.results[0].value == pytest.approx(0.9)


def test_accuracy_counts_the_latest_label_of_a_prediction(deployed: Store) -> None:
    plan = start_canary(deployed, gates=[ACCURACY_GATE])
    labelled(deployed, version=1, role="primary", n=40, right=40)
    outputs, labels = answers_right(40, 20)
    ids = log_predictions(deployed, n=40, version=2, role="canary", outputs=outputs)
    give_labels(deployed, ids, labels)
    give_labels(deployed, ids, ["ok"] * 40)  # a reviewer corrected every label

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    assert j.results[0].value == 1.0 and j.results[0].samples == 40
    assert j.action == "advance"


@pytest.mark.parametrize(
    ("canary_ms", "status", "action"), [(14.0, "pass", "advance"), (16.0, "fail", "rollback")]
)
def test_latency_gate_relative_to_the_champion(
    deployed: Store, canary_ms: float, status: str, action: str
) -> None:
    plan = start_canary(deployed, gates=["latency_p99_ms<=champion*1.5"])
    log_predictions(deployed, n=20, version=1, role="primary", latency_ms=10.0)
    log_predictions(deployed, n=20, version=2, role="canary", latency_ms=canary_ms)

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    [result] = j.results
    assert result.limit == pytest.approx(15.0)
    assert result.value == pytest.approx(canary_ms)
    assert (result.status, j.action) == (status, action)


def test_latency_gate_uses_the_99th_percentile_of_successful_answers(deployed: Store) -> None:
    plan = start_canary(deployed, gates=["latency_p99_ms<=300"], min_requests=10)
    slow = [5.0] * 99 + [1000.0]
    log_predictions(deployed, n=100, version=2, role="canary", latency_ms=slow)

    j = judge(plan, store=deployed, now=later(plan, AFTER_STEP))

    [result] = j.results
    # numpy's linear interpolation between the 99th (5 ms) and 100th (1000 ms) value
    assert result.value == pytest.approx(5.0 + 0.01 * 995.0)
    assert j.action == "advance"
