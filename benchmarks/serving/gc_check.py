"""How much of inprod's serving time goes to the garbage collector, and what gc.freeze() saves.

    .venv/bin/python benchmarks/serving/gc_check.py [--rounds 3] [--duration 10]

Starts ``inprod serve`` (LR endpoint, fresh store, core 0) through gc_probe.py twice per round —
as it is, and with ``gc.freeze()`` after startup — and loads each with wrk at 32 clients (core 1).
Prints, per run, req/s, p99, and the collections of each generation with their total and
longest pause during the load (the startup's own collections are left out).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _inprod
import _machine
from _servers import free_port, start, stop
from _wrk import check_wrk, run_wrk
from model_data import request_body

HERE = Path(__file__).parent
VARIANTS = {"as is": "0", "gc.freeze()": "1"}
CLIENTS = 32


def _read(path: Path) -> dict:
    for _ in range(50):
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.1)
    raise RuntimeError(f"no GC statistics in {path}")


def one_run(tmp: Path, label: str, freeze: str, seconds: float) -> dict:
    where = _inprod.prepare(tmp / label)
    stats = tmp / f"{label}.gc.json"
    port = free_port()
    env = {**where.env(), "BENCH_GC_STATS": str(stats), "BENCH_GC_FREEZE": freeze}
    command = [sys.executable, str(HERE / "gc_probe.py"), *where.command(port)[1:]]
    body = request_body()
    body_path = tmp / "body.json"
    body_path.write_bytes(body)
    server = start(
        label, command, _inprod.predict_url(port, "lr"), body,
        log_path=tmp / f"{label}.log", env=env, cwd=where.home,
    )  # fmt: skip
    try:
        busy = _machine.busy_pct()
        run_wrk(server.url, body_path, connections=CLIENTS, seconds=3)
        time.sleep(1.2)
        before = _read(stats)
        load = run_wrk(server.url, body_path, connections=CLIENTS, seconds=seconds)
        time.sleep(1.2)
        after = _read(stats)
    finally:
        stop(server)
    gens = {}
    for g in ("0", "1", "2"):
        a, b = after["generations"][g], before["generations"][g]
        gens[g] = (a["collections"] - b["collections"], a["total_s"] - b["total_s"], a["max_s"])
    return {"rps": load.rps, "p99_ms": load.p99_ms, "busy": busy, "gc": gens,
            "objects": after["tracked_objects"], "seconds": load.seconds}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    if problem := check_wrk():
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="inprod-gc-check-") as name:
        tmp = Path(name)
        for r in range(args.rounds):
            for variant, freeze in VARIANTS.items():
                res = one_run(tmp, f"r{r}-{freeze}", freeze, args.duration)
                results[variant].append(res)
                gc_ms = sum(t for _, t, _ in res["gc"].values()) * 1000
                print(
                    f"round {r + 1} {variant:<12} {res['rps']:6.0f} req/s  p99 "
                    f"{res['p99_ms']:7.2f} ms  GC {gc_ms:6.0f} ms in {res['seconds']:.0f} s "
                    f"(gen2: {res['gc']['2'][0]} collections, {1000 * res['gc']['2'][1]:.0f} ms)"
                    f"  {res['objects']} tracked objects  busy before {res['busy']:.0f}%",
                    flush=True,
                )
    print(f"\nmedians over {args.rounds} round(s), {CLIENTS} clients:")
    for variant, runs in results.items():
        gc_share = statistics.median(
            100 * sum(t for _, t, _ in x["gc"].values()) / x["seconds"] for x in runs
        )
        print(
            f"  {variant:<12} {statistics.median(x['rps'] for x in runs):6.0f} req/s  p99 "
            f"{statistics.median(x['p99_ms'] for x in runs):7.2f} ms  GC "
            f"{gc_share:4.1f}% of the time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
