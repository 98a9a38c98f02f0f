"""/api routes for deployment plans and automation, through the real app in-process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from inprod import deploy, endpoints, models, tokens
from inprod.config import load_settings
from inprod.serving.app import create_app
from inprod.store import Store
from inprod.store.tables import Feedback, Prediction

EP = "phone-inspector"
API = f"/api/endpoints/{EP}"


@pytest.fixture
def served(store: Store) -> None:
    """``tiny@1`` serves the endpoint (pinned); ``tiny@2`` and ``wide@1`` (8 features) wait."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8))
    y = (X[:, 0] > 0).astype(int)
    for c in (1.0, 0.1):
        models.register(
            "tiny", LogisticRegression(C=c).fit(X[:, :4], y), sample=X[:3, :4], store=store
        )
    models.register("wide", LogisticRegression().fit(X, y), sample=X[:3], store=store)
    endpoints.create(EP, "tiny@1", store=store)


def _app(store: Store, *, auth: bool = False) -> Any:
    # the controller is left off so that nothing but the test changes the plan
    settings = replace(load_settings(), rollout_tick_seconds=0.0)
    return create_app(store, settings=settings, auth=auth)


@pytest.fixture
def client(store: Store, served: None) -> Iterator[TestClient]:
    with TestClient(_app(store)) as c:
        yield c


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_plan_shows_state_and_what_the_controller_does_next(client: TestClient) -> None:
    plan = client.get(f"{API}/plan").json()
    assert (plan["state"], plan["primary"], plan["primary_version"]) == (
        "stable",
        "tiny@1",
        "tiny@1",
    )
    assert plan["judgement"]["action"] == "none"
    assert plan["allowed_actions"] == ["shadow", "canary", "blue_green", "automation"]
    assert _error(client.get("/api/endpoints/nope/plan"), 404)["message"].startswith(
        "no endpoint 'nope'"
    )


def test_canary_deploy_steer_and_history(client: TestClient, store: Store) -> None:
    body = {"canary": "tiny@2", "steps": [10, 50, 100], "interval": "5m",
            "gates": ["error_rate<=0.02"], "min_requests": 30, "reason": "v2 on 10%"}  # fmt: skip
    plan = client.post(f"{API}/deploy", json=body).json()
    assert plan["state"] == "ramping"
    assert (plan["candidate"]["weight"], plan["candidate"]["interval_s"]) == (0.1, 300.0)
    judged = client.get(f"{API}/plan").json()["judgement"]
    assert judged["action"] == "wait" and "0 of 30 canary requests" in judged["reason"]

    assert client.post(f"{API}/plan/pause", json={"reason": "lunch"}).json()["state"] == "paused"
    assert client.post(f"{API}/plan/resume").json()["state"] == "ramping"
    promoted = client.post(f"{API}/plan/promote", json={"reason": "looks fine"}).json()
    assert (promoted["state"], promoted["primary"]) == ("promoted", "tiny@2")

    error = _error(client.post(f"{API}/plan/promote"), 409)
    assert error["message"].startswith("nothing to promote: endpoint 'phone-inspector' is promoted")
    error = _error(client.post(f"{API}/plan/explode"), 404)
    assert (
        "no plan action 'explode'; use one of promote, pause, resume, abort, rollback"
        in (error["message"])
    )

    events = client.get(f"{API}/plan/history").json()
    assert [(e["action"], e["actor"], e["reason"]) for e in events] == [
        ("canary", "api", "v2 on 10%"),
        ("pause", "api", "lunch"),
        ("resume", "api", ""),
        ("promote", "api", "looks fine"),
    ]
    assert [e["action"] for e in client.get(f"{API}/plan/history?limit=2").json()] == [
        "resume", "promote",
    ]  # fmt: skip
    assert _error(client.get(f"{API}/plan/history?limit=0"), 422)["field"] == "query.limit"


def test_blue_green_and_rollback_take_effect_on_this_server_at_once(client: TestClient) -> None:
    assert client.get(API).json()["serving"] == "tiny@1"
    plan = client.post(f"{API}/deploy", json={"blue_green": "tiny@2", "keep_previous": 60}).json()
    assert (plan["state"], plan["previous"]["ref"]) == ("promoted", "tiny@1")
    assert client.get(API).json()["serving"] == "tiny@2"
    assert client.post(f"{API}/plan/rollback", json={"reason": "p99"}).json()["state"] == (
        "rolled_back"
    )
    assert client.get(API).json()["serving"] == "tiny@1"


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({}, 422, "give exactly one of shadow, canary, blue_green"),
        ({"shadow": "tiny@2", "canary": "tiny@2"}, 422, "(got shadow and canary)"),
        ({"shadow": "tiny@2", "steps": [5, 100]}, 422, "steps applies only to canary"),
        ({"shadow": "tiny@2", "colour": "red"}, 422, "colour"),
        ({"canary": "tiny@2", "steps": [5, 50]}, 400, "must end at 100"),
        ({"canary": "tiny@2", "steps": "10,5,100"}, 400, "must increase"),
        ({"canary": "tiny@2", "gates": ["p99<=3"]}, 400, "unknown metric 'p99'"),
        ({"canary": "tiny@9"}, 404, "no version 9"),
        ({"canary": "wide@1"}, 400, "wide@1 is not compatible with tiny@1"),
        ({"shadow": "tiny@1"}, 409, "already serves endpoint 'phone-inspector'"),
    ],
)  # fmt: skip
def test_bad_deploy_requests_are_refused_and_change_nothing(
    client: TestClient, store: Store, body: dict, status: int, message: str
) -> None:
    assert message in _error(client.post(f"{API}/deploy", json=body), status)["message"]
    plan = deploy.get_plan(EP, store=store)
    assert (plan.state, plan.revision) == ("stable", 0)


def test_automation_read_change_and_suggest(client: TestClient, store: Store) -> None:
    assert client.get(f"{API}/automation").json()["mode"] == "full"
    changed = client.put(
        f"{API}/automation",
        json={"mode": "partial", "threshold": 0.9, "audit_rate": 0.1, "reason": "queue staffed"},
    ).json()
    assert changed == {
        "endpoint": EP, "mode": "partial", "threshold": 0.9, "audit_rate": 0.1,
        "review_disagreements": True,
    }  # fmt: skip
    assert client.get(f"{API}/automation").json() == changed
    assert (
        _error(client.put(f"{API}/automation", json={"mode": "partial", "threshold": 1.5}), 400)[
            "field"
        ]
        == "threshold"
    )
    assert _error(client.put(f"{API}/automation", json={"threshold": 0.5}), 422)["field"] == "mode"
    assert client.get(f"{API}/automation").json()["threshold"] == 0.9

    error = _error(client.get(f"{API}/automation/suggest?target_precision=0.9"), 400)
    assert "feedback label yet" in error["message"]
    now = datetime.now(UTC)
    with store.session() as s:
        for conf, label in [(0.5, "0"), (0.7, "1"), (0.9, "1"), (0.95, "0")]:
            pid = uuid.uuid4().hex
            s.add(
                Prediction(
                    id=pid,
                    time=now,
                    endpoint=EP,
                    model_name="tiny",
                    model_version=1,
                    role="primary",
                    latency_ms=1.0,
                    outputs={"output": 1},
                    confidence=conf,
                )
            )
            s.add(Feedback(prediction_id=pid, label=label))  # fmt: skip
    result = client.get(f"{API}/automation/suggest?target_precision=0.6").json()
    assert (result["threshold"], result["coverage"], result["labelled"]) == (0.7, 0.75, 4)
    assert result["command"] == "inprod automation set phone-inspector partial --threshold 0.7"
    assert _error(client.get(f"{API}/automation/suggest?target_precision=2"), 400)["field"] == (
        "target_precision"
    )
    assert _error(client.get(f"{API}/automation/suggest"), 422)["field"] == "query.target_precision"


def test_compare_route(client: TestClient, store: Store) -> None:
    assert "no shadow or canary predictions" in _error(client.get(f"{API}/compare"), 400)["message"]
    client.post(f"{API}/deploy", json={"shadow": "tiny@2"})
    now = datetime.now(UTC)
    with store.session() as s:
        pid = uuid.uuid4().hex
        s.add(
            Prediction(
                id=pid,
                time=now,
                endpoint=EP,
                model_name="tiny",
                model_version=1,
                role="primary",
                latency_ms=3.0,
                outputs={"output": 1},
            )
        )
        s.add(Prediction(id=uuid.uuid4().hex, time=now, endpoint=EP, model_name="tiny",
                         model_version=2, role="shadow", latency_ms=4.0, outputs={"output": 0},
                         primary_id=pid))  # fmt: skip
    result = client.get(f"{API}/compare").json()
    assert (result["mode"], result["pairs"], result["disagreements"]) == ("shadow", 1, 1)
    assert [s["latency_p50_ms"] for s in result["sides"]] == [3.0, 4.0]
    assert _error(client.get(f"{API}/compare?model=tiny@7"), 404)["message"].startswith(
        "model 'tiny' has no version 7"
    )


def test_changes_are_audited_with_the_token_and_need_the_operator_role(
    store: Store, served: None
) -> None:
    operator = tokens.create("operator", name="release-bot", store=store)
    predictor = tokens.create("predict", name="camera", store=store)
    with TestClient(_app(store, auth=True)) as client:
        as_operator = {"Authorization": f"Bearer {operator.secret}"}
        as_predictor = {"Authorization": f"Bearer {predictor.secret}"}
        assert client.get(f"{API}/plan", headers=as_predictor).status_code == 200
        refused = client.post(f"{API}/deploy", json={"shadow": "tiny@2"}, headers=as_predictor)
        assert refused.status_code == 403
        ok = client.post(f"{API}/deploy", json={"shadow": "tiny@2"}, headers=as_operator)
        assert ok.status_code == 200, ok.text
        client.put(f"{API}/automation", json={"mode": "assist"}, headers=as_operator)
    assert [e.actor for e in deploy.history(EP, store=store)] == [
        f"token:{operator.info.id}",
        f"token:{operator.info.id}",
    ]
