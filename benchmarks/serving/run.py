"""Serving speed, side by side: the ceiling, inprod, MLflow and BentoML on the same model.

    .venv/bin/python benchmarks/serving/run.py                  # everything, ~4 minutes
    .venv/bin/python benchmarks/serving/run.py --repeat 3 --wait-quiet 30 --soak 300 \\
        --profile /tmp/serving-profile --json /tmp/serving.json  # the README's run, ~20 min
    .venv/bin/python benchmarks/serving/run.py --only ceiling,inprod --duration 5

Method (README.md beside this file): one scikit-learn LogisticRegression on 20 floats, one
instance per request, JSON in and out. All servers start at once on free loopback ports, pinned
to core 0 (an idle server costs next to nothing), then ``wrk`` pinned to core 1 loads one at a
time: per round, per client count, each server in turn gets a short warm-up and a
``--duration`` run. Interleaving the rounds gives every server the same share of whatever else
the machine is doing; the table keeps each cell's median. MLflow and BentoML come from the
virtualenvs benchmarks/peers/setup.sh builds; a peer that is not there is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import _inprod
import _machine
import _profile
from _launch import Skip, launch, launch_inprod
from _report import Report, Row, render
from _servers import Running, post, rss_bytes, stop
from _wrk import Load, check_wrk, run_wrk
from model_data import request_body, request_row

SERVERS = ("ceiling", "inprod", "mlflow", "bentoml")
ALL = (*SERVERS, "batching")
FIRST_WARMUP_S, WARMUP_S = 3.0, 1.0
BATCH_CLIENTS = 64
PROFILE_CLIENTS = 32
RSS_EVERY_S = 5.0

Run = tuple[Load, float, float]  # (wrk's result, busy% before, load average after)


def measure(running: Running, body_path: Path, clients: int, args, *, first: bool) -> Run:
    busy = _machine.wait_quiet(args.wait_quiet)
    warmup = FIRST_WARMUP_S if first else WARMUP_S
    run_wrk(running.url, body_path, connections=clients, seconds=warmup)
    load = run_wrk(running.url, body_path, connections=clients, seconds=args.duration)
    print(
        f"  {running.name:<22} {clients:>3} clients {load.rps:8.0f} req/s  p99 "
        f"{load.p99_ms:7.2f} ms  errors {load.errors}  busy before {busy:3.0f}%  "
        f"load {_machine.load1():.2f}",
        flush=True,
    )
    return load, busy, _machine.load1()


def interleave(targets: list[Running], clients: list[int], body_path: Path, args) -> dict:
    """``args.repeat`` rounds; in each, every target at every client count, in turn."""
    runs: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for round_no in range(args.repeat):
        print(f"round {round_no + 1}/{args.repeat}", flush=True)
        for c in clients:
            for target in targets:
                first = not runs[(target.name, c)]
                runs[(target.name, c)].append(measure(target, body_path, c, args, first=first))
    return runs


def compare(tmp: Path, body: bytes, body_path: Path, args, report: Report) -> None:
    """(a)-(c) and (e): every selected server side by side; inprod's log checked at the end."""
    running: dict[str, Running] = {}
    inprod = None
    try:
        for name in [s for s in SERVERS if s in args.only]:
            print(f"starting {name}", flush=True)
            try:
                if name == "inprod":
                    inprod = launch_inprod(tmp, "inprod", body)
                    running[name] = inprod[2]
                else:
                    running[name] = launch(name, tmp, body)
            except (Skip, RuntimeError) as why:  # a peer that cannot start is reported
                report.skipped[name] = str(why)
                print(f"  skipped: {why}", flush=True)
        runs = interleave(list(running.values()), args.clients, body_path, args)
        for name in running:
            report.rows += [Row.of(name, c, runs[(name, c)]) for c in args.clients]
        if inprod is not None:
            where, port, server = inprod
            backlog = _inprod.buffered(_inprod.scrape(port))
            if args.profile:
                report.profile = profile_inprod(server, body_path, args)
            metrics = _inprod.settled_scrape(port)
            stop(server)
            check = _inprod.check_log(where, metrics, ["lr"], buffered_at_end=backlog)
            report.log_checks["inprod"] = asdict(check)
    finally:
        for server in running.values():
            stop(server)


def profile_inprod(running: Running, body_path: Path, args) -> str:
    if _profile.py_spy() is None:
        return "py-spy is not installed (.venv/bin/pip install py-spy); no profile"
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    seconds = max(5, int(args.duration))
    text = ""
    for fmt, name in (("raw", "profile.txt"), ("flamegraph", "profile.svg")):
        spy = _profile.record(running.pid, seconds, out / name, fmt)
        time.sleep(1.0)  # let py-spy attach before the load starts
        run_wrk(running.url, body_path, connections=PROFILE_CLIENTS, seconds=seconds)
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0:
            return f"py-spy failed: {err.decode(errors='replace').strip()[-500:]}"
        if fmt == "raw":
            text = _profile.render(_profile.summarize(out / name))
    (out / "summary.txt").write_text(text + "\n")
    return text


def batching(tmp: Path, body: bytes, body_path: Path, args, report: Report) -> None:
    """(d): each costly model with batching on (64) and off (1), 64 clients, interleaved."""
    where, port, server = launch_inprod(tmp, "inprod-batching", body, batching=True)
    try:
        targets = [
            Running(
                f"inprod {_inprod.batching_endpoint(model, batch)}",
                _inprod.predict_url(port, _inprod.batching_endpoint(model, batch)),
                server.process,
                server.log_path,
            )
            for model in _inprod.BATCHING_MODELS
            for batch in (_inprod.BATCH_ON, _inprod.BATCH_OFF)
        ]
        before = _inprod.scrape(port)
        runs = interleave(targets, [BATCH_CLIENTS], body_path, args)
        backlog = _inprod.buffered(_inprod.scrape(port))
        metrics = _inprod.settled_scrape(port)
        for target in targets:
            row = Row.of(target.name, BATCH_CLIENTS, runs[(target.name, BATCH_CLIENTS)])
            endpoint = target.name.removeprefix("inprod ")
            row.note = f"mean batch {_inprod.mean_batch(before, metrics, endpoint):.1f} rows"
            report.rows.append(row)
        fixed = _inprod.batching_endpoint("fixed-cost", _inprod.BATCH_ON)
        status, answer = post(_inprod.predict_url(port, fixed), body)
        got = json.loads(answer)["predictions"][0]["output"] if status == 200 else None
        if got is None or abs(got - sum(request_row())) > 1e-9:
            raise AssertionError(f"fixed-cost answered {status} {answer[:200]!r} after the load")
        metrics = _inprod.settled_scrape(port)
    finally:
        stop(server)
    names = [t.name.removeprefix("inprod ") for t in targets]
    check = _inprod.check_log(where, metrics, names, buffered_at_end=backlog)
    report.log_checks["inprod-batching"] = asdict(check)


def soak(tmp: Path, body: bytes, body_path: Path, seconds: int, report: Report) -> None:
    """(f): RSS of inprod every 5 s through a long run at 32 clients."""
    where, port, server = launch_inprod(tmp, "inprod-soak", body)
    samples: list[tuple[float, int]] = []
    result: dict[str, Load] = {}
    try:
        load = threading.Thread(
            target=lambda: result.update(
                load=run_wrk(server.url, body_path, connections=32, seconds=seconds)
            )
        )
        began = time.monotonic()
        load.start()
        while load.is_alive():
            samples.append((time.monotonic() - began, rss_bytes(server.pid)))
            load.join(RSS_EVERY_S)
        backlog = _inprod.buffered(_inprod.scrape(port))
        metrics = _inprod.settled_scrape(port)
    finally:
        stop(server)
    rss = [r for _, r in samples]
    mib = 1024 * 1024
    report.soak = {
        "seconds": seconds,
        "clients": 32,
        "rps": result["load"].rps,
        "p99_ms": result["load"].p99_ms,
        "rss_min_mib": min(rss) / mib,
        "rss_max_mib": max(rss) / mib,
        "rss_first_mib": rss[0] / mib,
        "rss_last_mib": rss[-1] / mib,
        "rss_samples_mib": [(round(t), round(r / mib, 1)) for t, r in samples],
        "log": asdict(_inprod.check_log(where, metrics, ["lr"], buffered_at_end=backlog)),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(ALL), help=f"comma list of {', '.join(ALL)}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--clients", default="1,32", help="comma list of connection counts")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds (median kept)")
    parser.add_argument("--soak", type=int, default=0, help="seconds of RSS sampling (0: off)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy inprod at 32 clients into DIR")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before each run wait up to S seconds for other work to drop under "
        f"{_machine.QUIET_BUSY_PCT:g}%% of the cores",
    )
    args = parser.parse_args(argv)
    args.only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = sorted(set(args.only) - set(ALL))
    if unknown:
        parser.error(f"unknown --only value(s) {', '.join(unknown)}; known: {', '.join(ALL)}")
    args.clients = [int(c) for c in args.clients.split(",")]
    if args.repeat < 1 or args.duration <= 0 or min(args.clients) < 1:
        parser.error("--repeat, --duration and --clients must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = check_wrk()
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    report = Report(rounds=args.repeat, duration_s=args.duration, load_before=os.getloadavg())
    body = request_body()
    with tempfile.TemporaryDirectory(prefix="inprod-serving-bench-") as name:
        tmp = Path(name)
        body_path = tmp / "body.json"
        body_path.write_bytes(body)
        if set(SERVERS) & set(args.only):
            compare(tmp, body, body_path, args, report)
        if "batching" in args.only:
            print("batching:", flush=True)
            batching(tmp, body, body_path, args, report)
        if args.soak:
            print(f"soak ({args.soak} s):", flush=True)
            soak(tmp, body, body_path, args.soak, report)
    report.load_after = os.getloadavg()
    print("\n" + render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
