"""/api/monitors, /api/alerts and metric series over HTTP: the same rules and refusals as the
command line, JSON errors for bad input, operator role for changes."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inprod import endpoints, tokens
from inprod.serving.app import create_app
from inprod.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "monitoring"))
from monitor_helpers import ENDPOINT, write_minutes


@pytest.fixture
def client(store: Store, tiny_model: str):
    endpoints.create(ENDPOINT, tiny_model, store=store)
    with TestClient(create_app(store)) as c:
        yield c


def test_monitors_and_alerts_over_http(client: TestClient, store: Store) -> None:
    made = client.post("/api/monitors", json={"endpoint": ENDPOINT, "metric": "error_rate",
                                              "above": 0.1, "window": "1m",
                                              "actions": ["retrain"]})  # fmt: skip
    assert made.status_code == 201, made.text
    monitor_id = made.json()["id"]
    assert [m["id"] for m in client.get("/api/monitors").json()] == [monitor_id]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write_minutes(store, now - timedelta(minutes=2), 2, n=20, errors=10)
    [result] = client.post("/api/monitors/evaluate").json()
    assert result["change"] == "fired"
    [alert] = client.get("/api/alerts", params={"state": "open"}).json()
    acked = client.post(f"/api/alerts/{alert['id']}/ack", json={"note": "on it"})
    assert acked.json()["state"] == "acknowledged"
    assert client.post(f"/api/alerts/{alert['id']}/ack", json={}).status_code == 409
    tuned = client.patch(f"/api/monitors/{monitor_id}", json={"above": 0.6, "reason": "noisy"})
    assert tuned.json()["rule"]["above"] == 0.6
    history = client.get(f"/api/monitors/{monitor_id}/history").json()
    assert [e["kind"] for e in history] == ["monitor.created", "monitor.tuned"]
    series = client.get(f"/api/endpoints/{ENDPOINT}/metrics/error_rate",
                        params={"since": "5m"}).json()  # fmt: skip
    values = [p["value"] for p in series["points"]]
    assert len(values) == 5 and values.count(0.5) == 2 and values.count(None) == 3
    assert client.delete(f"/api/monitors/{monitor_id}").status_code == 200
    assert client.get("/api/alerts").json() == []


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"endpoint": "nope", "metric": "qps", "above": 1}, 404, "not found"),
        ({"endpoint": ENDPOINT, "metric": "qps"}, 400, "no threshold"),
        ({"endpoint": ENDPOINT, "metric": "error_rate", "above": 5}, 400, "never be above"),
        ({"endpoint": ENDPOINT, "metric": "qps", "above": 1, "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_monitors_get_a_json_error(client: TestClient, body, status, match) -> None:
    response = client.post("/api/monitors", json=body)
    assert response.status_code == status, response.text
    assert match in response.text
    assert client.get("/api/monitors").json() == []


def test_metric_series_refuse_unknown_endpoints_and_too_many_points(client: TestClient) -> None:
    assert client.get("/api/endpoints/nope/metrics/qps").status_code == 404
    too_many = client.get(f"/api/endpoints/{ENDPOINT}/metrics/qps", params={"since": "30d"})
    assert too_many.status_code == 400 and "larger step" in too_many.text
    assert client.get(f"/api/endpoints/{ENDPOINT}/metrics/bogus").status_code == 400
    drift = client.get(f"/api/endpoints/{ENDPOINT}/metrics/drift.x0.psi")
    assert drift.status_code == 400 and "reference" in drift.text


def test_changing_monitors_needs_the_operator_role(store: Store, tiny_model: str) -> None:
    endpoints.create(ENDPOINT, tiny_model, store=store)
    viewer = tokens.create("predict", name="viewer", store=store).secret
    with TestClient(create_app(store, auth=True)) as c:
        headers = {"Authorization": f"Bearer {viewer}"}
        assert c.get("/api/monitors", headers=headers).status_code == 200
        refused = c.post("/api/monitors", headers=headers,
                         json={"endpoint": ENDPOINT, "metric": "qps", "above": 1})  # fmt: skip
        assert refused.status_code == 403


def test_headers_longer_than_the_log_keeps_are_refused_before_the_model(client, store) -> None:
    body = {"instances": [[0.1, 0.2, 0.3, 0.4]]}
    url = f"/v1/endpoints/{ENDPOINT}/predict"
    for header, limit in (("X-Trace-Id", 64), ("X-Request-Key", 200)):
        refused = client.post(url, json=body, headers={header: "t" * (limit + 1)})
        assert refused.status_code == 400 and header in refused.json()["error"]["message"]
        assert client.post(url, json=body, headers={header: "t" * limit}).status_code == 200
