"""The runner: each way a request can fail stops the chain with the reason and leaves what serves
alone; a manual policy waits for the canary's approval; a failed request resumes where it
stopped; an interrupted deploy is recorded, never started twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from retrain_functions import (
    ENDPOINT,
    GOOD,
    MODEL,
    add_policy,
    approved_request,
    log_labelled,
    serve_champion,
)
from sklearn.linear_model import LogisticRegression

from inprod import deploy, models
from inprod.errors import Conflict, NotFound, StoreUnavailable
from inprod.retraining import policies, requests, runner, training
from inprod.retraining.requests import record_step
from inprod.retraining.runner import approve_deploy, run_request
from inprod.store import Store
from inprod.tracking.runs import get_run, list_runs

LOOSE = {"require": ["accuracy>=0"], "require_slices": ["accuracy>=0"]}


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Store:
    serve_champion(store, tmp_path / "phones", n=80)
    log_labelled(store, 40)
    return store


def _step(request: requests.RequestInfo, name: str) -> dict[str, Any]:
    return next(st for st in request.steps if st["name"] == name)


def _serves_as_before(store: Store) -> None:
    plan = deploy.get_plan(ENDPOINT, store=store)
    assert (plan.state, plan.revision, plan.candidate) == ("stable", 0, None)


def test_a_training_function_that_raises_fails_the_request_and_leaves_serving_alone(
    world: Store,
) -> None:
    add_policy(world, train="retrain_functions:broken")
    request = approved_request(world)

    done = run_request(request.id, actor="ana", store=world)

    assert done.status == "failed"
    reason = "the training function retrain_functions:broken raised RuntimeError: the labels"
    assert reason in _step(done, "train")["message"]
    assert done.details["message"].startswith("train failed: " + reason)
    assert [st["status"] for st in done.steps] == ["done", "failed"]
    (run,) = _runs(world, f"retrain-{ENDPOINT}-{request.id}")
    assert run.status == "failed"
    assert [v.version for v in models.list_versions(MODEL, store=world)] == [1]
    _serves_as_before(world)


def test_a_function_returning_no_model_fails_with_the_registrys_message(world: Store) -> None:
    add_policy(world, train="retrain_functions:not_a_model")
    done = run_request(approved_request(world).id, store=world)

    assert done.status == "failed"
    message = _step(done, "train")["message"]
    assert "retrain_functions:not_a_model returned a dict that cannot be registered: " in message
    assert [v.version for v in models.list_versions(MODEL, store=world)] == [1]
    _serves_as_before(world)


def test_training_that_takes_too_long_is_stopped_and_its_run_marked_killed(world: Store) -> None:
    add_policy(world, train="retrain_functions:slow", timeout_s="10s")
    done = run_request(approved_request(world).id, store=world)

    assert done.status == "failed"
    assert _step(done, "train")["message"].startswith("training took longer than 10s")
    (run,) = [r for r in list_runs(store=world) if r.name.startswith("retrain-")]
    assert run.status == "killed" and "longer than 10s" in (run.error or "")
    _serves_as_before(world)


def test_a_candidate_that_does_not_take_what_serves_fails_the_check(world: Store) -> None:
    """The request had trained before (its steps say so) a model taking 16 numbers, not the
    1024 pixels the champion takes; running it again goes on with the check, which refuses."""
    import numpy as np

    X = np.random.default_rng(0).random((40, 16))
    narrow = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    models.register(MODEL, narrow, sample=X[:3], store=world)
    add_policy(world)
    request = approved_request(world)
    with world.session() as s:
        row = requests.lock_request(s, request.id)
        for name, outputs in (("dataset", {}), ("train", {"candidate": f"{MODEL}@2"})):
            requests.record_step(s, row, name, "running")
            requests.record_step(s, row, name, "done", "", outputs)

    done = run_request(request.id, store=world)

    assert done.status == "failed"
    assert [st["name"] for st in done.steps] == ["dataset", "train", "check"]
    message = _step(done, "check")["message"]
    assert message.startswith("incompatible signature: inspector@2 is not compatible with")
    assert "1024" in message and "16" in message
    _serves_as_before(world)


def test_a_candidate_that_fails_the_gate_is_rejected_and_not_deployed(world: Store) -> None:
    add_policy(world, train="retrain_functions:coin")
    done = run_request(approved_request(world).id, store=world)

    assert done.status == "rejected"
    evaluation = done.details["evaluation"]
    assert evaluation["passed"] is False and evaluation["failures"]
    assert done.details["message"] == evaluation["summary"]
    assert evaluation["summary"].startswith("gate failed: accuracy ")
    assert "accuracy>=champion on all" in evaluation["summary"]
    assert models.get(done.details["candidate"], store=world).tags["evaluation"] == "failed"
    assert "deploy" not in [st["name"] for st in done.steps]
    _serves_as_before(world)


def test_a_manual_policy_waits_for_approval_of_the_canary(world: Store) -> None:
    add_policy(world, approve="manual", **LOOSE)
    request = approved_request(world)

    waiting = run_request(request.id, store=world)

    assert waiting.status == "awaiting_approval"
    assert "inprod retrain approve" in waiting.details["message"]
    _serves_as_before(world)
    with pytest.raises(Conflict, match="waits for its canary to be approved"):
        run_request(request.id, store=world)

    done = approve_deploy(request.id, actor="ana", store=world)

    assert done.status == "deployed" and done.details["deploy_approved_by"] == "ana"
    plan = deploy.get_plan(ENDPOINT, store=world)
    assert plan.state == "ramping" and plan.candidate is not None
    assert plan.candidate.ref == done.details["candidate"]
    assert done.details["plan_revision"] == plan.revision
    assert plan.candidate.steps == (10.0, 100.0) and plan.candidate.min_requests == 5
    history = deploy.history(ENDPOINT, store=world)
    assert (history[0].actor, history[0].reason) == ("ana", f"retraining request {request.id}")
    with pytest.raises(Conflict, match="is deployed"):
        approve_deploy(request.id, store=world)
    with pytest.raises(Conflict, match="is deployed; it has nothing left to run"):
        run_request(request.id, store=world)


def test_a_failed_request_resumes_where_it_stopped(world: Store) -> None:
    add_policy(world, train="retrain_functions:broken", **LOOSE)
    request = approved_request(world)
    failed = run_request(request.id, store=world)
    assert failed.status == "failed"
    policies.update(ENDPOINT, train=GOOD, store=world)

    done = run_request(request.id, store=world)

    assert done.status == "deployed"
    assert [st["name"] for st in done.steps] == ["dataset", "train", "check", "evaluate", "deploy"]
    assert _step(done, "dataset") == _step(failed, "dataset")  # done once, skipped after
    assert _step(done, "train")["status"] == "done"
    assert get_run(done.details["run_id"], store=world).status == "finished"


def test_a_canary_an_interrupted_run_started_is_recorded_not_started_again(world: Store) -> None:
    add_policy(world, approve="manual", **LOOSE)
    request = approved_request(world)
    waiting = run_request(request.id, store=world)
    # the canary started, and the runner stopped before it could record it
    started = deploy.canary(ENDPOINT, waiting.details["candidate"], store=world)

    done = approve_deploy(request.id, store=world)

    assert done.status == "deployed"
    assert _step(done, "deploy")["message"].startswith("canary of inspector@2 already started")
    assert deploy.get_plan(ENDPOINT, store=world).revision == started.revision


def test_a_request_without_a_policy_cannot_run(world: Store) -> None:
    request = approved_request(world)
    with pytest.raises(NotFound, match=r"has no retraining policy.*inprod retrain policy add"):
        run_request(request.id, store=world)
    assert requests.get_request(request.id, store=world).status == "approved"


def test_stopping_the_process_mid_training_stops_the_child_and_marks_its_run_killed(
    world: Store,
) -> None:
    """What a server's exit does (training._stop_children runs at exit): the child ends its
    run as killed instead of the exit waiting for the training to finish."""
    add_policy(world, train="retrain_functions:slow", timeout_s="2m")
    request = approved_request(world)
    outcome: list[requests.RequestInfo] = []
    thread = threading.Thread(target=lambda: outcome.append(run_request(request.id, store=world)))
    thread.start()
    name = f"retrain-{ENDPOINT}-{request.id}"
    deadline = time.monotonic() + 60
    while not _runs(world, name) and time.monotonic() < deadline:
        time.sleep(0.1)  # the child's run appears in the store: nothing to wait on but that
    started = time.monotonic()
    training._stop_children()
    thread.join(30)

    assert time.monotonic() - started < training.STOP_S + 5
    (done,) = outcome
    assert done.status == "failed" and "KeyboardInterrupt" in _step(done, "train")["message"]
    (run,) = _runs(world, name)
    assert run.status == "killed"


def _runs(store: Store, name: str) -> list[Any]:
    return [r for r in list_runs(store=store) if r.name == name]


def test_a_run_cut_off_by_the_store_going_away_goes_on_when_run_again(
    world: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_policy(world, **LOOSE)
    request = approved_request(world)

    def store_gone(s: Any, row: Any, name: str, status: str, *args: Any) -> None:
        if (name, status) == ("train", "done"):
            raise StoreUnavailable("cannot reach the store (test)")
        record_step(s, row, name, status, *args)

    monkeypatch.setattr(runner, "record_step", store_gone)
    with pytest.raises(StoreUnavailable):
        run_request(request.id, store=world)
    cut = requests.get_request(request.id, store=world)
    assert cut.status == "running"
    assert [(st["name"], st["status"]) for st in cut.steps] == [
        ("dataset", "done"),
        ("train", "running"),
    ]
    _serves_as_before(world)
    monkeypatch.undo()

    done = run_request(request.id, store=world)

    assert done.status == "deployed"
    assert _step(done, "dataset") == _step(cut, "dataset")
    assert deploy.get_plan(ENDPOINT, store=world).candidate.ref == done.details["candidate"]
