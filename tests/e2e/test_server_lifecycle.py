"""Server lifecycle against real processes: graceful shutdown flushes every prediction, drops are
counted, alias moves are followed, the control plane changes what is served."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import numpy as np
from e2e_server import register_models, run_server
from sklearn.linear_model import LogisticRegression

from inprod import models, predictions
from inprod.store import Store


def test_sigterm_finishes_in_flight_requests_and_stores_every_prediction(
    store: Store, tmp_path: Path
) -> None:
    register_models(store)
    rng = np.random.default_rng(2)
    bodies = [
        {"instances": rng.normal(size=(int(rng.integers(1, 4)), 20)).tolist()} for _ in range(150)
    ]
    with run_server(store, tmp_path / "home") as server:

        async def fire() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                sem = asyncio.Semaphore(16)

                async def one(body: dict) -> int:
                    async with sem:
                        r = await client.post("/v1/endpoints/tiny/predict", json=body)
                        return r.status_code

                return await asyncio.gather(*[one(b) for b in bodies])

        assert set(asyncio.run(fire())) == {200}
        # uvicorn re-raises the signal after its graceful shutdown, so -SIGTERM is a clean stop
        assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    sent = sum(len(b["instances"]) for b in bodies)
    assert predictions.count("tiny", store=store) == sent
    # the log writer also wrote the window profiles of what it stored, to the last request
    from datetime import UTC, datetime, timedelta

    from inprod.monitoring.windows import read_profiles

    now = datetime.now(UTC)
    profiles = read_profiles("tiny", since=now - timedelta(hours=1), until=now, store=store)
    tiny = profiles[("tiny", 1, "primary")]
    assert (tiny.requests, tiny.instances, tiny.errors) == (len(bodies), sent, 0)


def test_a_full_log_buffer_drops_and_counts_but_still_serves(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    register_models(store)
    with run_server(store, tmp_path / "home", INPROD_LOG_BUFFER_CAPACITY="1") as server:
        r = httpx.post(
            server.url + "/v1/endpoints/tiny/predict", json={"instances": [[0.0] * 20] * 50}
        )
        assert r.status_code == 200 and len(r.json()["predictions"]) == 50
        metrics = httpx.get(server.url + "/metrics").text
        assert "inprod_log_dropped_total 49.0" in metrics
        server.stop()
        assert "dropped" in server.log()
    assert predictions.count("tiny", store=store) == 1
    store.close()


def test_moving_the_alias_switches_what_the_endpoint_serves(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    data = register_models(store)
    with run_server(store, tmp_path / "home", INPROD_REFRESH_SECONDS="0.2") as server:
        body = {"instances": data["X"][:2].tolist()}
        first = httpx.post(server.url + "/v1/endpoints/tiny/predict", json=body).json()
        assert first["model_version"] == "tiny@1"
        X, y = data["X"], (data["X"][:, 2] > 0).astype(int)
        models.register("tiny", LogisticRegression().fit(X, y), sample=X[:5], store=store)
        models.set_alias("tiny@2", "champion", store=store)
        deadline = time.monotonic() + 15
        while True:
            r = httpx.post(server.url + "/v1/endpoints/tiny/predict", json=body).json()
            if r["model_version"] == "tiny@2":
                break
            assert time.monotonic() < deadline, "the server never followed the alias"
            time.sleep(0.1)
    store.close()


def test_the_control_plane_creates_changes_and_deletes_endpoints(served) -> None:
    server = served[0]
    with httpx.Client(base_url=server.url + "/api", timeout=30) as api:
        _create_change_delete(server, api)


def _create_change_delete(server, api: httpx.Client) -> None:
    created = api.post("/endpoints", json={"name": "tiny-2", "model": "tiny@1"})
    assert created.status_code == 201, created.text
    assert created.json()["serving"] == "tiny@1"
    r = httpx.post(server.url + "/v1/endpoints/tiny-2/predict", json={"instances": [[0.0] * 20]})
    assert r.status_code == 200
    changed = api.patch("/endpoints/tiny-2", json={"settings": {"max_batch_size": 4}})
    assert changed.json()["settings"]["max_batch_size"] == 4
    assert [e["name"] for e in api.get("/endpoints").json()].count("tiny-2") == 1
    assert api.delete("/endpoints/tiny-2").status_code == 204
    gone = httpx.post(server.url + "/v1/endpoints/tiny-2/predict", json={"instances": [[0.0] * 20]})
    assert gone.status_code == 404
    assert "/api/endpoints" in api.get("/openapi.json").json()["paths"]


def test_control_plane_errors_use_the_error_shape(served) -> None:
    with httpx.Client(base_url=served[0].url + "/api", timeout=30) as api:
        _errors(api)


def _errors(api: httpx.Client) -> None:
    missing = api.post("/endpoints", json={"name": "x"})
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "model"
    unknown = api.post("/endpoints", json={"name": "x", "model": "tiny@9"})
    assert unknown.status_code == 404 and "no version 9" in unknown.json()["error"]["message"]
    bad = api.post(
        "/endpoints", json={"name": "x", "model": "tiny@1", "settings": {"max_batch_size": 0}}
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "max_batch_size"
    dup = api.post("/endpoints", json={"name": "tiny", "model": "tiny@1"})
    assert dup.status_code == 409
    assert api.get("/endpoints/nope").status_code == 404


def test_several_workers_share_the_port_and_log_every_prediction(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    register_models(store)
    with run_server(store, tmp_path / "home", "--workers", "2") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(40):
                r = client.post("/v1/endpoints/tiny/predict", json={"instances": [[0.0] * 20]})
                assert r.status_code == 200
        assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert predictions.count("tiny", store=store) == 40
    store.close()
