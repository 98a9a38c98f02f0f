"""Experiment tracking speed: metric logging overhead and ``inprod runs list`` on a full store.

Run: .venv/bin/python benchmarks/runs_bench.py [--points 100000] [--runs 10000] [--postgres URL]

Goals (issue item 7):
- 100,000 metric points logged from a loop cost under 2 s of overhead, final flush included:
  (loop with ``run.log_metric`` + ``run.end()``) minus (the same loop without logging).
- ``inprod runs list`` with 10,000 runs in the store: under 0.5 s for the whole CLI process
  (subprocess, best of 3).

Everything happens in a fresh SQLite store under a temporary folder (INPROD_HOME is set for the
subprocess). Prints the figures and whether each goal holds.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from inprod.config import load_settings
from inprod.store import Store
from inprod.store.tables import Run, RunMetric
from inprod.tracking.runs import start_run

INPROD = Path(sys.executable).with_name("inprod")
REPEATS = 3
LOG_GOAL_S = 2.0
LIST_GOAL_S = 0.5
# what every store-backed command imports before doing any work
IMPORT_FLOOR = "import inprod.cli, typer._adapters, inprod.store.tables, inprod.tracking.queries"


def loop(n: int, log=None) -> float:
    """The training loop stand-in: a little arithmetic per step, optionally logging it."""
    start = time.perf_counter()
    acc = 0.0
    for i in range(n):
        loss = 1.0 / (1.0 + i) + 0.01 * math.sin(i)
        acc += loss
        if log is not None:
            log("loss", loss)
    return time.perf_counter() - start


def bench_logging(store: Store, points: int) -> float:
    overheads = []
    run_ids = []
    for attempt in range(REPEATS):
        base = loop(points)
        started = time.perf_counter()
        run = start_run("bench", f"logging-{attempt}", store=store)
        started = time.perf_counter() - started
        run_ids.append(run.id)
        start = time.perf_counter()
        loop(points, run.log_metric)
        run.end()
        with_logging = time.perf_counter() - start
        overheads.append(with_logging - base)
        print(
            f"  attempt {attempt + 1}: start_run {started * 1000:.0f} ms; loop {base:.3f} s, "
            f"loop + logging + end {with_logging:.3f} s -> overhead {with_logging - base:.3f} s "
            f"({(with_logging - base) / points * 1e6:.1f} us/point)"
        )
    with store.session(write=False) as s:
        stored = s.scalar(
            select(func.count()).select_from(RunMetric).where(RunMetric.run_id.in_(run_ids))
        )
    assert stored == points * REPEATS, f"expected {points * REPEATS} points, found {stored}"
    return min(overheads)


def bench_logging_postgres(url: str, points: int, artifacts: Path) -> None:
    """The same logging loop against PostgreSQL, in a scratch schema dropped afterwards."""
    schema = "runs_bench_" + uuid.uuid4().hex[:8]
    admin = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    store = Store(scoped.render_as_string(hide_password=False), str(artifacts))
    try:
        print(f"\nPostgreSQL: logging {points:,} metric points (best of {REPEATS}):")
        print(f"metric logging overhead (PostgreSQL): {bench_logging(store, points):.3f} s")
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fill_runs(store: Store, count: int) -> None:
    """``count`` realistic run rows, inserted directly (start_run would spend its time in git)."""
    rng = random.Random(7)
    env = {"python": "3.11.7", "platform": "Linux", "host": "bench", "packages": {"numpy": "2"}}
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        start = now - timedelta(minutes=count - i)
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "project": f"project-{i % 5}",
                "name": f"run-{i}",
                "status": rng.choice(["finished", "finished", "failed", "killed"]),
                "start_time": start,
                "end_time": start + timedelta(seconds=rng.uniform(5, 3600)),
                "code_sha": f"{rng.getrandbits(160):040x}",
                "code_dirty": rng.random() < 0.3,
                "environment": env,
                "params": {"lr": rng.choice([0.1, 0.01, 0.001]), "epochs": rng.randint(1, 50)},
                "tags": {"owner": "bench"},
                "latest_metrics": {
                    "accuracy": rng.random(),
                    "loss": rng.random(),
                    "f1": rng.random(),
                    "auc": rng.random(),
                },
            }
        )
    with store.session() as s:
        s.connection().execute(insert(Run.__table__), rows)


def query_plan(store: Store) -> str:
    with store.session(write=False) as s:
        plan = s.execute(
            text("EXPLAIN QUERY PLAN SELECT * FROM runs ORDER BY start_time DESC LIMIT 50")
        ).all()
    return "; ".join(str(row[-1]) for row in plan)


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Best of REPEATS wall-clock seconds for the whole process."""
    best = math.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def timed_cli(args: list[str], env: dict[str, str], cwd: Path) -> float:
    return timed([str(INPROD), *args], env, cwd)


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=REPEATS, help="best of this many")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also time metric logging on PostgreSQL (a scratch schema in this database)",
    )
    args = parser.parse_args()
    REPEATS = args.repeats

    with tempfile.TemporaryDirectory(prefix="inprod-runs-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
        env.update({"INPROD_HOME": str(home), "COLUMNS": "120"})
        store = Store.from_settings(load_settings(environ=env, cwd=Path(tmp)))
        try:
            print(f"logging {args.points:,} metric points (best of {REPEATS}):")
            overhead = bench_logging(store, args.points)
            verdict = "OK" if overhead < LOG_GOAL_S else f"OVER the {LOG_GOAL_S} s goal"
            print(f"metric logging overhead: {overhead:.3f} s -> {verdict}")
            if args.postgres:
                bench_logging_postgres(args.postgres, args.points, Path(tmp) / "pg-artifacts")

            fill_runs(store, args.runs)
            print(f"\nstore holds {args.runs:,} runs (+{REPEATS} from above)")
            print(f"list query plan (SQLite): {query_plan(store)}")
        finally:
            store.close()
        # an installed package has its bytecode compiled; this sandbox may forbid writing it
        # (PYTHONDONTWRITEBYTECODE), which would charge every run for compiling inprod itself
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        timed_cli(["runs", "list"], env, Path(tmp))  # warm-up: writes the bytecode cache
        floor = timed_cli(["--help"], env, Path(tmp))
        imports = timed([sys.executable, "-c", IMPORT_FLOOR], env, Path(tmp))
        listing = timed_cli(["runs", "list"], env, Path(tmp))
        as_json = timed_cli(["runs", "list", "--json"], env, Path(tmp))
        print(f"inprod --help               best {floor:.3f} s (CLI start-up)")
        print(
            f"imports only                best {imports:.3f} s (CLI + SQLAlchemy + tables + typer"
        )
        print("                                         parameter coercion; no query)")
        print(f"inprod runs list            best {listing:.3f} s")
        print(f"inprod runs list --json     best {as_json:.3f} s")
        verdict = "OK" if listing < LIST_GOAL_S else f"OVER the {LIST_GOAL_S} s goal"
        print(f"goal: inprod runs list < {LIST_GOAL_S} s with {args.runs:,} runs -> {verdict}")


if __name__ == "__main__":
    main()
