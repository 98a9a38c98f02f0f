"""What window profiles cost the server, measured side by side in one run.

    .venv/bin/python benchmarks/monitoring/profile_cost.py              # ~2 minutes
    .venv/bin/python benchmarks/monitoring/profile_cost.py --rounds 7 --json /tmp/profile.json

Two ``inprod serve`` processes (both pinned to core 0, as in benchmarks/serving; an idle one
costs next to nothing) on two fresh SQLite stores with the same endpoint ``lr`` (scikit-learn
LogisticRegression on 20 floats): ``off`` with ``INPROD_PROFILE_SECONDS=0`` and ``on`` with
one-minute window profiles. ``wrk`` (pinned to core 1) loads one at a time; per round and
connection count both servers in turn, the order alternating between rounds. Each cell is the
median over the rounds, with the server's CPU time per request read from /proc around each run
(the profile is built in the log writer thread, so its cost shows as CPU, then as req/s).
Goal (issue 6): profiling costs under 10% of throughput. At the end the ``on`` server is stopped
gracefully and its window profiles must count every request it answered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

SERVING = Path(__file__).resolve().parent.parent / "serving"
ROLLOUT = SERVING.parent / "rollout"
for _path in (SERVING, ROLLOUT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _inprod  # noqa: E402
from _servers import free_port, start, stop  # noqa: E402
from _wrk import check_wrk  # noqa: E402
from model_data import request_body  # noqa: E402
from shadow_cost import one_run  # noqa: E402

ENDPOINT = "lr"
GOAL_RPS_RATIO = 0.90
MODES = {"off": "0", "on": "60"}


def launch(tmp: Path, mode: str):
    where = _inprod.prepare(tmp / mode)
    port = free_port()
    env = {**where.env(), "INPROD_PROFILE_SECONDS": MODES[mode]}
    running = start(
        mode,
        where.command(port),
        _inprod.predict_url(port, ENDPOINT),
        request_body(),
        log_path=tmp / f"{mode}.log",
        env=env,
        cwd=where.home,
    )
    return where, port, running


def profiled_calls(where: _inprod.InprodHome) -> int:
    from datetime import UTC, datetime, timedelta

    from inprod.monitoring.windows import read_profiles

    store = where.store()
    try:
        now = datetime.now(UTC)
        profiles = read_profiles(
            ENDPOINT, since=now - timedelta(days=1), until=now + timedelta(hours=1), store=store
        )
        return sum(p.requests for p in profiles.values())
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[32])
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args()
    check_wrk()
    body = request_body()
    runs: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="inprod-profile-cost-") as tmp_name:
        tmp = Path(tmp_name)
        body_path = tmp / "body.json"
        body_path.write_bytes(body)
        servers = {mode: launch(tmp, mode) for mode in MODES}
        answered = {}
        try:
            for round_no in range(args.rounds):
                print(f"round {round_no + 1}/{args.rounds}", flush=True)
                order = list(MODES) if round_no % 2 == 0 else list(reversed(MODES))
                for c in args.clients:
                    for mode in order:
                        _, port, running = servers[mode]
                        print(f"  [{mode}]", end="", flush=True)
                        run = one_run(port, running.pid, ENDPOINT, body_path, c, args)
                        runs.setdefault((mode, c), []).append(run)
            for mode, (_, port, _) in servers.items():
                metrics = _inprod.settled_scrape(port)
                answered[mode] = int(
                    _inprod.metric_sum(metrics, "inprod_requests_total", endpoint=ENDPOINT)
                )
        finally:
            for _, _, running in servers.values():
                stop(running)
        calls = profiled_calls(servers["on"][0])
    result: dict = {"rounds": args.rounds, "duration_s": args.duration, "cells": {}, "goals": []}
    print(f"\n{'mode':<5} {'conn':>4} {'req/s':>8} {'p50 ms':>8} {'CPU us/req':>10}")
    for (mode, c), cell in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        med = {k: statistics.median(r[k] for r in cell) for k in cell[0]}
        result["cells"][f"{mode}-{c}"] = {"median": med, "runs": cell}
        print(
            f"{mode:<5} {c:>4} {med['rps']:8.0f} {med['p50_ms']:8.3f} "
            f"{med['cpu_us_per_request']:10.0f}"
        )
    for c in args.clients:
        off, on = runs[("off", c)], runs[("on", c)]
        rps = statistics.median(r["rps"] for r in on) / statistics.median(r["rps"] for r in off)
        paired = statistics.median(b["rps"] / a["rps"] for a, b in zip(off, on, strict=True))
        cpu = statistics.median(r["cpu_us_per_request"] for r in on) / statistics.median(
            r["cpu_us_per_request"] for r in off
        )
        result["goals"].append(
            {
                "name": f"throughput with profiles >= {GOAL_RPS_RATIO:g}x without, {c} conn",
                "measured": f"{rps:.3f}x (paired rounds {paired:.3f}x; CPU/request {cpu:.3f}x)",
                "passed": rps >= GOAL_RPS_RATIO,
            }
        )
    result["goals"].append(
        {
            "name": "the profiles count every request the 'on' server answered",
            "measured": f"{calls} profiled calls for {answered.get('on')} answered",
            "passed": calls == answered.get("on"),
        }
    )
    print()
    for goal in result["goals"]:
        print(f"{'PASS' if goal['passed'] else 'MISS'}  {goal['name']}: {goal['measured']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if all(g["passed"] for g in result["goals"]) else 1


if __name__ == "__main__":
    sys.exit(main())
