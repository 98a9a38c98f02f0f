"""Monitoring on a real server: the inputs shift, the profile-based monitor fires within its
windows, the alert's webhook is called once, and the alert resolves when the inputs return."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
from e2e_server import HERE, Server, register_models, run_server

from inprod.monitoring import monitors
from inprod.store import Store

PROFILE_S = "2"  # short profile windows, so the test takes seconds, not minutes
DEADLINE_S = 60.0


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def wait_for(what: str, check: Callable[[], object], server: Server, send: Callable[[], None]):
    """Keep traffic flowing until ``check`` holds (bounded)."""
    deadline = time.monotonic() + DEADLINE_S
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{server.log()[-3000:]}")
        send()
    return value


def test_a_shift_in_the_inputs_fires_the_alert_and_its_webhook(tmp_path, hook) -> None:
    sys.path.insert(0, str(HERE))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    register_models(store)
    url = f"http://127.0.0.1:{hook.server_port}/alerts"
    monitor = monitors.add("tiny", "input.x0.mean", below=-1.0, window="6s",
                           actions=[f"webhook:{url}"], store=store)  # fmt: skip
    rng = np.random.default_rng(0)
    client = httpx.Client(timeout=10)
    shift = {"x0": 0.0}

    with run_server(store, tmp_path / "home", INPROD_PROFILE_SECONDS=PROFILE_S,
                    INPROD_MONITOR_TICK_SECONDS="0.5") as server:  # fmt: skip
        endpoint = f"{server.url}/v1/endpoints/tiny/predict"

        def send() -> None:
            rows = rng.normal(size=(4, 20))
            rows[:, 0] += shift["x0"]
            r = client.post(endpoint, json={"instances": rows.tolist()})
            assert r.status_code == 200, r.text
            time.sleep(0.02)

        def alerts(state: str) -> list:
            return client.get(f"{server.url}/api/alerts", params={"state": state}).json()

        def monitor_state() -> str:
            return client.get(f"{server.url}/api/monitors/{monitor.id}").json()["state"]

        wait_for("the monitor to see normal traffic", lambda: monitor_state() == "ok",
                 server, send)  # fmt: skip
        assert alerts("open") == []
        shift["x0"] = -3.0  # the camera goes dark
        began = time.monotonic()
        [alert] = wait_for("the alert", lambda: alerts("open"), server, send)
        fired_after = time.monotonic() - began
        assert alert["value"] < -1.0 and alert["monitor_id"] == monitor.id
        wait_for("the webhook", lambda: hook.bodies, server, send)
        shift["x0"] = 0.0
        wait_for("the alert to resolve", lambda: alerts("resolved"), server, send)
        story = client.get(f"{server.url}/api/alerts/{alert['id']}").json()
    client.close()
    store.close()
    assert [b["alert"]["alert_id"] for b in hook.bodies] == [alert["id"]]  # once
    assert [e["kind"] for e in story["events"]] == ["fired", "action.done", "resolved"]
    # profile window 2 s + writer grace 5 s + evaluator grace 8 s + the 6 s rule window
    assert fired_after < 30, fired_after
