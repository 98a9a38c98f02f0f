"""Dashboard page times on a store with 1,000,000 logged predictions, 30 days of minute
profiles and 1,000 retraining requests.

Run: .venv/bin/python benchmarks/ui/page_times.py [--predictions 1000000] [--days 30] [--rebuild]

Goal (issue 7): every page's server time under 300 ms. The store is built once under
benchmarks/.data/ui/ (gitignored; about 4 minutes): the quickstart story (a real model,
endpoint, monitors, alerts, review tasks and rollout history), then 30 days of one-minute
window profiles for the endpoint (43,200 rows, each a realistic profile: brightness and contrast
sketches, class outputs, confidence and latency), their hourly and daily rollups, and 1,000,000
predictions with 5% of them labelled by feedback. Each run tops the retraining requests up to
1,000, each with a whole story as the runner records it (six steps, a sweep of four points, a gate
judged on 20 slices, a re-scored window). A real ``inprod serve`` then answers each page
9 times; the figure is the median time from request sent to last byte received over loopback
(best in brackets), which is the server's time plus well under a millisecond of transfer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import func, insert, select

from inprod.errors import Conflict
from inprod.monitoring import ProfileBuilder, ProfileKey, pipelines
from inprod.monitoring.rollups import roll_up
from inprod.store import Store
from inprod.store.tables import Feedback, Prediction, RetrainingRequest, WindowProfileRow

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / ".data" / "ui"
INPROD = Path(sys.executable).with_name("inprod")
ENDPOINT = MODEL = "phone-inspector"
GOAL_MS = 300.0
REPEATS = 9
TEMPLATES = 48
RETRAINING_REQUESTS = 1000
PAGES = [
    "/ui/",
    "/ui/endpoints/phone-inspector?window=1h",
    "/ui/endpoints/phone-inspector?window=24h",
    "/ui/endpoints/phone-inspector?window=7d",
    "/ui/endpoints/phone-inspector/drift",
    "/ui/endpoints/phone-inspector/rollout",
    "/ui/review?endpoint=phone-inspector",
    "/ui/alerts",
    "/ui/models",
    "/ui/models/phone-inspector",
    "/ui/models/phone-inspector/champion",
    "/ui/pipelines",
    "/ui/pipelines/inspection?window=1h",
    "/ui/pipelines/inspection?window=24h",
    "/ui/retraining",
    "/ui/retraining?endpoint=phone-inspector&status=deployed",
]


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    env["INPROD_HOME"] = str(home)
    return env


def template_profiles(rng: np.random.Generator, count: int) -> list[dict]:
    """Minute profiles like the phone endpoint's: ~40 images a minute, lighting varying."""
    out = []
    for i in range(count):
        key = ProfileKey(ENDPOINT, MODEL, 1, "primary", datetime(2026, 1, 1, tzinfo=UTC), 60)
        builder = ProfileBuilder(key)
        light = 0.45 + 0.05 * np.sin(i / count * 2 * np.pi)
        for _ in range(int(rng.poisson(40))):
            p = float(rng.random())
            failed = rng.random() < 0.01
            row = {
                "brightness": float(rng.normal(light, 0.05)),
                "contrast": float(rng.normal(0.2, 0.03)),
            }
            out_rows = None if failed else [{"output": int(p > 0.6), "confidence": max(p, 1 - p)}]
            builder.add([row], out_rows, float(rng.gamma(2.0, 2.0)), "error" if failed else "ok")
        out.append(builder.build().to_dict())
    return out


def build(home: Path, predictions: int, days: int) -> Store:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    print("running the quickstart story into", home, flush=True)
    subprocess.run(
        [str(INPROD), "quickstart", "--images", "300", "--requests", "100"],
        cwd=home, env=clean_env(home), check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    store = Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    rng = np.random.default_rng(0)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(days=days)
    minutes = days * 24 * 60
    templates = template_profiles(rng, TEMPLATES)
    t0 = time.perf_counter()
    with store.session() as s:
        batch = []
        for m in range(minutes):
            when = start + timedelta(minutes=m)
            profile = dict(templates[m % TEMPLATES], start=when.isoformat(), seconds=60.0)
            batch.append(
                {"endpoint": ENDPOINT, "model_name": MODEL, "model_version": 1, "role": "primary",
                 "window_start": when, "window_s": 60, "replica": "bench",
                 "instances": profile["instances"], "profile": profile, "updated_at": now}
            )  # fmt: skip
            if len(batch) == 2000:
                s.execute(insert(WindowProfileRow), batch)
                batch = []
        if batch:
            s.execute(insert(WindowProfileRow), batch)
    print(f"{minutes:,} minute profiles in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    rolled = 0
    while written := roll_up(now=now, store=store):
        rolled += written
    print(f"{rolled:,} hour/day rollups in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    span_s = days * 86400
    labelled: list[tuple[str, datetime, int]] = []
    with store.session() as s:
        for chunk in range(0, predictions, 20_000):
            n = min(20_000, predictions - chunk)
            offsets = np.sort(rng.random(n)) * span_s
            probs = rng.random(n)
            rows = []
            for j in range(n):
                pid = uuid.uuid4().hex
                when = start + timedelta(seconds=float(offsets[j]))
                label = int(probs[j] > 0.6)
                rows.append(
                    {"id": pid, "time": when, "endpoint": ENDPOINT, "model_name": MODEL,
                     "model_version": 1, "role": "primary", "inputs": None,
                     "outputs": {"output": label, "confidence": max(probs[j], 1 - probs[j])},
                     "confidence": float(max(probs[j], 1 - probs[j])),
                     "latency_ms": float(rng.gamma(2.0, 2.0)), "status": "ok"}
                )  # fmt: skip
                if rng.random() < 0.05:
                    labelled.append((pid, when, label if rng.random() < 0.9 else 1 - label))
            s.execute(insert(Prediction), rows)
        s.execute(
            insert(Feedback),
            [{"prediction_id": pid, "time": when + timedelta(minutes=5), "label": label,
              "event": None, "source": "bench", "details": {}}
             for pid, when, label in labelled],
        )  # fmt: skip
    print(
        f"{predictions:,} predictions and {len(labelled):,} labels in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    (home / "built.json").write_text(json.dumps({"predictions": predictions, "days": days}))
    return store


def retraining_story(i: int, when: datetime) -> dict:
    """A request's details as the runner records them (retraining/runner.py): six steps, a
    four-point sweep, a gate judged on 20 slices and a re-scored window."""
    stamp = when.isoformat()
    sweep = [
        {"params": {"C": c}, "run_name": f"retrain-{ENDPOINT}-{i}-{k}",
         "candidate": f"{MODEL}@{4 * i + k}", "run_id": uuid.uuid4().hex, "value": 0.9 - k / 100}
        for k, c in enumerate((0.1, 0.3, 1.0, 3.0))
    ]  # fmt: skip
    gate = {
        "passed": True, "summary": "gate passed: accuracy 0.957 vs 0.908, 20 check(s) judged",
        "dataset": f"{ENDPOINT}-eval@{i}", "against": f"{MODEL}@1", "failures": [],
        "slices": [{"tag": f"line=L{k}", "count": 40, "candidate": 0.95, "champion": 0.9}
                   for k in range(20)],
    }  # fmt: skip
    rescore = {"passed": True, "summary": "re-scored 2006 logged answer(s): 10.5% change",
               "rows": 2006, "changed": 0.105, "before": {"0": 0.83, "1": 0.17},
               "after": {"0": 0.72, "1": 0.28}, "labelled": 199, "accuracy_before": 0.85,
               "accuracy_after": 0.91, "job_id": uuid.uuid4().hex}  # fmt: skip
    outputs = {
        "dataset": {"training": f"{ENDPOINT}-training@{i}", "new_examples": 582,
                    "slices": [f"line=L{k}" for k in range(20)]},
        "train": {"candidate": sweep[2]["candidate"], "run_id": sweep[2]["run_id"],
                  "select": "val_accuracy:max", "sweep": sweep},
        "check": {"serving": f"{MODEL}@1"}, "evaluate": gate, "rescore": rescore,
        "deploy": {"plan_revision": i},
    }  # fmt: skip
    steps = [
        {"name": name, "status": "done", "started_at": stamp, "finished_at": stamp,
         "message": f"{name}: what the step did, in one line as the runner says it",
         "outputs": out}
        for name, out in outputs.items()
    ]  # fmt: skip
    return {
        "triggers": [{"trigger": "new-labels:500", "time": stamp, "reason": "512 new labels"}],
        "steps": steps, "message": "canary started", "candidate": sweep[2]["candidate"],
        "run_id": sweep[2]["run_id"],
        "evaluation": {k: gate[k] for k in ("passed", "summary", "dataset", "against", "failures")},
    }  # fmt: skip


def top_up_retraining(store: Store) -> int:
    """Finished retraining requests of the endpoint until there are ``RETRAINING_REQUESTS``;
    returns the newest one's id."""
    with store.session() as s:
        have = s.scalar(select(func.count()).select_from(RetrainingRequest)) or 0
        now = datetime.now(UTC)
        statuses = ("deployed", "rejected", "failed", "cancelled")
        rows = [
            {"endpoint": ENDPOINT, "status": statuses[i % 4], "reason": "512 new labels",
             "trigger": "new-labels:500", "created_by": "retraining",
             "created_at": now - timedelta(hours=RETRAINING_REQUESTS - i),
             "updated_at": now - timedelta(hours=RETRAINING_REQUESTS - i),
             "details": retraining_story(i, now - timedelta(hours=RETRAINING_REQUESTS - i))}
            for i in range(have, RETRAINING_REQUESTS)
        ]  # fmt: skip
        if rows:
            s.execute(insert(RetrainingRequest), rows)
        return s.scalar(select(func.max(RetrainingRequest.id)))


def serve(home: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = clean_env(home) | {"INPROD_MONITOR_TICK_SECONDS": "0"}  # page time only
    process = subprocess.Popen(
        [str(INPROD), "serve", "--port", str(port), "--log-level", "warning"],
        cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    home = DATA / f"p{args.predictions}-d{args.days}"
    if args.rebuild or not (home / "built.json").exists():
        build(home, args.predictions, args.days).close()
    store = Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    with contextlib.suppress(Conflict):  # a one-stage pipeline over the endpoint's 30 days
        pipelines.create("inspection", [f"inspect={ENDPOINT}"], store=store)
    newest = top_up_retraining(store)
    store.close()
    process, url = serve(home)
    failed = False
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            print(f"\n| page | median ms (best) | size | goal < {GOAL_MS:.0f} ms |")
            print("|---|---|---|---|")
            for page in [*PAGES, f"/ui/retraining/{newest}"]:
                client.get(page)  # warm: first-use imports and caches
                times, size, status = [], 0, 0
                for _ in range(REPEATS):
                    t0 = time.perf_counter()
                    response = client.get(page)
                    times.append((time.perf_counter() - t0) * 1000)
                    size, status = len(response.content), response.status_code
                median = statistics.median(times)
                ok = status == 200 and median < GOAL_MS
                failed |= not ok
                verdict = "✔" if ok else ("✘" if status == 200 else f"✘ HTTP {status}")
                cells = f"{median:.0f} ({min(times):.0f}) | {size / 1000:.0f} KB | {verdict}"
                print(f"| `{page}` | {cells} |")
    finally:
        process.terminate()
        process.wait(30)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
