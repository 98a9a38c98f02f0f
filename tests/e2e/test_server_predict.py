"""The REST data plane against a real server: exact outputs, every bad input, failures contained."""

from __future__ import annotations

import asyncio
import re

import httpx
import numpy as np
import orjson
import pytest

from inprod.review.feedback import count_feedback


def post(server, path: str, body, **headers) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers.setdefault("content-type", "application/json")
    return httpx.post(server.url + path, content=content, headers=headers, timeout=30)


def test_predictions_equal_the_models_own_probabilities(served) -> None:
    server, _, data = served
    X = data["X"][:10]
    r = post(server, "/v1/endpoints/tiny/predict", {"instances": X.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == "tiny@1" and body["endpoint"] == "tiny"
    probs = np.array(
        [[p["probabilities"]["0"], p["probabilities"]["1"]] for p in body["predictions"]]
    )
    np.testing.assert_allclose(probs, data["proba"][:10], rtol=0, atol=1e-12)
    assert [p["output"] for p in body["predictions"]] == data["proba"][:10].argmax(1).tolist()
    assert len(set(body["prediction_ids"])) == 10
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in body["prediction_ids"])


@pytest.mark.parametrize(
    "body, content_type, status, match, field",
    [
        (b"{not json", "application/json", 400, "not valid JSON", "body"),
        (b"", "application/json", 400, "empty", "body"),
        (b'{"instances": [[1]]}', "text/plain", 415, "application/json", "content-type"),
        ({"rows": []}, "application/json", 422, '"instances"', "instances"),
        ({"instances": []}, "application/json", 422, "empty", "instances"),
        ({"instances": {"a": 1}}, "application/json", 422, "list of rows", "instances"),
        ({"instances": [[0.0] * 20], "extra": 1}, "application/json", 422, "extra", "extra"),
        ({"instances": [[0.0] * 19]}, "application/json", 422, "size 19 on axis 1", "inputs"),
        ({"instances": [[0.0] * 20, [0.0] * 19]}, "application/json", 422, "instances[1]", None),
        ({"instances": [[None] + [0.0] * 19]}, "application/json", 422, "null", "instances[0][0]"),
        (
            {"instances": [["x"] + [0.0] * 19]},
            "application/json",
            422,
            "str 'x'",
            "instances[0][0]",
        ),
        ({"instances": [{"a": 1.0}]}, "application/json", 422, "send rows as arrays", "instances"),
        ({"instances": [[0.0] * 20] * 1001}, "application/json", 413, "at most 1000", "instances"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(served, body, content_type, status, match, field):
    server = served[0]
    r = post(server, "/v1/endpoints/tiny/predict", body, **{"content-type": content_type})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert match in error["message"]
    if field is not None:
        assert error["field"] == field


def test_a_body_over_the_size_limit_is_refused(served) -> None:
    server = served[0]
    big = b'{"instances": [' + b"[0.0]," * (2 * 1024 * 1024) + b"[0.0]]}"
    r = post(server, "/v1/endpoints/tiny/predict", big)
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]


def test_unknown_endpoint_is_404_naming_the_known_ones(served) -> None:
    r = post(served[0], "/v1/endpoints/tinny/predict", {"instances": [[0.0] * 20]})
    assert r.status_code == 404
    assert "did you mean 'tiny'" in r.json()["error"]["message"]


def test_a_model_that_raises_gives_500_with_an_error_id_in_the_log(served) -> None:
    server = served[0]
    r = post(server, "/v1/endpoints/explode/predict", {"instances": [[0.0] * 20]})
    assert r.status_code == 500
    error_id = r.json()["error"]["error_id"]
    assert error_id in r.json()["error"]["message"]
    # the server keeps serving, and the log has the id with the model's traceback
    assert (
        post(server, "/v1/endpoints/tiny/predict", {"instances": [[0.0] * 20]}).status_code == 200
    )
    log = server.log()
    assert error_id in log and "this model always fails" in log


def test_a_model_slower_than_the_timeout_gives_504(served) -> None:
    r = post(served[0], "/v1/endpoints/slow/predict", {"instances": [[0.0] * 20]})
    assert r.status_code == 504
    assert "200 ms" in r.json()["error"]["message"]


def test_concurrent_requests_are_batched_and_each_gets_exactly_its_rows(served) -> None:
    server = served[0]
    rng = np.random.default_rng(1)
    requests = [rng.normal(size=(int(rng.integers(1, 13)), 20)).round(6) for _ in range(60)]

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return await asyncio.gather(
                *[
                    client.post("/v1/endpoints/row-sum/predict", json={"instances": x.tolist()})
                    for x in requests
                ]
            )

    responses = asyncio.run(fire())
    for x, r in zip(requests, responses, strict=True):
        assert r.status_code == 200, r.text
        got = [p["output"] for p in r.json()["predictions"]]
        np.testing.assert_allclose(got, x.sum(axis=1), rtol=1e-12)
    metrics = httpx.get(server.url + "/metrics").text
    count = _metric(metrics, 'inprod_batch_size_count{model="row_sum@1"}')
    under_8 = _metric(metrics, 'inprod_batch_size_bucket{le="8.0",model="row_sum@1"}')
    rows = _metric(metrics, 'inprod_batch_size_sum{model="row_sum@1"}')
    assert rows == sum(len(x) for x in requests)
    assert under_8 == count, "a model call got more rows than max_batch_size"
    assert count < 60 + sum(len(x) > 8 for x in requests), "no requests were batched together"


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_feedback_is_committed_before_201(served) -> None:
    server, store, _ = served
    r = post(server, "/v1/endpoints/tiny/predict", {"instances": [[0.0] * 20]})
    pid = r.json()["prediction_ids"][0]
    fb = post(server, f"/v1/predictions/{pid}/feedback", {"label": 1, "source": "inspector-7"})
    assert fb.status_code == 201, fb.text
    assert fb.json()["prediction_id"] == pid
    assert count_feedback(pid, store=store) == 1
    event = post(server, f"/v1/predictions/{pid}/feedback", {"event": "redo"})
    assert event.status_code == 201
    assert count_feedback(pid, store=store) == 2


@pytest.mark.parametrize(
    "pid, body, match",
    [
        ("nope", {"label": 1}, "32-character hex"),
        ("a" * 32, {}, '"label"'),
        ("a" * 32, {"label": 1, "who": "x"}, "unexpected field 'who'"),
        ("a" * 32, {"event": "Redo Now"}, "lower-case"),
        ("a" * 32, {"label": {"nested": 1}}, "plain value"),
    ],
)
def test_bad_feedback_is_refused_and_nothing_stored(served, pid, body, match) -> None:
    server, store, _ = served
    r = post(server, f"/v1/predictions/{pid}/feedback", body)
    assert r.status_code == 400, r.text
    assert match in r.json()["error"]["message"]
    if len(pid) == 32:
        assert count_feedback(pid, store=store) == 0


def test_health_readiness_and_metrics(served) -> None:
    server = served[0]
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["status"] == "ready" and ready["endpoints"]["tiny"] == "tiny@1"
    text = httpx.get(server.url + "/metrics").text
    for name in (
        "inprod_requests_total",
        "inprod_request_latency_seconds_bucket",
        "inprod_log_buffer_rows",
        "inprod_log_dropped_total",
        "inprod_queue_depth",
    ):
        assert name in text
