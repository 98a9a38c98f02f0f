"""The server's retraining worker: triggers, auto approval and one run at a time, leader only,
never on the event loop."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from inprod import deploy, endpoints
from inprod.retraining import policies, requests
from inprod.retraining.requests import RequestInfo
from inprod.retraining.worker import RetrainingWorker
from inprod.rollout.leader import Leadership
from inprod.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
from rollout_helpers import ENDPOINT, give_labels, log_predictions, two_versions

TRAIN = "statistics:mean"  # any importable function passes the policy's check
OTHER = "elsewhere"


class _Follower(Leadership):
    def try_acquire(self) -> bool:  # another replica leads
        return False


class FakeRunner:
    """Stands in for the runner: records what it ran and deploys, or waits to be let go."""

    def __init__(self, store: Store, *, hold: bool = False) -> None:
        self.store = store
        self.ran: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, request_id: int, *, actor: str, store: Store) -> RequestInfo:
        self.ran.append(request_id)
        self.started.set()
        self.release.wait(10)
        with store.session() as s:
            row = requests.lock_request(s, request_id)
            requests.move(s, row, "running", actor=actor)
            requests.finish(s, row, "deployed", "canary started", actor=actor)
        return requests.get_request(request_id, store=store)


@pytest.fixture
def served(store: Store) -> Store:
    two_versions(store)
    endpoints.create(OTHER, "inspector@1", store=store)
    return store


@pytest.fixture
def leader(store: Store) -> Iterator[Leadership]:
    leadership = Leadership(store)
    yield leadership
    leadership.release()


def _labels(store: Store, n: int, endpoint: str = ENDPOINT) -> None:
    ids = log_predictions(store, n=n, version=1, role="primary", endpoint=endpoint)
    give_labels(store, ids, ["scratch"] * n)


def test_an_auto_policy_is_triggered_approved_and_run(served: Store, leader: Leadership) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=["new-labels:3"], approve="auto", store=served)
    runner = FakeRunner(served)
    worker = RetrainingWorker(served, tick_s=0, leadership=leader, run=runner)
    assert worker.tick() == []
    _labels(served, 3)
    [opened] = worker.tick()
    assert worker.wait(10)
    assert runner.ran == [opened.id]
    done = requests.get_request(opened.id, store=served)
    assert done.status == "deployed" and done.created_by == "retraining"
    worker.tick()
    assert runner.ran == [opened.id]  # nothing left to run


def test_a_manual_policy_waits_for_a_person(served: Store, leader: Leadership) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=["new-labels:3"], store=served)
    runner = FakeRunner(served)
    worker = RetrainingWorker(served, tick_s=0, leadership=leader, run=runner)
    _labels(served, 3)
    [opened] = worker.tick()
    worker.tick()
    assert worker.wait(10) and runner.ran == []
    assert requests.get_request(opened.id, store=served).status == "open"
    requests.approve(opened.id, actor="ann", store=served)
    worker.tick()
    assert worker.wait(10) and runner.ran == [opened.id]


def test_a_disabled_auto_policy_is_not_approved(served: Store, leader: Leadership) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=[], approve="auto", store=served)
    policies.update(ENDPOINT, enabled=False, store=served)
    r = requests.open_request(ENDPOINT, trigger="manual", reason="now", store=served)
    RetrainingWorker(served, tick_s=0, leadership=leader, run=FakeRunner(served)).tick()
    assert requests.get_request(r.id, store=served).status == "open"


def test_requests_run_one_at_a_time(served: Store, leader: Leadership) -> None:
    for endpoint in (ENDPOINT, OTHER):
        policies.add(endpoint, train=TRAIN, triggers=[], approve="auto", store=served)
    first = requests.open_request(ENDPOINT, trigger="manual", reason="a", store=served)
    second = requests.open_request(OTHER, trigger="manual", reason="b", store=served)
    runner = FakeRunner(served, hold=True)
    worker = RetrainingWorker(served, tick_s=0, leadership=leader, run=runner)
    worker.tick()
    assert runner.started.wait(10)
    worker.tick()  # the first still runs: the second waits, approved
    assert runner.ran == [first.id] and worker.running == first.id
    assert requests.get_request(second.id, store=served).status == "approved"
    runner.release.set()
    assert worker.wait(10)
    worker.tick()
    assert worker.wait(10) and runner.ran == [first.id, second.id]
    assert worker.running is None


def test_a_run_that_breaks_is_logged_and_the_worker_goes_on(
    served: Store, leader: Leadership, caplog: pytest.LogCaptureFixture
) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=[], approve="auto", store=served)
    r = requests.open_request(ENDPOINT, trigger="manual", reason="a", store=served)

    def broken(request_id: int, *, actor: str, store: Store) -> RequestInfo:
        raise RuntimeError("the runner has a bug")

    worker = RetrainingWorker(served, tick_s=0, leadership=leader, run=broken)
    worker.tick()
    assert worker.wait(10)
    assert f"retraining request {r.id} failed" in caplog.text
    failed = requests.get_request(r.id, store=served)
    assert failed.status == "failed"  # not retried, and refused, every tick
    assert failed.details["message"] == "did not run: RuntimeError: the runner has a bug"
    assert worker.tick() == [] and worker.passes == 2


def test_a_follower_does_nothing(served: Store) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=["new-labels:1"], approve="auto", store=served)
    _labels(served, 2)
    runner = FakeRunner(served)
    follower = RetrainingWorker(served, tick_s=0, leadership=_Follower(served), run=runner)
    assert follower.tick() == [] and runner.ran == []
    assert requests.list_requests(store=served) == []


def test_the_loop_starts_and_stops(served: Store, leader: Leadership) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=[], approve="auto", store=served)
    r = requests.open_request(ENDPOINT, trigger="manual", reason="a", store=served)
    runner = FakeRunner(served)
    worker = RetrainingWorker(served, tick_s=0.05, leadership=leader, run=runner)

    async def run() -> None:
        await worker.start()
        while worker.passes < 2:
            await asyncio.sleep(0.02)
        await worker.stop()

    asyncio.run(run())
    assert runner.ran == [r.id]
    assert requests.get_request(r.id, store=served).status == "deployed"


def test_off_when_the_tick_is_zero(served: Store, leader: Leadership) -> None:
    worker = RetrainingWorker(served, tick_s=0, leadership=leader)

    async def run() -> None:
        await worker.start()
        await worker.stop()

    asyncio.run(run())
    assert worker.passes == 0


def test_new_labels_end_in_a_canary_with_no_person_on_the_real_runner(
    store: Store, leader: Leadership, tmp_path: Path
) -> None:
    from retrain_functions import ENDPOINT as PHONES
    from retrain_functions import add_policy, log_labelled, serve_champion

    serve_champion(store, tmp_path / "phones")  # trained on well-lit phones
    add_policy(store)  # auto
    policies.update(PHONES, triggers=["new-labels:200"], store=store)
    log_labelled(store, 160, source="inspector")  # darker phones, labelled
    log_labelled(store, 80, seed=12, source="review:ana")
    worker = RetrainingWorker(store, tick_s=0, leadership=leader)
    [opened] = worker.tick()
    assert opened.trigger == "new-labels:200"
    assert worker.wait(120)
    done = requests.get_request(opened.id, store=store)
    assert done.status == "deployed", done.details.get("message")
    assert deploy.get_plan(PHONES, store=store).candidate.ref == done.details["candidate"]
