"""Deployment plans on a real server: shadow copies, the canary split, degrees of automation,
blue-green switches and rollbacks under load, and the controller's automatic decisions."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from e2e_server import HERE, Server, register_models, run_server
from sklearn.linear_model import LogisticRegression
from sqlalchemy import func, select

from inprod import endpoints, models
from inprod.rollout import actions
from inprod.store import Store
from inprod.store.tables import Prediction, ReviewTask

APPLY_S = 1.0  # a plan change must reach the server within this
# one client for the module: HTTP.post() builds a client (and its TLS context) per call, ~40 ms
HTTP = httpx.Client(timeout=10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Store, dict]]:
    home = tmp_path_factory.mktemp("rollout")
    sys.path.insert(0, str(HERE))
    store = Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    data = register_models(store)
    X = data["X"]
    y = (X[:, 0] - X[:, 2] > 0).astype(int)  # a different, worse-for-the-task model: tiny@2
    models.register("tiny", LogisticRegression().fit(X, y), sample=X[:5], store=store)
    signature = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 20]}}
    models.register(
        "flaky", flavor="python", callable_ref="e2e_models:flaky", signature=signature,
        store=store,
    )  # fmt: skip
    with run_server(store, home, INPROD_ROLLOUT_TICK_SECONDS="0.2") as server:
        yield server, store, data
    HTTP.close()
    store.close()


def wait_for(what: str, check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def predict(server: Server, endpoint: str, rows: np.ndarray, key: str | None = None) -> dict:
    headers = {"x-request-key": key} if key is not None else {}
    r = HTTP.post(
        f"{server.url}/v1/endpoints/{endpoint}/predict",
        json={"instances": rows.tolist()},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def serving_version(server: Server, endpoint: str, row: np.ndarray, key: str | None = None) -> str:
    return predict(server, endpoint, row[None, :], key)["model_version"]


def logged(store: Store, endpoint: str, **where: object) -> list[Prediction]:
    with store.session(write=False) as s:
        query = select(Prediction).where(Prediction.endpoint == endpoint)
        for column, value in where.items():
            query = query.where(getattr(Prediction, column) == value)
        return list(s.scalars(query))


def fresh_endpoint(server: Server, store: Store, name: str, model: str = "tiny@1") -> None:
    endpoints.create(name, model, store=store)
    wait_for(f"the server to serve {name}", lambda: _state(server, name) is not None)


def test_shadow_answers_after_the_response_and_is_logged_against_the_primary(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "shadowed")
    actions.shadow("shadowed", "tiny@2", store=store)
    X = data["X"]
    wait_for("the shadow to load", lambda: _state(server, "shadowed") == "shadowing")
    ids = []
    for i in range(20):
        body = predict(server, "shadowed", X[i : i + 1])
        assert body["model_version"] == "tiny@1"
        ids += body["prediction_ids"]
    shadows = wait_for(
        "20 shadow rows", lambda: (r := logged(store, "shadowed", role="shadow")) and
        len(r) == 20 and r,
    )  # fmt: skip
    assert {r.primary_id for r in shadows} == set(ids)
    assert {(r.model_name, r.model_version, r.status) for r in shadows} == {("tiny", 2, "ok")}
    assert {r.inputs is None for r in shadows} == {True}  # stored once, on the primary's row
    primaries = {r.id: r for r in logged(store, "shadowed", role="primary")}
    disagree = [
        r for r in shadows if r.outputs["output"] != primaries[r.primary_id].outputs["output"]
    ]
    tasks = wait_for_tasks(store, "shadowed", len(disagree))
    assert {t.reason for t in tasks} <= {"disagreement"}
    assert {t.prediction_id for t in tasks} == {r.primary_id for r in disagree}


def wait_for_tasks(store: Store, endpoint: str, n: int) -> list[ReviewTask]:
    def tasks() -> list[ReviewTask]:
        with store.session(write=False) as s:
            return list(s.scalars(select(ReviewTask).where(ReviewTask.endpoint == endpoint)))

    if n == 0:
        time.sleep(1.5)  # give the log writer a flush to prove none appear
        assert tasks() == []
        return []
    return wait_for(f"{n} review tasks", lambda: len(t := tasks()) == n and t)


def test_a_shadow_sample_rate_copies_that_share_of_requests(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "shadow-half")
    actions.shadow("shadow-half", "tiny@2", sample_rate=0.5, store=store)
    wait_for("the shadow", lambda: _state(server, "shadow-half") == "shadowing")
    for i in range(200):
        predict(server, "shadow-half", data["X"][i % 50 : i % 50 + 1])
    wait_for("200 primary rows", lambda: len(logged(store, "shadow-half", role="primary")) == 200)
    time.sleep(0.5)  # copies are answered in 20 ms batches, then flushed with the log
    shadows = wait_for(
        "shadow rows", lambda: (r := logged(store, "shadow-half", role="shadow")) and r
    )
    assert 60 <= len(shadows) <= 140  # 100 expected; 4.2 sigma either side


def test_a_failing_shadow_never_reaches_the_client(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "shadow-explodes")
    actions.shadow("shadow-explodes", "explode@1", store=store)
    wait_for("the shadow", lambda: _state(server, "shadow-explodes") == "shadowing")
    for i in range(10):
        assert predict(server, "shadow-explodes", data["X"][i : i + 1])["model_version"] == "tiny@1"
    rows = wait_for(
        "10 failed shadow rows",
        lambda: len(r := logged(store, "shadow-explodes", role="shadow")) == 10 and r,
    )
    assert {r.status for r in rows} == {"error"}
    assert all(r.error_id for r in rows)


def test_canary_split_is_sticky_per_key_and_close_to_its_share(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "split")
    actions.canary("split", "tiny@2", steps="20,100", interval="1h", store=store)
    wait_for("the canary", lambda: _state(server, "split") == "ramping")
    row = data["X"][0]
    seen: dict[str, str] = {}
    for i in range(1000):
        seen[f"user-{i}"] = serving_version(server, "split", row, f"user-{i}")
    share = Counter(seen.values())["tiny@2"] / len(seen)
    assert 0.16 <= share <= 0.24  # 20% ± 4 pp (3 sigma at n=1000 is 3.8 pp)
    for key in list(seen)[:100]:
        headers = {"x-request-key": key}
        again = HTTP.post(
            f"{server.url}/v1/endpoints/split/predict", json={"instances": [row.tolist()]},
            headers=headers, timeout=10,
        ).json()["model_version"]  # fmt: skip
        assert again == seen[key]
    canary_rows = wait_for(
        "canary rows logged", lambda: (r := logged(store, "split", role="canary")) and r
    )
    assert {(r.model_name, r.model_version) for r in canary_rows} == {("tiny", 2)}


def test_partial_automation_sends_unsure_answers_to_review(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "partial")
    actions.set_automation("partial", "partial", threshold=0.9, store=store)
    wait_for("automation", lambda: _automation(server, "partial") == "partial")
    body = predict(server, "partial", data["X"][:50])
    answers = body["predictions"]
    unsure = [
        (pid, a) for pid, a in zip(body["prediction_ids"], answers, strict=True)
        if a.get("decision") == "needs_review"
    ]  # fmt: skip
    sure = [a for a in answers if a.get("decision") != "needs_review"]
    assert unsure and sure
    assert all(a["confidence"] >= 0.9 for a in sure)
    tasks = wait_for_tasks(store, "partial", len(unsure))
    assert {t.id for t in tasks} == {a["review_id"] for _, a in unsure}
    assert {t.prediction_id for t in tasks} == {pid for pid, _ in unsure}
    assert all(t.reason == "low_confidence" and t.confidence < 0.9 for t in tasks)
    assert all(t.inputs is not None and len(t.inputs) == 20 for t in tasks)
    v2 = HTTP.post(
        f"{server.url}/v2/models/partial/infer",
        json={"inputs": [{"name": "x", "shape": [1, 20], "datatype": "FP64",
                          "data": data["X"][0].tolist()}]},
        timeout=10,
    )  # fmt: skip
    assert v2.status_code == 409
    assert "/v1/endpoints/partial/predict" in v2.json()["error"]


def test_human_automation_does_not_call_the_model(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "humans", "explode@1")  # a model that would fail if called
    actions.set_automation("humans", "human", store=store)
    wait_for("automation", lambda: _automation(server, "humans") == "human")
    body = predict(server, "humans", data["X"][:3])
    assert [a["decision"] for a in body["predictions"]] == ["needs_review"] * 3
    tasks = wait_for_tasks(store, "humans", 3)
    assert {t.reason for t in tasks} == {"human"}
    assert {t.outputs is None for t in tasks} == {True}


def test_assist_returns_the_answer_as_a_suggestion(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "assisted")
    actions.set_automation("assisted", "assist", store=store)
    wait_for("automation", lambda: _automation(server, "assisted") == "assist")
    answer = predict(server, "assisted", data["X"][:1])["predictions"][0]
    assert "suggestion" in answer and "output" not in answer


def test_blue_green_switch_and_rollback_under_load_fail_no_request(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "bg")
    row = data["X"][0]
    predict(server, "bg", data["X"][:8])  # logged inputs for the green version's health check
    versions: list[tuple[float, str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                r = client.post(
                    f"{server.url}/v1/endpoints/bg/predict", json={"instances": [row.tolist()]}
                )
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    versions.append((time.monotonic(), r.json()["model_version"]))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for("traffic", lambda: len(versions) > 50)
        switched = time.monotonic()
        actions.blue_green("bg", "tiny@2", keep_previous="10m", store=store)
        wait_for("the switch", lambda: versions[-1][1] == "tiny@2", timeout=APPLY_S + 1)
        first_green = next(t for t, v in versions if t > switched and v == "tiny@2")
        assert first_green - switched < APPLY_S
        rolled = time.monotonic()
        actions.rollback("bg", reason="test", store=store)
        wait_for("the rollback", lambda: versions[-1][1] == "tiny@1", timeout=APPLY_S + 1)
        back = next(t for t, v in versions if t > rolled and v == "tiny@1")
        assert back - rolled < APPLY_S
        n = len(versions)
        wait_for("more traffic", lambda: len(versions) > n + 50)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert versions[-1][1] == "tiny@1"


def test_controller_rolls_back_a_canary_that_fails_on_a_fifth_of_inputs(live) -> None:
    server, store, _ = live
    fresh_endpoint(server, store, "bad-canary")
    actions.canary(
        "bad-canary", "flaky@1", steps="50,100", interval="1h", min_requests=40,
        gates=["error_rate<=0.05"], store=store,
    )  # fmt: skip
    wait_for("the canary", lambda: _state(server, "bad-canary") == "ramping")
    rng = np.random.default_rng(1)
    codes = Counter()
    for i in range(200):
        r = HTTP.post(
            f"{server.url}/v1/endpoints/bad-canary/predict",
            json={"instances": [rng.normal(size=20).tolist()]},
            headers={"x-request-key": f"k{i}"}, timeout=10,
        )  # fmt: skip
        codes[r.status_code] += 1
        if actions.get_plan("bad-canary", store=store).state == "rolled_back":
            break
    plan = wait_for(
        "the automatic rollback",
        lambda: (p := actions.get_plan("bad-canary", store=store)).state == "rolled_back" and p,
    )
    assert plan.candidate is None
    last = actions.history("bad-canary", store=store)[-1]
    assert (last.actor, last.action, last.to_state) == ("controller", "rollback", "rolled_back")
    assert "error_rate<=0.05 failed" in last.reason
    failed_gate = next(g for g in last.details["gates"] if g["status"] == "fail")
    assert failed_gate["value"] > 0.05
    assert codes[500] > 0  # the canary's failures were real answers to clients


def test_controller_promotes_a_healthy_canary_step_by_step(live) -> None:
    server, store, data = live
    fresh_endpoint(server, store, "good-canary")
    actions.canary(
        "good-canary", "tiny@2", steps="50,100", interval="0.5s", min_requests=10,
        gates=["error_rate<=0.01", "latency_p99_ms<=champion*20"], store=store,
    )  # fmt: skip
    wait_for("the canary", lambda: _state(server, "good-canary") == "ramping")
    rng = np.random.default_rng(2)
    deadline = time.monotonic() + 30
    while actions.get_plan("good-canary", store=store).state != "promoted":
        assert time.monotonic() < deadline, actions.history("good-canary", store=store)
        for _ in range(20):
            predict(server, "good-canary", rng.normal(size=(1, 20)), key=f"u{rng.integers(1e9)}")
    steps = [e for e in actions.history("good-canary", store=store) if e.action == "advance"]
    assert [e.to_state for e in steps] == ["ramping", "promoted"]
    assert endpoints.get("good-canary", store=store).model_ref == "tiny@2"
    wait_for(
        "the promotion", lambda: serving_version(server, "good-canary", data["X"][0]) == "tiny@2"
    )


def _plan_view(server: Server) -> dict:
    return {e["name"]: e for e in HTTP.get(f"{server.url}/api/endpoints", timeout=5).json()}


def _state(server: Server, endpoint: str) -> str | None:
    return (_plan_view(server).get(endpoint, {}).get("live") or {}).get("state")


def _automation(server: Server, endpoint: str) -> str | None:
    return (_plan_view(server).get(endpoint, {}).get("live") or {}).get("automation")


def _count(store: Store, endpoint: str) -> int:
    with store.session(write=False) as s:
        return s.scalar(select(func.count()).where(Prediction.endpoint == endpoint))
