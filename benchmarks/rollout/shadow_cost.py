"""What a shadow costs the primary's clients, measured side by side on one real server.

    .venv/bin/python benchmarks/rollout/shadow_cost.py                  # ~2.5 minutes
    .venv/bin/python benchmarks/rollout/shadow_cost.py --rounds 7 --profile /tmp/shadow-prof \\
        --json /tmp/shadow.json

One ``inprod serve`` (pinned to core 0, as in benchmarks/serving) on a fresh SQLite store, two
endpoints serving the same primary, ``lr@1`` (scikit-learn LogisticRegression on 20 floats):
``plain``, and ``shadowed`` with ``lr@2`` in shadow (copies answered after the response). Once
``GET /api/endpoints`` shows the shadow applied, ``wrk`` (post.lua, pinned to core 1) loads one
endpoint at a time at a fixed number of connections: per round and connection count, both
endpoints in turn (the order alternates between rounds), each with a short warm-up; the
server's CPU time per request is read from /proc around each run. A paced client (one request
every 1/``--paced-rate`` s, so the server is idle in between) shows the latency of a request whose
copy does not compete with the next one (informative, not a goal). Every cell is the median over
the rounds; the goal compares the medians of p50 (issue 5: shadow costs the
primary's p50 under 5%). At the end the server's ``/metrics`` (shadow copies answered and
skipped, once the counters settle) and, after its graceful stop, the predictions table (rows by
role) show that the shadow really answered every copy. ``--profile DIR`` also records py-spy
(``--gil``) during one run of each endpoint at the first connection count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

SERVING = Path(__file__).resolve().parent.parent / "serving"
if str(SERVING) not in sys.path:
    sys.path.insert(0, str(SERVING))

import _inprod  # noqa: E402
import _machine  # noqa: E402
import _profile  # noqa: E402
from _servers import stop  # noqa: E402
from _wrk import WRK_CPU, Load, check_wrk, run_wrk  # noqa: E402
from canary_share import MODEL, count_roles, launch, live_plan, prepare, wait_live  # noqa: E402
from model_data import request_body  # noqa: E402

if TYPE_CHECKING:
    import httpx

PLAIN, SHADOWED = "plain", "shadowed"
SHADOW_REF = f"{MODEL}@2"
GOAL_P50_RATIO = 1.05
PACED = 0  # the connection count under which the paced (open-loop) runs are kept
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SETTLE_TIMEOUT_S = 30.0


@dataclass
class Cell:
    """One endpoint at one connection count: every round's wrk result."""

    endpoint: str
    connections: int
    runs: list[dict] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.runs)

    def span(self, key: str) -> tuple[float, float]:
        return min(r[key] for r in self.runs), max(r[key] for r in self.runs)


@dataclass
class Result:
    rounds: int
    duration_s: float
    warmup_s: float
    apply_s: float = 0.0
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()
    cells: list[Cell] = field(default_factory=list)
    ratios: dict[str, dict[str, float]] = field(default_factory=dict)
    shadow: dict[str, int] = field(default_factory=dict)
    logged_roles: dict[str, dict[str, int]] = field(default_factory=dict)
    review_tasks: int = 0
    profile: dict[str, str] = field(default_factory=dict)
    goals: list[dict] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """CPU time the server process (all its threads) has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def one_run(
    port: int, pid: int, endpoint: str, body_path: Path, connections: int, args: argparse.Namespace
) -> dict:
    url = _inprod.predict_url(port, endpoint)
    run_wrk(url, body_path, connections=connections, seconds=args.warmup)
    cpu0 = cpu_seconds(pid)
    load: Load = run_wrk(url, body_path, connections=connections, seconds=args.duration)
    cpu = cpu_seconds(pid) - cpu0
    run = {
        "rps": load.rps,
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "errors": load.errors,
        "requests": load.requests,
        "cpu_us_per_request": 1e6 * cpu / max(1, load.requests),
        "load1": os.getloadavg()[0],
    }
    print(
        f"  {endpoint:<9} {connections:>2} conn  {load.rps:7.0f} req/s  p50 {load.p50_ms:6.3f} ms"
        f"  p99 {load.p99_ms:7.2f} ms  cpu {run['cpu_us_per_request']:5.0f} us/req"
        f"  errors {load.errors}  load {run['load1']:.2f}",
        flush=True,
    )
    return run


def paced_run(client: httpx.Client, port: int, endpoint: str, args: argparse.Namespace) -> dict:
    """``args.paced_rate`` requests a second at fixed times from one client (open loop): the
    server is idle between requests, so a shadow copy has time to finish before the next one."""
    url = _inprod.predict_url(port, endpoint)
    body = request_body()
    headers = {"Content-Type": "application/json"}
    interval = 1.0 / args.paced_rate
    total = max(1, int(args.duration * args.paced_rate))
    for _ in range(int(args.warmup * args.paced_rate)):
        client.post(url, content=body, headers=headers)
    latencies, errors = [], 0
    began = time.perf_counter()
    for i in range(total):
        delay = began + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        latencies.append(1000.0 * (time.perf_counter() - t0))
        errors += response.status_code != 200
    latencies.sort()
    run = {
        "rps": total / (time.perf_counter() - began),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
        "requests": total,
        "load1": os.getloadavg()[0],
    }
    print(
        f"  {endpoint:<9} paced {args.paced_rate:g}/s  p50 {run['p50_ms']:6.3f} ms"
        f"  p99 {run['p99_ms']:7.2f} ms  errors {errors}  load {run['load1']:.2f}",
        flush=True,
    )
    return run


def interleave(port: int, pid: int, body_path: Path, args: argparse.Namespace) -> list[Cell]:
    """Per round: each connection count (and the paced client), both endpoints in turn."""
    import httpx

    os.sched_setaffinity(0, {int(WRK_CPU)})  # the paced client runs where wrk does, not on 0
    counts = [*args.clients, *([PACED] if args.paced_rate else [])]
    cells = {(e, c): Cell(e, c) for c in counts for e in (PLAIN, SHADOWED)}
    with httpx.Client(timeout=10.0) as client:
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}/{args.rounds}", flush=True)
            order = (PLAIN, SHADOWED) if round_no % 2 == 0 else (SHADOWED, PLAIN)
            for c in counts:
                for endpoint in order:
                    busy = _machine.wait_quiet(args.wait_quiet) if args.wait_quiet else None
                    if c == PACED:
                        run = paced_run(client, port, endpoint, args)
                    else:
                        run = one_run(port, pid, endpoint, body_path, c, args)
                    cells[(endpoint, c)].runs.append({**run, "busy_before_pct": busy})
    return list(cells.values())


def ratios(cells: list[Cell]) -> dict[str, dict[str, float]]:
    """Per connection count: shadowed / plain for the medians, and the median of each round's
    own ratio (the two runs of a round are seconds apart, so drift cancels)."""
    by = {(c.endpoint, c.connections): c for c in cells}
    out = {}
    for conn in sorted({c.connections for c in cells}):
        off, on = by[(PLAIN, conn)], by[(SHADOWED, conn)]
        paired = [b["p50_ms"] / a["p50_ms"] for a, b in zip(off.runs, on.runs, strict=True)]
        out[label(conn)] = {
            "p50": on.median("p50_ms") / off.median("p50_ms"),
            "p50_paired_median": statistics.median(paired),
            "p99": on.median("p99_ms") / off.median("p99_ms"),
            "rps": on.median("rps") / off.median("rps"),
        }
        if conn != PACED:
            out[label(conn)]["cpu_per_request"] = on.median("cpu_us_per_request") / off.median(
                "cpu_us_per_request"
            )
    return out


def label(connections: int) -> str:
    return "paced" if connections == PACED else f"{connections} conn"


def settled_shadow_counts(port: int) -> dict[str, int]:
    """Primary answers of ``shadowed`` and its shadow copies, once the counters stop moving (wrk
    leaves requests in flight, and copies start after their responses)."""

    def counts() -> dict[str, int]:
        m = _inprod.scrape(port)
        return {
            "primary_answered": int(
                _inprod.metric_sum(m, "inprod_requests_total", endpoint=SHADOWED, code="200")
            ),
            "shadow_ok": int(
                _inprod.metric_sum(
                    m, "inprod_shadow_requests_total", endpoint=SHADOWED, outcome="ok"
                )
            ),
            "shadow_error": int(
                _inprod.metric_sum(
                    m, "inprod_shadow_requests_total", endpoint=SHADOWED, outcome="error"
                )
            ),
            "shadow_skipped": int(
                _inprod.metric_sum(m, "inprod_shadow_skipped_total", endpoint=SHADOWED)
            ),
            "log_dropped": int(_inprod.metric_sum(m, "inprod_log_dropped_total")),
        }

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = counts()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = counts()
        if now == last:
            return now
        last = now
    return last


def profile_both(
    port: int, pid: int, body_path: Path, connections: int, args: argparse.Namespace
) -> dict[str, str]:
    """py-spy (GIL holder only) on the server during one run of each endpoint."""
    if _profile.py_spy() is None:
        return {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = max(3, int(args.duration))
    texts = {}
    for endpoint in (PLAIN, SHADOWED):
        raw = out_dir / f"{endpoint}-{connections}conn.txt"
        spy = _profile.record(pid, seconds, raw, "raw")
        time.sleep(1.0)  # let py-spy attach before the load starts
        run_wrk(
            _inprod.predict_url(port, endpoint), body_path, connections=connections,
            seconds=seconds,
        )  # fmt: skip
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0:
            texts[endpoint] = f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}"
            continue
        texts[endpoint] = _profile.render(_profile.summarize(raw, top=40))
        (out_dir / f"{endpoint}-{connections}conn-summary.txt").write_text(texts[endpoint] + "\n")
    return texts


def count_review_tasks(where: _inprod.InprodHome) -> int:
    from sqlalchemy import func, select

    from inprod.store.tables import ReviewTask

    store = where.store()
    try:
        with store.session(write=False) as s:
            return int(s.scalar(select(func.count()).select_from(ReviewTask)) or 0)
    finally:
        store.close()


def judge_goals(result: Result) -> list[dict]:
    goals = []
    for conn, r in result.ratios.items():
        if conn == "paced":
            continue  # informative: the goal is measured under wrk at fixed concurrency
        goals.append(
            {
                "name": f"p50 with shadow <= {GOAL_P50_RATIO:g}x without, wrk {conn}",
                "measured": f"{r['p50']:.3f}x (paired rounds: {r['p50_paired_median']:.3f}x)",
                "passed": r["p50"] <= GOAL_P50_RATIO,
            }
        )
    s = result.shadow
    copies = s.get("shadow_ok", 0) + s.get("shadow_error", 0)
    goals.append(
        {
            "name": "every primary answer of the shadowed endpoint got a shadow copy",
            "measured": f"{copies} copies ({s.get('shadow_error', 0)} failed, "
            f"{s.get('shadow_skipped', 0)} skipped) for {s.get('primary_answered', 0)} answers",
            "passed": copies == s.get("primary_answered", -1),
        }
    )
    errors = sum(r["errors"] for c in result.cells for r in c.runs)
    goals.append({"name": "no failed requests", "measured": f"{errors}", "passed": errors == 0})
    return goals


def render(result: Result) -> str:
    lines = [
        f"{result.rounds} rounds, {result.duration_s:g} s runs after {result.warmup_s:g} s "
        f"warm-up; medians (min-max)",
        "",
        f"{'endpoint':<10} {'load':>11} {'req/s':>21} {'p50 ms':>22} {'p99 ms':>8} "
        f"{'CPU us/req':>10}",
    ]
    for c in sorted(result.cells, key=lambda c: (c.connections, c.endpoint)):
        rps_lo, rps_hi = c.span("rps")
        p50_lo, p50_hi = c.span("p50_ms")
        cpu = "" if c.connections == PACED else f"{c.median('cpu_us_per_request'):10.0f}"
        lines.append(
            f"{c.endpoint:<10} {label(c.connections):>11} "
            f"{c.median('rps'):>6.0f} ({rps_lo:5.0f}-{rps_hi:5.0f}) "
            f"{c.median('p50_ms'):>7.3f} ({p50_lo:.3f}-{p50_hi:.3f}) {c.median('p99_ms'):>8.2f} "
            f"{cpu}"
        )
    lines.append("")
    for conn, r in result.ratios.items():
        cpu = f", CPU per request {r['cpu_per_request']:.3f}x" if "cpu_per_request" in r else ""
        lines.append(
            f"shadowed / plain, {conn}: p50 {r['p50']:.3f}x (paired "
            f"{r['p50_paired_median']:.3f}x), p99 {r['p99']:.3f}x, req/s {r['rps']:.3f}x{cpu}"
        )
    lines += [
        f"shadow copies (/metrics, settled): {result.shadow}",
        f"predictions logged by role: {result.logged_roles}; review tasks: {result.review_tasks}",
        f"load average before {result.load_before}, after {result.load_after}",
        "",
    ]
    lines += [
        f"{'PASS' if g['passed'] else 'FAIL'}  {g['name']}: {g['measured']}" for g in result.goals
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median kept)")
    parser.add_argument("--duration", type=int, default=4, help="seconds per run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per run")
    parser.add_argument("--clients", default="1,4", help="comma list of connection counts")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=200.0,
        help="also send this many requests a second from one paced client (0: off)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before each run wait up to S seconds for other work to drop under "
        f"{_machine.QUIET_BUSY_PCT:g}%% of the cores",
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy both endpoints into DIR")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    if args.rounds < 1 or args.duration <= 0 or args.warmup <= 0 or min(args.clients) < 1:
        parser.error(
            "--rounds, --duration, --warmup (whole seconds) and --clients must be positive"
        )
    if args.paced_rate < 0 or args.wait_quiet < 0:
        parser.error("--paced-rate and --wait-quiet must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = check_wrk()
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    from inprod.rollout import actions

    result = Result(args.rounds, args.duration, args.warmup, load_before=os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="inprod-shadow-bench-") as name:
        tmp = Path(name)
        body_path = tmp / "body.json"
        body_path.write_bytes(request_body())
        where = prepare(tmp / "home", [PLAIN, SHADOWED])
        port, running = launch(where, tmp, PLAIN)
        try:
            store = where.store()
            try:
                plan = actions.shadow(
                    SHADOWED, SHADOW_REF, reason="benchmark", actor="benchmark", store=store
                )
            finally:
                store.close()
            result.apply_s = wait_live(port, SHADOWED, plan.revision, running)
            live = live_plan(port, SHADOWED)
            if live["candidate_role"] != "shadow" or live["candidate"] != SHADOW_REF:
                raise RuntimeError(f"the server applies {live}, not a shadow of {SHADOW_REF}")
            result.cells = interleave(port, running.pid, body_path, args)
            result.shadow = settled_shadow_counts(port)
            if args.profile:
                result.profile = profile_both(port, running.pid, body_path, args.clients[0], args)
        finally:
            stop(running)
        result.logged_roles = {e: count_roles(where, e) for e in (PLAIN, SHADOWED)}
        result.review_tasks = count_review_tasks(where)
    result.load_after = os.getloadavg()
    result.ratios = ratios(result.cells)
    result.goals = judge_goals(result)
    print("\n" + render(result))
    for endpoint, text in result.profile.items():
        print(f"\n--- py-spy, {endpoint} ---\n{text}")
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0 if all(g["passed"] for g in result.goals) else 1


if __name__ == "__main__":
    sys.exit(main())
