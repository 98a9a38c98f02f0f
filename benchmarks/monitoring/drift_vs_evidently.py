"""Offline drift of 1,000,000 × 25 numeric columns: inprod against Evidently's DataDriftPreset.

Run: .venv/bin/python benchmarks/monitoring/drift_vs_evidently.py [--rows 1000000] [--repeat 3]
     [--json]   (Evidently first: bash benchmarks/peers/setup.sh evidently)

Goal (issue 6): ``inprod monitor drift`` at least 10× faster than Evidently 0.7's
``DataDriftPreset`` on the same data and machine, with the same verdict on every column.

Data (seeded, written once as Parquet under benchmarks/.data/): 25 float64 columns per side, five
families in turn (normal, log-normal, uniform, exponential, normal rounded to 0.01, which has
ties). The current side is a fresh draw from the same distributions, except 5 columns:
f00, f06, f12 and f18 are moved by +0.5 of their own standard deviation, and f24 (rounded normal)
keeps its mean but its spread is scaled ×1.5. Both tools should flag exactly those five.

Timed side by side in one run, best of ``--repeat``:
- inprod compute: ``table_drift`` in this process on DataFrames already in memory;
- inprod end to end: the ``inprod monitor drift REF CUR --json`` process, reading the files;
- Evidently compute: ``Report([DataDriftPreset()]).run(...)`` on DataFrames already in memory,
  timed inside a process of its own venv (this file, run there with ``--evidently-worker``);
- Evidently end to end: that whole process (start, imports, pandas.read_parquet, the run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / ".data"
PEER = ROOT / "benchmarks" / ".peers" / "evidently"
INPROD = ROOT / ".venv" / "bin" / "inprod"
GOAL_SPEEDUP = 10.0
N_COLUMNS = 25
SHIFT_STD = 0.5  # mean shift of f00, f06, f12, f18, in their own standard deviations
SCALE = 1.5  # spread factor of f24
SEED = 6
DATA_VERSION = 1  # bump when the generator changes, so cached files are rebuilt


def columns() -> list[str]:
    return [f"f{i:02d}" for i in range(N_COLUMNS)]


def shifted_columns() -> list[str]:
    return ["f00", "f06", "f12", "f18", "f24"]


def make_side(rows: int, seed: int, *, shifted: bool):  # -> pd.DataFrame
    """One side of the test set; ``shifted`` applies the documented changes to 5 columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {}
    for i, name in enumerate(columns()):
        family, loc = i % 5, float(i)
        if family == 0:
            values, std = rng.normal(loc, 1.0 + i / 10, rows), 1.0 + i / 10
        elif family == 1:
            values, std = (
                rng.lognormal(0.0, 0.5, rows),
                float(np.sqrt((np.e**0.25 - 1) * np.e**0.25)),
            )
        elif family == 2:
            values, std = rng.uniform(loc, loc + 3.0, rows), 3.0 / np.sqrt(12)
        elif family == 3:
            values, std = rng.exponential(2.0, rows), 2.0
        else:
            spread = SCALE if shifted and name == "f24" else 1.0
            values, std = np.round(rng.normal(loc, 2.0 * spread, rows), 2), 2.0
        if shifted and name in shifted_columns() and name != "f24":
            values = values + SHIFT_STD * std
        data[name] = values
    return pd.DataFrame(data)


def ensure_data(rows: int) -> tuple[Path, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    stem = f"drift_{rows}_v{DATA_VERSION}"
    ref, cur = DATA / f"{stem}_reference.parquet", DATA / f"{stem}_current.parquet"
    if not (ref.exists() and cur.exists()):
        make_side(rows, SEED, shifted=False).to_parquet(ref, index=False)
        make_side(rows, SEED + 1, shifted=True).to_parquet(cur, index=False)
    return ref, cur


def best_of(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def evidently_worker(ref: str, cur: str) -> None:
    """Runs inside Evidently's venv: read, run the preset once, print timings and verdicts."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    reference, current = pd.read_parquet(ref), pd.read_parquet(cur)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        current_data=current, reference_data=reference
    )
    compute_s = time.perf_counter() - t0
    result = snapshot.dict()
    scores = {
        m["config"]["column"]: {"method": m["config"]["method"], "score": m["value"]}
        for m in result["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }
    # A ValueDrift test fails exactly when Evidently detects drift in its column.
    drifted = {
        t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
        for t in result["tests"]
        if t["metric_config"]["params"]["type"].endswith("ValueDrift")
    }
    print(
        json.dumps({"read_s": read_s, "compute_s": compute_s, "scores": scores, "drifted": drifted})
    )


def run_evidently(ref: Path, cur: Path, repeat: int) -> dict:
    python = PEER / "bin" / "python"
    failed = PEER / "FAILED"
    if failed.exists() or not python.exists():
        why = failed.read_text().strip() if failed.exists() else "not installed"
        return {"skipped": f"{why}; run: bash benchmarks/peers/setup.sh evidently"}
    version = subprocess.run(
        [str(python), "-c", "import evidently; print(evidently.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    runs, walls = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(
            [str(python), __file__, "--evidently-worker", str(ref), str(cur)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        walls.append(time.perf_counter() - start)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "version": version,
        "compute_s": min(r["compute_s"] for r in runs),
        "end_to_end_s": min(walls),
        "read_s": min(r["read_s"] for r in runs),
        "drifted": runs[0]["drifted"],
        "scores": runs[0]["scores"],
    }


def run_inprod(ref: Path, cur: Path, repeat: int) -> dict:
    import pandas as pd

    from inprod.monitoring.drift import table_drift

    reference, current = pd.read_parquet(ref), pd.read_parquet(cur)
    table_drift(reference.head(1000), current.head(1000))  # imports scipy, as Evidently's has
    compute_s, report = best_of(lambda: table_drift(reference, current), repeat)
    command = [str(INPROD), "monitor", "drift", str(ref), str(cur), "--json"]
    cli_s, done = best_of(
        lambda: subprocess.run(command, capture_output=True, text=True, check=True), repeat
    )
    html = DATA / "drift_report.html"
    html_s, _ = best_of(
        lambda: subprocess.run([*command, "--html", str(html)], capture_output=True, check=True),
        repeat,
    )
    from_cli = {c["column"]: c["drifted"] for c in json.loads(done.stdout)["columns"]}
    return {
        "compute_s": compute_s,
        "end_to_end_s": cli_s,
        "end_to_end_html_s": html_s,
        "html_bytes": html.stat().st_size,
        "drifted": {c.column: c.drifted for c in report.columns},
        "cli_drifted": from_cli,
    }


def compare(inprod: dict, evidently: dict) -> list[str]:
    """Every column where the two tools (or inprod and the truth) disagree, in words."""
    problems = []
    truth = set(shifted_columns())
    for name in columns():
        ours = inprod["drifted"].get(name)
        if inprod["cli_drifted"].get(name) != ours:
            problems.append(f"{name}: inprod in process says {ours}, the CLI says otherwise")
        if ours != (name in truth):
            problems.append(f"{name}: inprod says drifted={ours}, the data was built otherwise")
        if "drifted" in evidently and evidently["drifted"].get(name) != ours:
            theirs = evidently["drifted"].get(name)
            score = evidently["scores"].get(name, {})
            problems.append(
                f"{name}: inprod drifted={ours}, Evidently drifted={theirs} "
                f"({score.get('method')} = {score.get('score')})"
            )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--evidently-worker", nargs=2, metavar=("REF", "CUR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.evidently_worker:
        evidently_worker(*args.evidently_worker)
        return

    ref, cur = ensure_data(args.rows)
    evidently = run_evidently(ref, cur, args.repeat)
    inprod = run_inprod(ref, cur, args.repeat)
    problems = compare(inprod, evidently)
    result: dict = {
        "rows": args.rows,
        "columns": N_COLUMNS,
        "shifted": shifted_columns(),
        "repeat": args.repeat,
        "inprod": {k: v for k, v in inprod.items() if k != "cli_drifted"},
        "evidently": evidently,
        "disagreements": problems,
    }
    if "skipped" in evidently:
        result["goal"] = "MISS"
        result["why"] = f"Evidently skipped: {evidently['skipped']}"
    else:
        speedup = evidently["compute_s"] / inprod["compute_s"]
        result["speedup_compute"] = speedup
        result["speedup_end_to_end"] = evidently["end_to_end_s"] / inprod["end_to_end_s"]
        result["goal"] = "PASS" if speedup >= GOAL_SPEEDUP and not problems else "MISS"
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


def print_table(result: dict) -> None:
    ours, theirs = result["inprod"], result["evidently"]
    print(
        f"{result['rows']:,} rows × {result['columns']} numeric columns per side, "
        f"{len(result['shifted'])} shifted ({', '.join(result['shifted'])}); "
        f"best of {result['repeat']}"
    )
    print(f"{'what':<46}{'inprod':>10}{'Evidently':>12}{'ratio':>9}")
    if "skipped" in theirs:
        print(f"Evidently skipped: {theirs['skipped']}")
    rows = [
        ("compute (DataFrames in memory)", "compute_s"),
        ("end to end (process, files)", "end_to_end_s"),
    ]
    for label, key in rows:
        other = theirs.get(key)
        ratio = f"{other / ours[key]:.1f}×" if other else ""
        shown = f"{other:.2f} s" if other else "-"
        print(f"{label:<46}{ours[key]:>8.2f} s{shown:>12}{ratio:>9}")
    print(f"{'end to end with --html':<46}{ours['end_to_end_html_s']:>8.2f} s")
    drifted = sorted(k for k, v in ours["drifted"].items() if v)
    print(f"inprod drifted: {', '.join(drifted)}")
    if "drifted" in theirs:
        flagged = sorted(k for k, v in theirs["drifted"].items() if v)
        print(f"Evidently {theirs['version']} drifted: {', '.join(flagged)}")
    for problem in result["disagreements"]:
        print(f"DISAGREE {problem}")
    if not result["disagreements"]:
        print(f"verdicts agree on all {result['columns']} columns")
    goal = f"goal: ≥ {GOAL_SPEEDUP:.0f}× faster than Evidently (compute), same verdicts"
    print(f"{goal}: {result['goal']}" + (f" ({result['why']})" if "why" in result else ""))


if __name__ == "__main__":
    main()
