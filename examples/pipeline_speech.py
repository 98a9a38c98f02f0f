"""Pipeline monitoring, the speech story: a change upstream seen next to the harm downstream.

A voice assistant runs three stages per utterance, all sharing one trace id:

1. ``vad``: voice activity detection (an endpoint) cuts the speech out of 4 s of audio frames
   and answers the clip length in seconds (0: no speech, and the trace stops there);
2. ``asr``: the recognizer (an endpoint) turns the clip into a word, less sure of short clips;
3. ``intent``: a function in the client's own process acts on confident words only, logged with
   ``inprod.monitoring.pipelines.log_stage``.

Then the microphone changes (a new headset, 15 dB quieter): the VAD keeps fewer frames, clips
get shorter, the recognizer's confidence drops, fewer utterances reach ``intent``. No single
stage's monitor says why; the pipeline view shows the cause (stage 1's clip length) in the same
rows as the effect (stage 2's confidence and the traces that stopped early).

Run it with ``python examples/pipeline_speech.py`` (about a minute) or ``--short`` (~15 s, what
tests/monitoring/test_pipeline_example.py runs). It makes a store in a temporary folder, starts
``inprod serve`` on a free loopback port, generates all its audio, and deletes everything at
the end. The models below are imported by the server from this file (``pipeline_speech:vad``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

import inprod
from inprod.monitoring import pipelines

FRAMES = 20  # 4 s of audio in frames of 0.2 s
FRAME_S = 0.2
SPEECH_DB = -35.0  # a frame louder than this is speech
WORDS = ("yes", "no", "stop", "go")
ACT_ABOVE = 0.6  # the intent stage acts on words recognized at least this surely
HEADSET_LOSS_DB = 15.0
HERE = Path(__file__).resolve().parent
FRAMES_SIGNATURE = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, FRAMES]}}
CLIP_SIGNATURE = {"inputs": {"kind": "columns", "columns": [
    {"name": "clip_s", "dtype": "float64"}, {"name": "level_db", "dtype": "float64"}]}}  # fmt: skip


# -- the models (served by inprod) and the function stage (runs here) --------------------------


def vad(batch):
    """Frame levels (dB) -> clip length (s): the frames above the speech threshold."""
    frames = np.asarray(batch, dtype=np.float64)
    return (frames > SPEECH_DB).sum(axis=1) * FRAME_S


def recognizer(batch):
    """A clip -> a word; a short clip holds less of the word, so the answer is less sure."""
    clip = batch["clip_s"].to_numpy(dtype=np.float64)
    level = batch["level_db"].to_numpy(dtype=np.float64)
    sure = 0.25 + 0.75 / (1.0 + np.exp(-3.0 * (clip - 0.9)))
    chosen = (np.abs(level * 10).astype(int)) % len(WORDS)
    probabilities = np.repeat(((1.0 - sure) / (len(WORDS) - 1))[:, None], len(WORDS), axis=1)
    probabilities[np.arange(len(clip)), chosen] = sure
    return {
        "outputs": [WORDS[i] for i in chosen],
        "probabilities": probabilities,
        "classes": list(WORDS),
    }


def intent(word: str, confidence: float) -> str | None:
    """The action for a word, or None when the recognizer was not sure enough to act."""
    return f"do:{word}" if confidence >= ACT_ABOVE else None


def utterance(rng: np.random.Generator, loss_db: float) -> list[float]:
    """4 s of frame levels: 0.6-2.4 s of speech (syllables vary by ±5 dB) in -50 dB noise."""
    frames = rng.normal(-50.0, 3.0, FRAMES)
    n = int(rng.integers(3, 13))
    start = int(rng.integers(0, FRAMES - n + 1))
    frames[start : start + n] = rng.normal(-20.0 - loss_db, 5.0, n)
    return [round(float(f), 2) for f in frames]


# -- the story ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a quick run (~15 s) for CI")
    short = parser.parse_args().short
    phase_s, window_s, profile_s = (4, 2, 1) if short else (30, 10, 5)
    with tempfile.TemporaryDirectory(prefix="inprod-speech-") as tmp:
        env = _environment(Path(tmp), profile_s)
        story(env, phase_s=phase_s, window_s=window_s)


def story(env: dict[str, str], *, phase_s: int, window_s: int) -> None:
    store = inprod.Store.from_settings(inprod.load_settings(environ=env))
    info = setup(store)
    print(f"pipeline {info.name}: " + " -> ".join(s.name for s in info.stages))
    rng = np.random.default_rng(7)
    server, url = _serve(env)
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            first = _next_boundary(phase_s)
            second = first + timedelta(seconds=phase_s)
            end = second + timedelta(seconds=phase_s)
            _wait_until(first)
            sent = _talk(client, store, rng, loss_db=0.0, until=second)
            print(f"phase 1, usual microphone: {sent} utterances")
            sent = _talk(client, store, rng, loss_db=HEADSET_LOSS_DB, until=end)
            print(f"phase 2, headset {HEADSET_LOSS_DB:g} dB quieter: {sent} utterances")
    finally:
        pipelines.flush_stages(store=store)
        _stop(server)

    _cli(env, "pipeline", "view", "speech", "--since", first.isoformat(),
         "--until", end.isoformat(), "--window", f"{window_s}s",
         "--metric", "vad=requests", "--metric", "vad=output.value.mean",
         "--metric", "asr=output.confidence.mean", "--metric", "intent=requests")  # fmt: skip
    before, after = _phase(store, first, phase_s), _phase(store, second, phase_s)
    print(
        f"stage 1 vad, mean clip: {before['clip']:.2f} s -> {after['clip']:.2f} s; "
        f"stage 2 asr, mean confidence: {before['confidence']:.2f} -> {after['confidence']:.2f}; "
        f"traces reaching intent: {before['acted']:.0%} -> {after['acted']:.0%}"
    )
    store.close()


def setup(store: inprod.Store) -> pipelines.PipelineInfo:
    """The two models (served from this file), their endpoints and the three-stage pipeline."""
    inprod.models.register("vad", flavor="python", callable_ref="pipeline_speech:vad",
                           signature=FRAMES_SIGNATURE, store=store)  # fmt: skip
    inprod.models.register("recognizer", flavor="python", callable_ref="pipeline_speech:recognizer",
                           signature=CLIP_SIGNATURE, store=store)  # fmt: skip
    inprod.endpoints.create("speech-vad", "vad@1", store=store)
    inprod.endpoints.create("speech-asr", "recognizer@1", store=store)
    return pipelines.create(
        "speech",
        ["vad=speech-vad", "asr=speech-asr", "intent=py:pipeline_speech:intent"],
        description="voice assistant: VAD -> recognizer -> intent",
        store=store,
    )


def speak(
    client: httpx.Client,
    store: inprod.Store,
    frames: list[float],
    trace_id: str,
    headers: dict[str, str],
) -> dict:
    """One utterance through the stages, its trace id in ``headers`` (X-Trace-Id or a W3C
    traceparent): the VAD's clip, then (if any) the recognizer's word, then (if sure) the
    intent, logged here. Returns what each stage answered."""
    vad_answer = client.post("/v1/endpoints/speech-vad/predict",
                             json={"instances": [frames]}, headers=headers)  # fmt: skip
    clip = vad_answer.raise_for_status().json()["predictions"][0]["output"]
    if clip <= 0:
        return {"clip": clip}  # no speech: the trace stops after the VAD
    level = float(np.mean([f for f in frames if f > SPEECH_DB]))
    asr_answer = client.post("/v1/endpoints/speech-asr/predict", headers=headers,
                             json={"instances": [{"clip_s": clip, "level_db": level}]})  # fmt: skip
    heard = asr_answer.raise_for_status().json()["predictions"][0]
    started = time.perf_counter()
    action = intent(heard["output"], heard["confidence"])
    if action is not None:
        pipelines.log_stage(
            "speech",
            "intent",
            trace_id=trace_id,
            inputs={"word": heard["output"], "confidence": heard["confidence"]},
            outputs=action,
            latency_ms=1000 * (time.perf_counter() - started),
            store=store,
        )
    return {"clip": clip, "word": heard["output"], "confidence": heard["confidence"],
            "action": action}  # fmt: skip


def _talk(
    client: httpx.Client,
    store: inprod.Store,
    rng: np.random.Generator,
    *,
    loss_db: float,
    until: datetime,
) -> int:
    """Utterances, a new trace id each, until ``until``."""
    sent = 0
    while datetime.now(UTC) < until:
        trace_id = uuid.uuid4().hex
        speak(client, store, utterance(rng, loss_db), trace_id, {"X-Trace-Id": trace_id})
        sent += 1
    return sent


def _phase(store: inprod.Store, start: datetime, seconds: int) -> dict[str, float]:
    """One phase as one window of the view: the numbers the story is about."""
    view = pipelines.pipeline_view(
        "speech", since=start, until=start + timedelta(seconds=seconds), window_s=seconds,
        metrics={"vad": ["output.value.mean"], "asr": ["output.confidence.mean"]}, store=store,
    )  # fmt: skip
    window = view.windows[0]
    return {
        "clip": window.stages["vad"].metrics["output.value.mean"],
        "confidence": window.stages["asr"].metrics["output.confidence.mean"],
        "acted": window.join.reached["intent"] / window.join.traces,
    }


# -- plumbing: a store in a temporary folder, a server on a free loopback port -----------------


def _environment(tmp: Path, profile_s: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    env.update(
        INPROD_HOME=str(tmp),
        INPROD_STORE_URL=f"sqlite:///{tmp / 'store.db'}",
        INPROD_ARTIFACTS=str(tmp / "artifacts"),
        INPROD_PROFILE_SECONDS=str(profile_s),
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        COLUMNS="160",
    )
    return env


def _inprod(*args: str) -> list[str]:
    """The ``inprod`` command of this interpreter, whether or not its folder is on PATH."""
    return [sys.executable, "-c", "from inprod.cli import main; main()", *args]


def _cli(env: dict[str, str], *args: str) -> None:
    print(f"$ inprod {' '.join(args)}", flush=True)
    subprocess.run(_inprod(*args), env=env, check=True, timeout=120)


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        _inprod("serve", "--port", str(port), "--log-level", "warning"),
        env=env,
        cwd=env["INPROD_HOME"],
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"inprod serve exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    _stop(process)
    raise SystemExit("inprod serve did not become ready within 60 s")


def _stop(process: subprocess.Popen) -> None:
    """A graceful stop: the server writes every prediction and window profile it holds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _next_boundary(seconds: int) -> datetime:
    """The next time that is a whole multiple of ``seconds``: phases then fill whole windows."""
    now = time.time()
    return datetime.fromtimestamp((int(now) // seconds + 1) * seconds, tz=UTC)


def _wait_until(when: datetime) -> None:
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


if __name__ == "__main__":
    main()
