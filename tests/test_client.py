"""The HTTP client against the server's REST contract, on httpx.MockTransport (no server)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import httpx
import numpy as np
import pandas as pd
import pytest

import inprod
from inprod.client import Client, PredictResult
from inprod.errors import (
    Conflict,
    Forbidden,
    InprodError,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
    Unprocessable,
    UnsafeContent,
)

URL = "http://inprod.test:8000"
PREDICTED = {
    "endpoint": "phone-inspector",
    "model_version": "phone-inspector@3",
    "predictions": [
        {"output": "scratch", "confidence": 0.93, "probabilities": {"ok": 0.07, "scratch": 0.93}},
        {"output": "ok", "confidence": 0.8, "probabilities": {"ok": 0.8, "scratch": 0.2}},
    ],
    "prediction_ids": ["a" * 32, "b" * 32],
}


class Recorder:
    """A MockTransport handler that records every request and answers with ``reply``."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)

    def client(self, token: str | None = None) -> Client:
        return Client(URL, token, transport=httpx.MockTransport(self))


def answer(status: int, body=None, **kwargs) -> Recorder:
    return Recorder(lambda request: httpx.Response(status, json=body, **kwargs))


def test_predict_sends_the_instances_and_headers_and_returns_the_predictions() -> None:
    server = answer(200, PREDICTED)
    rows = [{"brightness": 0.4, "blur": 0.1}, {"brightness": 0.9, "blur": 0.0}]
    with server.client(token="s3cret") as client:
        result = client.predict("phone-inspector", rows, request_key="camera-7", trace_id="t-1")
    [request] = server.requests
    assert request.method == "POST"
    assert str(request.url) == f"{URL}/v1/endpoints/phone-inspector/predict"
    assert json.loads(request.content) == {"instances": rows}
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["X-Request-Key"] == "camera-7"
    assert request.headers["X-Trace-Id"] == "t-1"
    assert request.headers["Content-Type"] == "application/json"
    assert isinstance(result, PredictResult)
    assert result.model_version == "phone-inspector@3"
    assert result.prediction_ids == ["a" * 32, "b" * 32]
    assert result.predictions == PREDICTED["predictions"]
    assert result.outputs == ["scratch", "ok"]
    assert result.raw == PREDICTED


def test_without_a_token_or_keys_no_such_headers_are_sent() -> None:
    server = answer(200, PREDICTED)
    with server.client() as client:
        client.predict("phone-inspector", [[0.4, 0.1], [0.9, 0.0]])
    headers = server.requests[0].headers
    assert "Authorization" not in headers
    assert "X-Request-Key" not in headers and "X-Trace-Id" not in headers
    assert json.loads(server.requests[0].content) == {"instances": [[0.4, 0.1], [0.9, 0.0]]}


def test_dataframes_and_arrays_are_sent_as_rows_and_names_are_quoted() -> None:
    server = answer(200, PREDICTED)
    frame = pd.DataFrame({"brightness": [0.4, np.nan], "blur": [1, 2]})
    with server.client() as client:
        client.predict("phone/inspector", frame)
        client.predict("phone-inspector", np.array([[0.5, 1.0], [0.25, 2.0]]))
    first, second = (json.loads(r.content) for r in server.requests)
    assert first == {"instances": [{"brightness": 0.4, "blur": 1}, {"brightness": None, "blur": 2}]}
    assert second == {"instances": [[0.5, 1.0], [0.25, 2.0]]}
    assert server.requests[0].url.raw_path == b"/v1/endpoints/phone%2Finspector/predict"


def test_feedback_posts_a_label_or_an_event() -> None:
    server = answer(201, {"feedback_id": 7, "prediction_id": "a" * 32})
    with server.client() as client:
        got = client.feedback("a" * 32, label="scratch", source="inspector-7")
        client.feedback("b" * 32, event="redo")
    assert got == {"feedback_id": 7, "prediction_id": "a" * 32}
    label, event = server.requests
    assert str(label.url) == f"{URL}/v1/predictions/{'a' * 32}/feedback"
    assert json.loads(label.content) == {"label": "scratch", "source": "inspector-7"}
    assert json.loads(event.content) == {"event": "redo", "source": ""}


def test_bad_arguments_are_refused_before_anything_is_sent() -> None:
    server = answer(200, PREDICTED)
    with server.client() as client:
        with pytest.raises(InvalidInput, match="needs a label or an event"):
            client.feedback("a" * 32)
        with pytest.raises(InvalidInput, match="wrap a single row in a list"):
            client.predict("phone-inspector", {"brightness": 0.4})
        with pytest.raises(InvalidInput, match="non-empty list of rows"):
            client.predict("phone-inspector", [])
        with pytest.raises(InvalidInput, match="endpoint must be a non-empty string"):
            client.predict("", [[1.0]])
    assert server.requests == []
    with pytest.raises(InvalidInput, match="not an http"):
        Client("localhost:8000")


def test_health_and_ready_report_the_status() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(503, json={"status": "loading"})

    with Recorder(reply).client() as client:
        assert client.health() is True
        assert client.ready() is False
    with answer(200, {"status": "ok"}).client() as client:
        assert client.ready() is True


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (400, "InvalidInput", InvalidInput),
        (422, "UnsafeContent", UnsafeContent),
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (500, "IntegrityFailure", IntegrityFailure),
        (503, "StoreUnavailable", StoreUnavailable),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Forbidden),
        (413, "PayloadTooLarge", PayloadTooLarge),
        # a type this library does not know: chosen by the status
        (422, "ValidationError", Unprocessable),
        (404, "EndpointGone", NotFound),
        (401, "TokenExpired", Unauthorized),
        (429, "TooManyRequests", InprodError),
        (504, "Timeout", InprodError),
    ],
)
def test_server_errors_raise_the_matching_inprod_error(status, kind, error) -> None:
    message = f"the server says {kind}"
    body = {"error": {"type": kind, "message": message, "field": "brightness"}}
    with answer(status, body).client() as client, pytest.raises(error) as caught:
        client.predict("phone-inspector", [[1.0]])
    assert type(caught.value) is error
    assert (caught.value.message, caught.value.field, caught.value.status) == (
        message,
        "brightness",
        status,
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, InvalidInput), (401, Unauthorized), (404, NotFound), (409, Conflict),
     (503, StoreUnavailable), (502, InprodError)],
)  # fmt: skip
def test_errors_without_an_inprod_body_are_chosen_by_status(status, error) -> None:
    server = answer(status, None, text="<html>Bad Gateway</html>")
    with server.client() as client, pytest.raises(error) as caught:
        client.feedback("a" * 32, label="ok")
    assert type(caught.value) is error and caught.value.status == status
    assert f"{URL} answered {status}" in caught.value.message
    assert "<html>Bad Gateway</html>" in caught.value.message


def test_a_closed_port_gives_a_clear_error_naming_the_url() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with Client(url, timeout=2.0) as client:
        with pytest.raises(StoreUnavailable) as caught:
            client.predict("phone-inspector", [[1.0]])
        assert client.health() is False and client.ready() is False
    assert caught.value.message == (
        f"cannot reach inprod server at {url}: connection refused; is `inprod serve` running there?"
    )


def test_a_server_that_does_not_answer_in_time_gives_a_timeout_error() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    transport = httpx.MockTransport(reply)
    with (
        Client(URL, timeout=0.5, transport=transport) as client,
        pytest.raises(StoreUnavailable, match=r"did not answer .* within 0.5 s"),
    ):
        client.predict("phone-inspector", [[1.0]])


def test_a_success_body_without_predictions_is_an_error() -> None:
    with (
        answer(200, {"unexpected": True}).client() as client,
        pytest.raises(InprodError, match="without 'predictions'"),
    ):
        client.predict("phone-inspector", [[1.0]])


def test_the_client_is_exported_and_closes_with_its_block() -> None:
    assert inprod.Client is Client
    with Client(URL + "/", transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        assert c.url == URL
    assert c._http.is_closed
