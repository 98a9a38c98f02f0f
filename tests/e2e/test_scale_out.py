"""The scale-out run (docs/scale-out.md): two ``inprod serve`` replicas on one PostgreSQL store,
under round-robin load the whole time, while labelled feedback opens a retraining request, a
person approves it on one replica and its canary on the other, the leader trains, judges and
canaries the candidate, and its controller promotes it. No request fails, every answer is logged,
and one replica does all the leader's work."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import httpx
import pytest
from e2e_server import HERE, Server, run_server
from scale_out_helpers import RoundRobinLoad, wait_for
from sqlalchemy import func, select

sys.path.insert(0, str(HERE.parent / "retraining"))
from retrain_functions import DARK_SHIFT, ENDPOINT, GOOD, LABEL_MAP, LABELS, MODEL, serve_champion

from inprod import deploy, models
from inprod.quickstart import phone_data
from inprod.retraining import policies
from inprod.store import Store
from inprod.store.tables import AuditEvent, Prediction

LABELLED = 240  # dark phones labelled through /v1 feedback (as many as tests/retraining use)
TRIGGER = "new-labels:200"
CANARY = {"steps": "50,100", "interval": "3s", "min_requests": 5}
TICKS = {
    "INPROD_REFRESH_SECONDS": "1",
    "INPROD_ROLLOUT_TICK_SECONDS": "1",
    "INPROD_MONITOR_TICK_SECONDS": "1",
    "INPROD_RETRAIN_TICK_SECONDS": "1",
}
LEADS = "this process leads the rollout controller"


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_two_replicas_under_load_retrain_canary_and_promote_with_one_leader(
    store: Store, tmp_path: Path
) -> None:
    serve_champion(store, tmp_path / "phones")  # trained on well-lit phones
    policies.add(
        ENDPOINT, train=GOOD, triggers=[TRIGGER], approve="manual",
        settings={"label_map": LABEL_MAP, "canary": CANARY}, actor="test", store=store,
    )  # fmt: skip
    phones = phone_data.generate(LABELLED, seed=11, dark_shift=DARK_SHIFT)  # the light dimmed
    instances = phone_data.features(phones.images).round(6).tolist()
    labels = [LABELS[int(t)] for t in phones.truth]
    candidate = f"{MODEL}@2"
    with (
        run_server(store, tmp_path / "a", "--log-level", "info", **TICKS) as a,
        run_server(store, tmp_path / "b", "--log-level", "info", **TICKS) as b,
    ):
        replicas = [a, b]
        with RoundRobinLoad([a.url, b.url], ENDPOINT, instances, labels) as load:
            opened = wait_for(lambda: _latest_request(a), f"the {TRIGGER} trigger", 30)
            assert opened["status"] == "open" and opened["trigger"] == TRIGGER, opened
            request_id = opened["id"]
            assert _approve(a, request_id)["status"] == "approved"
            waiting = wait_for(lambda: _settled(b, request_id), "training and the gate", 90)
            assert waiting["status"] == "awaiting_approval", waiting["details"].get("message")
            assert waiting["details"]["candidate"] == candidate
            assert _approve(b, request_id)["status"] == "deployed"
            wait_for(
                lambda: deploy.get_plan(ENDPOINT, store=store).state == "promoted",
                "the controller to ramp and promote the canary", 30,
            )  # fmt: skip
            wait_for(
                lambda: all(load.last_version.get(s.url) == candidate for s in replicas),
                "both replicas to answer with the candidate", 10,
            )  # fmt: skip
            after = load.served
            wait_for(lambda: load.served > after + 50, "traffic after the promotion", 10)
        logs = {s.url: s.log() for s in replicas}  # before a stop hands leadership over
        for server in replicas:
            # uvicorn re-raises SIGTERM after its graceful shutdown
            assert server.stop() in (0, -signal.SIGTERM), server.log()
        written = {s.url: _written(s) for s in replicas}

    assert load.failures == []
    assert load.labelled == LABELLED and all(n > 0 for n in load.served_by.values())
    with store.session(write=False) as s:
        logged = s.scalar(
            select(func.count()).select_from(Prediction).where(Prediction.endpoint == ENDPOINT)
        )
    assert logged == load.served == sum(written.values()), (load.served_by, written)

    # one leader: one replica took the lock and logged every step the leader takes
    (leader,) = [url for url, text in logs.items() if LEADS in text]
    (follower,) = [url for url in logs if url != leader]
    for acted in (
        f"retraining request {request_id} of {ENDPOINT}: ",  # the trigger fired
        f"retraining request {request_id}: awaiting_approval",  # trained and judged
        f"{ENDPOINT}: advance",  # the canary's steps
    ):
        assert acted in logs[leader] and acted not in logs[follower], acted
    # and its work was done once: one candidate trained, each canary step taken once
    assert [v.version for v in models.list_versions(MODEL, store=store)] == [1, 2]
    plan_events = [(e.actor, e.action, e.to_state) for e in deploy.history(ENDPOINT, store=store)]
    assert plan_events == [
        ("api", "canary", "ramping"),  # the person's approval starts it, on the replica asked
        ("controller", "advance", "ramping"),  # 50% -> 100%
        ("controller", "advance", "promoted"),
    ], plan_events
    with store.session(write=False) as s:
        story = s.execute(
            select(AuditEvent.actor, AuditEvent.kind)
            .where(AuditEvent.subject == f"retraining-request:{request_id}")
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in story] == [
        ("retraining", "retraining.requested"),  # by the trigger, checked once
        ("api", "retraining.approved"),
        ("retraining-worker", "retraining.running"),
        ("retraining-worker", "retraining.awaiting_approval"),
        ("api", "retraining.running"),
        ("api", "retraining.deployed"),
    ], story
    plan = deploy.get_plan(ENDPOINT, store=store)
    assert plan.state == "promoted" and plan.candidate is None
    assert models.get(plan.primary_ref, store=store).ref == candidate


def _latest_request(server: Server) -> dict | None:
    r = httpx.get(f"{server.url}/api/retraining/requests", params={"endpoint": ENDPOINT})
    assert r.status_code == 200, r.text
    return next(iter(r.json()), None)


def _settled(server: Server, request_id: int) -> dict | None:
    """The request once it stops running (the worker's run ends in one of these)."""
    r = httpx.get(f"{server.url}/api/retraining/requests/{request_id}")
    assert r.status_code == 200, r.text
    found = r.json()
    return found if found["status"] in ("awaiting_approval", "failed", "rejected") else None


def _approve(server: Server, request_id: int) -> dict:
    r = httpx.post(f"{server.url}/api/retraining/requests/{request_id}/approve", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _written(server: Server) -> int:
    """Predictions the replica says it wrote, from its last log line on stopping."""
    (stopped,) = re.findall(r"stopped; (\d+) prediction\(s\) written, 0 dropped", server.log())
    return int(stopped)
