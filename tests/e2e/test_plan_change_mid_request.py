"""A request whose body is still arriving when the plan changes is served by the version the
plan names when the body is complete, never by one that was unloaded meanwhile."""

from __future__ import annotations

import json
import socket
import sys
import time
from urllib.parse import urlparse

import httpx
from e2e_server import HERE, register_models, run_server
from sklearn.linear_model import LogisticRegression

from inprod import models
from inprod.rollout import actions
from inprod.store import Store


def _send_slowly(url: str, body: bytes, between) -> tuple[int, dict]:
    """POST ``body`` over a raw socket: headers and half the body, ``between()``, the rest."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        head = (
            f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        sock.sendall(head + body[: len(body) // 2])
        between()
        sock.sendall(body[len(body) // 2 :])
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.split(b"\r\n\r\n", 1)[1])


def test_a_version_switched_away_mid_request_is_not_used(tmp_path) -> None:
    sys.path.insert(0, str(HERE))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    data = register_models(store)
    X = data["X"]
    models.register("tiny", LogisticRegression(C=0.01).fit(X, X[:, 1] > 0), sample=X[:5],
                    store=store)  # fmt: skip
    body = json.dumps({"instances": X[:3].tolist()}).encode()
    headers = {"Content-Type": "application/json"}
    with (
        run_server(store, tmp_path / "home") as server,
        httpx.Client(timeout=10, headers=headers) as client,
    ):
        url = f"{server.url}/v1/endpoints/tiny/predict"
        assert client.post(url, content=body).json()["model_version"] == "tiny@1"

        def switch() -> None:
            # tiny@1 leaves the plan (not even kept as previous) and is unloaded while the
            # request above still holds a reference to it
            actions.blue_green("tiny", "tiny@2", keep_previous="0s", store=store)
            deadline = time.monotonic() + 10
            while client.post(url, content=body).json()["model_version"] != "tiny@2":
                assert time.monotonic() < deadline, "the switch never reached the server"
            time.sleep(0.3)  # the retired version's close has run

        status, answer = _send_slowly(url, body, switch)
    store.close()
    assert status == 200, answer
    assert answer["model_version"] == "tiny@2"
