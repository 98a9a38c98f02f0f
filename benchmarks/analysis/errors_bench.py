"""Error analysis and HLP speed on 1,000,000 rows with 10 tags.

Run: .venv/bin/python benchmarks/analysis/errors_bench.py [--rows 1000000]

Goal (issue 8, Speed): agreement and error analysis on 1,000,000 rows with 10 tags under 5 s.

The table (seeded): 5 classes; a model right ~90% of the time, a human ~93%; metadata
(factory, line, brightness, blurry, dark) and a tag column (noise, 4 values). The 10 tags:
``factory=B``, ``factory=C``, ``line=3``, ``brightness<0.2``, ``blurry``, ``dark`` and the 4 values
of ``noise``. Measured, best of 3:

* ``analyze_errors``: the prioritization table, precision/recall per class in every tag, the
  rare-class report and the fairness view by factory, from the DataFrame in memory;
* the same, end to end from a Parquet file (reading it included);
* the command ``inprod analyze errors --predictions FILE.parquet ... --json`` as a new process
  (interpreter start-up and imports included);
* ``human_level`` with three labelers and no ground truth (each against the others' majority),
  per the same 10 tags.

Prints the figures and whether the goal holds. Data goes under benchmarks/.data/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from inprod.analysis import analyze_errors, human_level

GOAL_S = 5.0
REPEATS = 3
DATA = Path(__file__).resolve().parents[1] / ".data"
CLASSES = np.array(["ok", "scratch", "dent", "stain", "crack"])
TAGS = ["factory=B", "factory=C", "line=3", "brightness<0.2", "blurry", "dark"]
# the analyze group under the real root, so this runs before (and after) the lead registers it
CLI = (
    "import sys, typer; from inprod.cli import _Root; from inprod.cli import analyze; "
    "root = typer.Typer(cls=_Root); root.add_typer(analyze.app, name='analyze'); "
    "root(args=sys.argv[1:], prog_name='inprod')"
)


def make_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.choice(CLASSES, rows, p=[0.6, 0.2, 0.1, 0.07, 0.03])

    def noisy(rate: float) -> np.ndarray:
        wrong = rng.random(rows) < rate
        return np.where(wrong, rng.choice(CLASSES, rows), label)

    brightness = rng.random(rows)
    return pd.DataFrame(
        {
            "label": label,
            "prediction": noisy(0.12),
            "human": noisy(0.08),
            "human_2": noisy(0.08),
            "human_3": noisy(0.1),
            "factory": rng.choice(["A", "B", "C"], rows),
            "line": rng.integers(1, 7, rows),
            "brightness": brightness,
            "blurry": rng.random(rows) < 0.1,
            "dark": brightness < 0.25,
            "noise": rng.choice(["clean", "car", "people", "low bandwidth"], rows),
        }
    )


def best(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"analysis_{args.rows}.parquet"
    frame.to_parquet(path, index=False)

    def errors(table: pd.DataFrame) -> None:
        result = analyze_errors(
            table, baseline_col="human", tags=TAGS, tag_columns=["noise"], protected="factory"
        )
        assert len(result.table) == 10, [r.tag for r in result.table]

    in_memory = best(lambda: errors(frame))
    from_file = best(lambda: errors(pd.read_parquet(path)))
    command = [
        sys.executable, "-c", CLI, "analyze", "errors", "--predictions", str(path),
        "--hlp-col", "human", "--tags", ",".join(TAGS), "--tag-col", "noise",
        "--protected", "factory", "--json",
    ]  # fmt: skip
    process = best(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))
    hlp = best(
        lambda: human_level(
            frame, labelers=["human", "human_2", "human_3"], tags=TAGS, tag_columns=["noise"]
        )
    )
    rows = f"{args.rows:,} rows × 10 tags"
    for what, seconds in (
        ("error analysis, in memory", in_memory),
        ("error analysis, from Parquet", from_file),
        ("inprod analyze errors (a new process)", process),
        ("HLP, 3 labelers vs the others' majority", hlp),
    ):
        verdict = "✔" if seconds < GOAL_S else "✘"
        print(f"{what:<42} {rows}: {seconds:6.2f} s  (goal < {GOAL_S:g} s {verdict})")


if __name__ == "__main__":
    main()
