"""Retraining requests: one live request a policy (racing triggers join it), the states a
request may move through, the steps the runner records, and the same over HTTP."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from inprod.errors import Conflict, InprodError, InvalidInput, NotFound
from inprod.retraining import policies, requests
from inprod.serving.http_errors import inprod_error_handler
from inprod.serving.routes_retraining import router
from inprod.store import Store
from inprod.store.tables import AuditEvent, RetrainingRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
from rollout_helpers import ENDPOINT, two_versions

TRAIN = "statistics:mean"  # any importable function passes the policy's check


@pytest.fixture
def policy(store: Store) -> policies.PolicyInfo:
    two_versions(store)
    return policies.add(ENDPOINT, train=TRAIN, triggers=[], actor="ann", store=store)


def _open(store: Store, trigger: str = "manual", **kw) -> requests.RequestInfo:
    return requests.open_request(ENDPOINT, trigger=trigger, reason=f"because {trigger}",
                                 actor="ann", store=store, **kw)  # fmt: skip


def test_a_second_trigger_joins_the_live_request_of_the_policy(policy, store: Store) -> None:
    first = _open(store, "alert:brightness")
    second = _open(store, "new-labels:500")
    assert second.id == first.id and first.policy_id == policy.id
    assert [t["trigger"] for t in second.triggers] == ["alert:brightness", "new-labels:500"]
    assert second.trigger == "alert:brightness" and second.status == "open"
    requests.cancel(first.id, actor="ann", store=store)
    third = _open(store, "schedule:weekly")
    assert third.id != first.id  # the finished one no longer takes triggers


def test_racing_triggers_make_one_request(policy, store: Store) -> None:
    start = threading.Barrier(6)
    opened: list[int] = []
    errors: list[BaseException] = []

    def trigger(i: int) -> None:
        start.wait()
        try:
            opened.append(_open(store, f"new-labels:{i + 1}").id)
        except BaseException as exc:  # surfaced below, with the thread's exception
            errors.append(exc)

    threads = [threading.Thread(target=trigger, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(opened)) == 1
    [row] = requests.list_requests(store=store)
    assert sorted(t["trigger"] for t in row.triggers) == [f"new-labels:{i}" for i in range(1, 7)]


def test_the_loser_of_an_insert_race_joins_the_winner(
    policy, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique live-request key decides when both saw no live request before inserting."""
    winner = _open(store, "alert:brightness")
    real_live = requests._live
    calls = []

    def missed_first(s, policy_id):  # the live request committed just after we looked
        calls.append(policy_id)
        return None if len(calls) == 1 else real_live(s, policy_id)

    monkeypatch.setattr(requests, "_live", missed_first)
    loser = _open(store, "new-labels:10")
    assert loser.id == winner.id and len(calls) == 2
    assert [t["trigger"] for t in loser.triggers] == ["alert:brightness", "new-labels:10"]
    assert len(requests.list_requests(store=store)) == 1


def test_an_alert_makes_one_request_however_often_it_asks(policy, store: Store) -> None:
    first = _open(store, "alert:7", alert_id=7)
    requests.cancel(first.id, store=store)
    again = _open(store, "alert:7", alert_id=7)
    assert again.id == first.id and again.status == "cancelled"


def test_an_alert_joins_a_live_request_once(policy, store: Store) -> None:
    first = _open(store)
    _open(store, "alert:brightness", alert_id=8)  # a policy's alert trigger saw alert 8
    joined = _open(store, "alert:8", alert_id=8)  # and the alert's retrain action asks too
    assert joined.id == first.id
    assert [t["trigger"] for t in joined.triggers] == ["manual", "alert:brightness"]


def test_without_a_policy_requests_do_not_join(store: Store) -> None:
    two_versions(store)
    a, b = _open(store, "alert:1", alert_id=1), _open(store, "alert:2", alert_id=2)
    assert a.id != b.id and a.policy_id is None and b.policy_id is None


def test_opening_a_request_moves_the_policys_labels_mark(policy, store: Store) -> None:
    from rollout_helpers import give_labels, log_predictions

    give_labels(store, log_predictions(store, n=3, version=1, role="primary"), ["ok"] * 3)
    _open(store)
    marks = policies.get_policy(ENDPOINT, store=store).marks
    assert marks["new-labels"]["feedback_id"] == 3


def test_approve_and_cancel_refuse_the_wrong_state_naming_it(policy, store: Store) -> None:
    r = _open(store)
    approved = requests.approve(r.id, actor="bob", store=store)
    assert approved.status == "approved" and approved.details["message"] == "approved by bob"
    with pytest.raises(Conflict, match=f"request {r.id} is approved; only a request that is open"):
        requests.approve(r.id, store=store)
    with store.session() as s:
        requests.move(s, requests.lock_request(s, r.id), "running", actor="worker")
    with pytest.raises(Conflict, match=r"is running \(step none yet\); cancel it with --force"):
        requests.cancel(r.id, store=store)
    assert requests.cancel(r.id, force=True, reason="worker died", store=store).status == (
        "cancelled"
    )
    with pytest.raises(Conflict, match="is cancelled; only a request that is open, approved"):
        requests.cancel(r.id, store=store)
    with pytest.raises(NotFound, match=rf"request 99 not found \(the latest is {r.id}"):
        requests.approve(99, store=store)
    with store.session(write=False) as s:
        kinds = s.scalars(
            select(AuditEvent.kind).where(AuditEvent.subject == f"retraining-request:{r.id}")
        ).all()
    assert kinds == ["retraining.requested", "retraining.approved", "retraining.running",
                     "retraining.cancelled"]  # fmt: skip


def test_approving_a_request_awaiting_approval_starts_its_canary(
    policy, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inprod.retraining import runner

    r = _open(store)
    with store.session() as s:
        row = requests.lock_request(s, r.id)
        requests.move(s, row, "running", actor="runner")
        requests.move(s, row, "awaiting_approval", actor="runner", message="gate passed")
    started = []

    def approve_deploy(request_id: int, *, actor: str, store: Store) -> requests.RequestInfo:
        started.append((request_id, actor))
        return requests.get_request(request_id, store=store)

    monkeypatch.setattr(runner, "approve_deploy", approve_deploy)
    assert requests.approve(r.id, actor="bob", store=store).id == r.id
    assert started == [(r.id, "bob")]


def test_steps_are_recorded_and_a_failed_request_runs_again(policy, store: Store) -> None:
    r = _open(store)
    with store.session() as s:
        row = requests.lock_request(s, r.id)
        requests.move(s, row, "running", actor="runner")
        requests.record_step(s, row, "dataset", "running")
        requests.record_step(s, row, "dataset", "done", "42 new examples", {"dataset": "d@2"})
        requests.record_step(s, row, "train", "running")
        requests.record_step(s, row, "train", "failed", "ValueError: no")
        requests.finish(s, row, "failed", "train: ValueError: no", actor="runner")
    failed = requests.get_request(r.id, store=store)
    assert [(st["name"], st["status"]) for st in failed.steps] == [
        ("dataset", "done"), ("train", "failed")
    ]  # fmt: skip
    assert failed.steps[0]["outputs"] == {"dataset": "d@2"} and failed.finished
    other = _open(store, "schedule:daily")  # the policy is free for a new request meanwhile
    assert other.id != r.id
    with store.session() as s, pytest.raises(Conflict, match=rf"live request \({other.id}"):
        requests.move(s, requests.lock_request(s, r.id), "running", actor="runner")
    requests.cancel(other.id, store=store)
    with store.session() as s:
        row = requests.lock_request(s, r.id)
        requests.move(s, row, "running", actor="runner")
        requests.record_step(s, row, "train", "running")
        requests.record_step(s, row, "train", "done", outputs={"candidate": "inspector@3"})
        requests.finish(s, row, "deployed", "canary started", actor="runner")
    done = requests.get_request(r.id, store=store)
    assert [(st["name"], st["status"]) for st in done.steps] == [
        ("dataset", "done"), ("train", "done")
    ]  # fmt: skip
    with store.session(write=False) as s:
        assert s.get(RetrainingRequest, r.id).active_policy is None
    with store.session() as s, pytest.raises(Conflict, match="is deployed; its steps are over"):
        requests.record_step(s, requests.lock_request(s, r.id), "deploy", "running")


def test_bad_statuses_and_filters_are_refused(policy, store: Store) -> None:
    r = _open(store)
    with store.session() as s:
        row = requests.lock_request(s, r.id)
        with pytest.raises(InvalidInput, match="not a finished status"):
            requests.finish(s, row, "approved")
        with pytest.raises(InvalidInput, match="step status 'ok'"):
            requests.record_step(s, row, "train", "ok")
        with pytest.raises(Conflict, match="is open; it cannot become deployed"):
            requests.move(s, row, "deployed", actor="x")
    with pytest.raises(InvalidInput, match="status 'done' is not one of open, approved"):
        requests.list_requests(status="done", store=store)
    assert [x.id for x in requests.list_requests(status="open", store=store)] == [r.id]
    assert requests.list_requests(endpoint="elsewhere", store=store) == []


# -- over HTTP ----------------------------------------------------------------------------------
@pytest.fixture
def client(policy, store: Store):
    app = FastAPI()
    app.state.inprod = type("State", (), {"store": store})()
    app.add_exception_handler(InprodError, inprod_error_handler)
    app.include_router(router)
    with TestClient(app) as c:
        yield c


def test_requests_over_http(client: TestClient, store: Store) -> None:
    made = client.post("/api/retraining/requests", json={"endpoint": ENDPOINT, "reason": "dark"})
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    assert made.json()["trigger"] == "manual"
    assert [r["id"] for r in client.get("/api/retraining/requests").json()] == [rid]
    assert client.get("/api/retraining/requests", params={"status": "failed"}).json() == []
    assert client.get(f"/api/retraining/requests/{rid}").json()["status"] == "open"
    assert client.post(f"/api/retraining/requests/{rid}/approve").json()["status"] == "approved"
    again = client.post(f"/api/retraining/requests/{rid}/approve")
    assert again.status_code == 409 and "is approved" in again.json()["error"]["message"]
    gone = client.post(f"/api/retraining/requests/{rid}/cancel", json={"reason": "not now"})
    assert gone.json()["status"] == "cancelled"
    assert gone.json()["details"]["message"] == "not now"
    assert client.get("/api/retraining/requests/999").status_code == 404
    bad = client.get("/api/retraining/requests", params={"status": "done"})
    assert bad.status_code == 400
    nowhere = client.post("/api/retraining/requests", json={"endpoint": "nope", "reason": "x"})
    assert nowhere.status_code == 404
