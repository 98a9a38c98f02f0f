"""Canary share and stickiness, measured on a real ``inprod serve``.

    .venv/bin/python benchmarks/rollout/canary_share.py                 # ~1 minute
    .venv/bin/python benchmarks/rollout/canary_share.py --requests 20000 --json /tmp/canary.json

One server on a fresh SQLite store serves the endpoint ``lr`` (scikit-learn LogisticRegression on
20 floats, version 1); version 2 (the same model fitted with stronger regularisation) is put in
canary at a 5% step (steps 5,100, interval 1h, so the controller never advances during the run).
Once ``GET /api/endpoints`` shows the server applies that plan, one persistent client sends
``--requests`` requests, each with its own ``X-Request-Key``, and counts which version answered
(``model_version``). Then it sends again a sample of the keys (every key that landed on the
canary, the rest from the primary's) and counts keys that changed version. Last, as many requests
without a key (the random split). The figures are checked against the goals of issue 5
(README.md beside this file) and the run exits 1 when one fails.

Helpers here are shared with shadow_cost.py (same folder); the server start, the store and the
``/metrics`` parsing come from benchmarks/serving.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

SERVING = Path(__file__).resolve().parent.parent / "serving"
if str(SERVING) not in sys.path:
    sys.path.insert(0, str(SERVING))

import _inprod  # noqa: E402
from _servers import Running, free_port, get, start, stop  # noqa: E402
from model_data import request_body, training_data  # noqa: E402

if TYPE_CHECKING:
    import httpx

MODEL = "lr"
TARGET_SHARE = 0.05
TOLERANCE_PP = 1.0
LIVE_TIMEOUT_S = 30.0
SEED = 5


def fit_v2():
    """Version 2: the same LogisticRegression with stronger regularisation (C=0.1)."""
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    return LogisticRegression(C=0.1).fit(X, y)


def prepare(home: Path, endpoints: list[str]) -> _inprod.InprodHome:
    """A fresh SQLite store: ``lr`` versions 1 and 2, and ``endpoints`` each serving ``lr@1``."""
    from model_data import fit_logistic

    from inprod import endpoints as inprod_endpoints
    from inprod import models

    home.mkdir(parents=True)
    where = _inprod.InprodHome(home, f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    store = where.store()
    X, _ = training_data()
    try:
        models.register(MODEL, fit_logistic(), sample=X[:5], store=store)
        models.register(MODEL, fit_v2(), sample=X[:5], store=store)
        for name in endpoints:
            inprod_endpoints.create(name, f"{MODEL}@1", store=store)
    finally:
        store.close()
    return where


def launch(where: _inprod.InprodHome, tmp: Path, first_endpoint: str) -> tuple[int, Running]:
    """``inprod serve`` pinned to core 0 (benchmarks/serving's way), once it predicts."""
    port = free_port()
    running = start(
        "inprod",
        where.command(port),
        _inprod.predict_url(port, first_endpoint),
        request_body(),
        log_path=tmp / "inprod.log",
        env=where.env(),
        cwd=where.home,
    )
    return port, running


def live_plan(port: int, endpoint: str) -> dict:
    """What the running server applies now for ``endpoint`` (``GET /api/endpoints``)."""
    for info in json.loads(get(f"http://127.0.0.1:{port}/api/endpoints")):
        if info["name"] == endpoint:
            return info["live"] or {}
    raise RuntimeError(f"the server does not list endpoint {endpoint!r}")


def wait_live(port: int, endpoint: str, revision: int, running: Running) -> float:
    """Seconds until the server applies ``revision`` of the endpoint's plan."""
    began = time.monotonic()
    while True:
        live = live_plan(port, endpoint)
        if live.get("revision") == revision:
            if live.get("problems"):
                raise RuntimeError(f"the server applied the plan with problems: {live}")
            return time.monotonic() - began
        if time.monotonic() - began > LIVE_TIMEOUT_S or running.process.poll() is not None:
            raise RuntimeError(
                f"the server did not apply revision {revision} of {endpoint!r} in "
                f"{LIVE_TIMEOUT_S:g}s (live: {live}):\n{running.log_tail()}"
            )
        time.sleep(0.05)


def count_roles(where: _inprod.InprodHome, endpoint: str) -> dict[str, int]:
    """Logged predictions of ``endpoint`` by role (read after the server's graceful stop)."""
    from sqlalchemy import func, select

    from inprod.store.tables import Prediction

    store = where.store()
    try:
        with store.session(write=False) as s:
            rows = s.execute(
                select(Prediction.role, func.count())
                .where(Prediction.endpoint == endpoint)
                .group_by(Prediction.role)
            ).all()
    finally:
        store.close()
    return {role: int(n) for role, n in rows}


@dataclass
class Goal:
    name: str
    measured: str
    passed: bool


@dataclass
class Result:
    requests: int
    candidate: str
    apply_s: float = 0.0
    keyed: dict[str, int] = field(default_factory=dict)
    keyed_share_pct: float = 0.0
    keyed_seconds: float = 0.0
    resent: int = 0
    resent_canary_keys: int = 0
    switches: int = 0
    resent_on_canary: int = 0
    unkeyed: dict[str, int] = field(default_factory=dict)
    unkeyed_share_pct: float = 0.0
    errors: int = 0
    logged_roles: dict[str, int] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)


def send(client: httpx.Client, url: str, body: bytes, key: str | None) -> str | None:
    """One request; the version that answered, or None for a failed request."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-Request-Key"] = key
    response = client.post(url, content=body, headers=headers)
    if response.status_code != 200:
        return None
    return response.json()["model_version"]


def measure(port: int, endpoint: str, args: argparse.Namespace, result: Result) -> None:
    import httpx

    url = _inprod.predict_url(port, endpoint)
    body = request_body()
    keys = [f"customer-{SEED}-{i:06d}" for i in range(args.requests)]
    canary = result.candidate
    with httpx.Client(timeout=10.0) as client:
        began = time.perf_counter()
        first = {key: send(client, url, body, key) for key in keys}
        result.keyed_seconds = time.perf_counter() - began
        result.keyed = dict(Counter(str(v) for v in first.values()))
        result.keyed_share_pct = 100.0 * result.keyed.get(canary, 0) / args.requests
        # every canary key, the rest primary keys, in a seeded shuffled order
        on_canary = [k for k, v in first.items() if v == canary]
        others = [k for k, v in first.items() if v != canary]
        rng = random.Random(SEED)
        sample = on_canary[: args.resend] + rng.sample(
            others, max(0, min(len(others), args.resend - len(on_canary)))
        )
        rng.shuffle(sample)
        again = {key: send(client, url, body, key) for key in sample}
        result.resent = len(sample)
        result.resent_canary_keys = min(len(on_canary), args.resend)
        result.switches = sum(1 for k in sample if again[k] != first[k])
        result.resent_on_canary = sum(1 for v in again.values() if v == canary)
        unkeyed = [send(client, url, body, None) for _ in range(args.requests)]
        result.unkeyed = dict(Counter(str(v) for v in unkeyed))
        result.unkeyed_share_pct = 100.0 * result.unkeyed.get(canary, 0) / args.requests
    result.errors = sum(counts.get("None", 0) for counts in (result.keyed, result.unkeyed)) + sum(
        1 for v in again.values() if v is None
    )


def judge_goals(result: Result) -> list[Goal]:
    target = 100.0 * TARGET_SHARE
    keyed_off = abs(result.keyed_share_pct - target)
    unkeyed_off = abs(result.unkeyed_share_pct - target)
    answered = (
        result.keyed.get(result.candidate, 0)
        + result.resent_on_canary
        + result.unkeyed.get(result.candidate, 0)
    )
    logged = result.logged_roles.get("canary", 0)
    return [
        Goal(
            f"keyed canary share within {target:g}% ± {TOLERANCE_PP:g} pp",
            f"{result.keyed_share_pct:.2f}% ({keyed_off:.2f} pp off)",
            keyed_off <= TOLERANCE_PP,
        ),
        Goal(
            "each key stays on one version (0 switches)",
            f"{result.switches} switches in {result.resent} re-sent keys "
            f"({result.resent_canary_keys} of them on the canary)",
            result.switches == 0,
        ),
        Goal(
            f"unkeyed (random) canary share within {target:g}% ± {TOLERANCE_PP:g} pp",
            f"{result.unkeyed_share_pct:.2f}% ({unkeyed_off:.2f} pp off)",
            unkeyed_off <= TOLERANCE_PP,
        ),
        Goal("no failed requests", f"{result.errors} failed", result.errors == 0),
        Goal(
            "every canary answer is logged with role canary",
            f"{logged} rows for {answered} answers",
            logged == answered,
        ),
    ]


def render(result: Result) -> str:
    lines = [
        f"canary {result.candidate} at {100 * TARGET_SHARE:g}%: server applied the plan "
        f"{result.apply_s:.2f} s after the change",
        f"keyed:   {result.requests} requests, distinct keys, in {result.keyed_seconds:.1f} s: "
        f"{result.keyed}",
        f"resent:  {result.resent} keys, {result.switches} switched version",
        f"unkeyed: {result.requests} requests: {result.unkeyed}",
        f"logged predictions by role: {result.logged_roles}",
        "",
    ]
    lines += [f"{'PASS' if g.passed else 'FAIL'}  {g.name}: {g.measured}" for g in result.goals]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="keyed (and unkeyed) sends")
    parser.add_argument("--resend", type=int, default=2_000, help="keys sent a second time")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.resend < 0:
        parser.error("--requests must be positive and --resend >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from inprod.rollout import actions

    endpoint = MODEL
    result = Result(requests=args.requests, candidate=f"{MODEL}@2")
    with tempfile.TemporaryDirectory(prefix="inprod-canary-bench-") as name:
        tmp = Path(name)
        where = prepare(tmp / "home", [endpoint])
        port, running = launch(where, tmp, endpoint)
        try:
            store = where.store()
            try:
                plan = actions.canary(
                    endpoint, result.candidate, steps="5,100", interval="1h",
                    reason="benchmark", actor="benchmark", store=store,
                )  # fmt: skip
            finally:
                store.close()
            result.apply_s = wait_live(port, endpoint, plan.revision, running)
            live = live_plan(port, endpoint)
            if live["candidate_role"] != "canary" or live["canary_weight"] != TARGET_SHARE:
                raise RuntimeError(f"the server applies {live}, not a 5% canary")
            measure(port, endpoint, args, result)
        finally:
            stop(running)
        result.logged_roles = count_roles(where, endpoint)
    result.goals = judge_goals(result)
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0 if all(g.passed for g in result.goals) else 1


if __name__ == "__main__":
    sys.exit(main())
