"""Retraining policies: everything checked when written (endpoint, function, monitors,
settings), one a endpoint, audited changes, and the same over HTTP."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from inprod.errors import Conflict, InprodError, InvalidInput, NotFound
from inprod.monitoring import monitors
from inprod.retraining import policies, requests
from inprod.serving.http_errors import inprod_error_handler
from inprod.serving.routes_retraining import router
from inprod.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
from rollout_helpers import ENDPOINT, two_versions

TRAIN = "statistics:mean"  # any importable function passes the policy's check


@pytest.fixture
def served(store: Store) -> Store:
    two_versions(store)
    monitors.add(ENDPOINT, "input.brightness.mean", below=0.35, name="brightness-drift",
                 store=store)  # fmt: skip
    return store


def test_a_policy_keeps_its_checked_triggers_and_settings(served: Store) -> None:
    p = policies.add(
        ENDPOINT, train=TRAIN, approve="auto", actor="ann", store=served,
        triggers=["alert:brightness-drift", "new-labels:500", " schedule:every:6h"],
        settings={"data": "phone-images@3", "require": "accuracy>=champion",
                  "require_slices": ["accuracy>=champion-0.02"], "tags": ["brightness<0.3,line=B"],
                  "label_map": {0: "ok"}, "timeout_s": "30m", "min_labels": "20",
                  "canary": {"steps": "5, 25,100", "interval": "2m", "gates": ["error_rate<=0.01"],
                             "min_requests": 50}},
    )  # fmt: skip
    assert p.triggers == ["alert:brightness-drift", "new-labels:500", "schedule:every:6h"]
    assert p.settings == {
        "data": "phone-images@3", "require": ["accuracy>=champion"],
        "require_slices": ["accuracy>=champion-0.02"], "tags": ["brightness<0.3", "line=B"],
        "label_map": {"0": "ok"}, "timeout_s": 1800.0, "min_labels": 20,
        "canary": {"steps": "5,25,100", "interval": 120.0, "gates": ["error_rate<=0.01"],
                   "min_requests": 50},
    }  # fmt: skip
    assert (p.approve, p.enabled, p.created_by) == ("auto", True, "ann")
    assert policies.get_policy(ENDPOINT, store=served) == p
    assert policies.get_policy(p.id, store=served) == p
    assert policies.list_policies(store=served) == [p]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"endpoint": "phone-inspectr"}, NotFound, "no endpoint 'phone-inspectr'; did you mean"),
        ({"train": "nowhere.at.all:train"}, InvalidInput, "cannot be imported"),
        ({"train": "statistics:nope"}, InvalidInput, "has no attribute 'nope'"),
        ({"train": "train.py"}, InvalidInput, "is not MODULE:FUNCTION"),
        (
            {"triggers": ["alert:brightnes-drift"]},
            NotFound,
            "no monitor 'brightnes-drift'; did you mean 'brightness-drift'",
        ),
        ({"triggers": ["labels:5"]}, InvalidInput, "is not one of alert:MONITOR"),
        ({"triggers": ["new-labels:0"]}, InvalidInput, "1 or more"),
        ({"triggers": ["new-labels:many"]}, InvalidInput, "whole number"),
        ({"triggers": ["schedule:monthly"]}, InvalidInput, "hourly, daily, weekly or every"),
        ({"triggers": ["schedule:every:5s"]}, InvalidInput, "longer period"),
        ({"triggers": ["schedule:every:soon"]}, InvalidInput, "not a duration"),
        ({"triggers": ["new-labels:5", "new-labels:9"]}, InvalidInput, "at most one new-labels"),
        ({"triggers": ["schedule:daily", "schedule:weekly"]}, InvalidInput, "at most one sched"),
        ({"approve": "sometimes"}, InvalidInput, "not manual"),
        ({"settings": {"dta": "x"}}, InvalidInput, "unknown setting(s) 'dta'"),
        ({"settings": {"data": "a@b@c"}}, InvalidInput, "is not NAME"),
        ({"settings": {"require": ["accuracy>>1"]}}, InvalidInput, "require: requirement"),
        ({"settings": {"canary": {"steps": "50,25"}}}, InvalidInput, "must increase"),
        ({"settings": {"canary": {"gates": ["speed<1"]}}}, InvalidInput, "unknown metric"),
        ({"settings": {"canary": {"every": "2m"}}}, InvalidInput, "unknown canary setting"),
        ({"settings": {"timeout_s": "0s"}}, InvalidInput, "more than 0"),
        ({"settings": {"min_labels": -1}}, InvalidInput, "whole number"),
        ({"settings": {"label_map": ["ok"]}}, InvalidInput, "label_map must map"),
        ({"settings": {"tags": [""]}}, InvalidInput, "non-empty strings"),
    ],
)
def test_a_policy_that_could_not_work_is_refused(served, kwargs, error, match) -> None:
    args = {"endpoint": ENDPOINT, "train": TRAIN, "triggers": [], **kwargs}
    with pytest.raises(error, match=re.escape(match)):
        policies.add(args.pop("endpoint"), store=served, **args)
    assert policies.list_policies(store=served) == []


def test_one_policy_an_endpoint(served: Store) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=[], store=served)
    with pytest.raises(Conflict, match=r"already has a retraining policy .* policy update"):
        policies.add(ENDPOINT, train=TRAIN, triggers=["new-labels:5"], store=served)


def test_updates_are_checked_merged_and_audited(served: Store) -> None:
    settings = {"canary": {"steps": "10,100"}, "min_labels": 3}
    policies.add(ENDPOINT, train=TRAIN, triggers=["new-labels:5"], settings=settings, store=served)
    p = policies.update(ENDPOINT, approve="auto", triggers=["alert:brightness-drift"],
                        settings={"canary": {"interval": "5m"}, "min_labels": None},
                        reason="trust it", actor="bob", store=served)  # fmt: skip
    assert p.settings == {"canary": {"steps": "10,100", "interval": 300.0}}
    assert (p.approve, p.triggers) == ("auto", ["alert:brightness-drift"])
    assert not policies.update(ENDPOINT, enabled=False, store=served).enabled
    with pytest.raises(InvalidInput, match="nothing to change"):
        policies.update(ENDPOINT, approve="auto", store=served)
    with pytest.raises(NotFound, match="no monitor 'gone'"):
        policies.update(ENDPOINT, triggers=["alert:gone"], store=served)
    [created, updated, disabled] = policies.history(ENDPOINT, store=served)
    assert (created["kind"], created["details"]["policy"]["triggers"]) == (
        "retraining.policy.created", ["new-labels:5"]
    )  # fmt: skip
    assert updated["actor"] == "bob" and updated["details"]["reason"] == "trust it"
    assert updated["details"]["before"]["approve"] == "manual"
    assert updated["details"]["after"]["approve"] == "auto"
    assert disabled["details"]["after"]["enabled"] is False


def test_a_policy_with_a_live_request_cannot_be_removed(served: Store) -> None:
    policies.add(ENDPOINT, train=TRAIN, triggers=[], store=served)
    r = requests.open_request(ENDPOINT, trigger="manual", reason="dark", store=served)
    with pytest.raises(Conflict, match=f"live request .{r.id}, open.; cancel it first"):
        policies.remove(ENDPOINT, store=served)
    requests.cancel(r.id, store=served)
    assert policies.remove(ENDPOINT, actor="ann", store=served).endpoint == ENDPOINT
    with pytest.raises(NotFound, match="no retraining policy for 'phone-inspector'"):
        policies.get_policy(ENDPOINT, store=served)
    assert requests.get_request(r.id, store=served).status == "cancelled"  # its story stays


# -- over HTTP ----------------------------------------------------------------------------------
@pytest.fixture
def client(served: Store):
    app = FastAPI()
    app.state.inprod = type("State", (), {"store": served})()
    app.add_exception_handler(InprodError, inprod_error_handler)
    app.include_router(router)
    with TestClient(app) as c:
        yield c


def test_policies_over_http(client: TestClient) -> None:
    body = {"endpoint": ENDPOINT, "train": TRAIN, "triggers": ["alert:brightness-drift"],
            "settings": {"canary": {"steps": "5,100"}}}  # fmt: skip
    made = client.post("/api/retraining/policies", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "api"
    assert [p["endpoint"] for p in client.get("/api/retraining/policies").json()] == [ENDPOINT]
    changed = client.patch(f"/api/retraining/policies/{ENDPOINT}",
                           json={"approve": "auto", "reason": "trusted"})  # fmt: skip
    assert changed.json()["approve"] == "auto"
    assert client.get(f"/api/retraining/policies/{ENDPOINT}").json()["approve"] == "auto"
    kinds = [e["kind"] for e in client.get(f"/api/retraining/policies/{ENDPOINT}/history").json()]
    assert kinds == ["retraining.policy.created", "retraining.policy.updated"]
    clash = client.post("/api/retraining/policies", json=body)
    assert clash.status_code == 409
    bad = client.patch(f"/api/retraining/policies/{ENDPOINT}", json={"approve": "never"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "approve"
    assert client.delete(f"/api/retraining/policies/{ENDPOINT}").status_code == 200
    assert client.get(f"/api/retraining/policies/{ENDPOINT}").status_code == 404
    unknown = client.post("/api/retraining/policies", json={**body, "extra": 1})
    assert unknown.status_code == 422
