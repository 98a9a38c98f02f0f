"""A pipeline over a real server: two endpoints (the speech example's VAD and recognizer) and a
function stage, joined by the trace ids clients send; then /api/pipelines over that store."""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from e2e_server import run_server
from fastapi.testclient import TestClient

from inprod import tokens
from inprod.monitoring import pipelines
from inprod.serving.app import create_app
from inprod.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEECH_FRAMES = (0, 3, 6, 9)  # per utterance: no speech, then clips of 0.6, 1.2 and 1.8 s


@dataclass
class Traffic:
    store: Store
    since: datetime
    until: datetime
    answers: dict[str, dict]  # trace id -> what each stage answered (pipeline_speech.speak)

    def reaching(self, stage: str) -> list[str]:
        """The traces that got to ``stage`` (vad: all; asr: with speech; intent: sure words)."""
        key = {"vad": "clip", "asr": "word", "intent": "action"}[stage]
        return [t for t, a in self.answers.items() if a.get(key) is not None]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    """The speech example's pipeline served for real: 12 utterances with X-Trace-Id and one
    with a W3C traceparent."""
    home = tmp_path_factory.mktemp("pipeline")
    store = Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    answers: dict[str, dict] = {}
    with pytest.MonkeyPatch.context() as env:
        env.syspath_prepend(str(EXAMPLES))
        # the server imports the models from the example (server_env keeps PYTHONPATH)
        env.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]))
        env.setenv("INPROD_PROFILE_SECONDS", "1")  # log_stage's windows, as the server's
        speech = importlib.import_module("pipeline_speech")
        speech.setup(store)
        since = datetime.now(UTC)
        with (
            run_server(store, home, INPROD_PROFILE_SECONDS="1") as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            for i in range(13):
                trace_id = uuid.uuid4().hex
                headers = {"X-Trace-Id": trace_id}
                if i == 12:
                    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
                frames = [-20.0] * SPEECH_FRAMES[i % 4] + [-50.0] * 20
                answers[trace_id] = speech.speak(client, store, frames[:20], trace_id, headers)
    pipelines.flush_stages(store=store)
    yield Traffic(store, since, datetime.now(UTC), answers)
    store.close()


def test_a_trace_joins_both_endpoints_and_the_function_stage(traffic: Traffic) -> None:
    complete = traffic.reaching("intent")[-1]
    said = traffic.answers[complete]
    trace = pipelines.trace("speech", complete, store=traffic.store)
    vad, asr, intent = (trace.stages[s] for s in ("vad", "asr", "intent"))
    assert [r.outputs["output"] for r in vad] == [said["clip"]]
    assert [(r.outputs["output"], r.confidence) for r in asr] == [
        (said["word"], said["confidence"])
    ]
    assert [r.outputs["output"] for r in intent] == [said["action"]]
    assert [r.trace_id for r in vad + asr + intent] == [complete] * 3
    assert vad[0].time < asr[0].time < intent[0].time
    silent = next(t for t, a in traffic.answers.items() if a["clip"] == 0)
    stopped = pipelines.trace("speech", silent, store=traffic.store)
    assert [len(stopped.stages[s]) for s in ("vad", "asr", "intent")] == [1, 0, 0]


def test_the_view_shows_every_stage_and_how_far_the_traces_got(traffic: Traffic) -> None:
    view = pipelines.pipeline_view(
        "speech", since=traffic.since - timedelta(seconds=5),
        until=traffic.until + timedelta(seconds=5), window_s=5,
        metrics={"vad": ["requests", "output.value.mean"], "intent": ["requests"]},
        store=traffic.store,
    )  # fmt: skip
    windows = view.windows
    assert windows, "the server stored no profile and no trace"
    vad = [w.stages["vad"].metrics for w in windows]
    n, spoke, acted = 13, len(traffic.reaching("asr")), len(traffic.reaching("intent"))
    assert 0 < acted < spoke < n
    assert sum(m["requests"] or 0 for m in vad) == n
    assert sum(w.stages["intent"].metrics["requests"] or 0 for w in windows) == acted
    assert sum(w.stages["asr"].summary["requests"] for w in windows if w.stages["asr"].summary) == (
        spoke
    )
    clips = sum(m["output.value.mean"] * m["requests"] for m in vad if m["requests"])
    assert clips / n == pytest.approx(sum(a["clip"] for a in traffic.answers.values()) / n)
    assert sum(w.join.traces for w in windows) == n  # the traceparent one joined too
    assert sum(w.join.reached["asr"] for w in windows) == spoke
    assert sum(w.join.reached["intent"] for w in windows) == acted
    assert sum(w.join.stopped_after["vad"] for w in windows) == n - spoke
    assert sum(w.join.stopped_after["asr"] for w in windows) == spoke - acted
    assert all(w.join.latency_ms["p50"] > 0 for w in windows if w.join.completed)


def test_the_api_lists_views_traces_creates_and_deletes(traffic: Traffic, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the app loads the example's models
    app = create_app(traffic.store, auth=True)
    reader = tokens.create("predict", name="reader", store=traffic.store).secret
    operator = tokens.create("operator", name="operator", store=traffic.store).secret
    as_reader = {"Authorization": f"Bearer {reader}"}
    as_operator = {"Authorization": f"Bearer {operator}"}
    with TestClient(app) as client:
        listed = client.get("/api/pipelines", headers=as_reader)
        assert [p["name"] for p in listed.json()] == ["speech"]
        params = {"since": (traffic.since - timedelta(seconds=5)).isoformat(), "window": "1m",
                  "metric": ["vad=output.value.mean", "asr=output.confidence.mean"]}  # fmt: skip
        view = client.get("/api/pipelines/speech/view", params=params, headers=as_reader)
        assert view.status_code == 200, view.text
        body = view.json()
        assert body["stages"] == ["vad", "asr", "intent"]
        assert body["metrics"]["vad"] == ["output.value.mean"]
        assert sum(w["join"]["traces"] for w in body["windows"]) == 13
        trace_id = traffic.reaching("intent")[0]
        trace = client.get(f"/api/pipelines/speech/traces/{trace_id}", headers=as_reader).json()
        assert [len(s["predictions"]) for s in trace["stages"]] == [1, 1, 1]
        new = {"name": "short", "stages": ["vad=speech-vad"]}
        assert client.post("/api/pipelines", json=new, headers=as_reader).status_code == 403
        created = client.post("/api/pipelines", json=new, headers=as_operator)
        assert created.status_code == 201, created.text
        assert created.json()["created_by"].startswith("token:")
        typo = client.post("/api/pipelines", headers=as_operator,
                           json={"name": "typo", "stages": ["vad=speech-vda"]})  # fmt: skip
        assert typo.status_code == 400
        assert "did you mean 'speech-vad'" in typo.json()["error"]["message"]
        assert client.delete("/api/pipelines/short", headers=as_operator).status_code == 204
        missing = client.get("/api/pipelines/short", headers=as_reader)
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFound"
        bad = client.get("/api/pipelines/speech/view", params={"metric": "accuracy"},
                         headers=as_reader)  # fmt: skip
        assert bad.status_code == 400 and "STAGE=METRIC" in bad.json()["error"]["message"]
