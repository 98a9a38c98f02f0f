"""Adding a dataset: ``inprod.datasets.add`` on a 1,000,000-row x 25-column Parquet file, beside
pyarrow alone reading the same file and computing the same column statistics.

Run: .venv/bin/python benchmarks/dataset_add.py [--rows N]
Goal: add (hash + copy into the artifact store + schema + profile + store row) within 2x of the
pyarrow baseline (read + min/max/mean/std/null count/quantiles for numbers, value counts for
strings and booleans, min/max for timestamps). Best of 3 each, measured side by side.

The file is generated once, seeded, under benchmarks/.data/ (git ignores it). Every add goes to a
fresh store and artifact folder, so nothing is deduplicated and every byte is really copied.
The baseline is given the faster of two quantile methods (numpy or pyarrow.compute.quantile),
so the ratio is not flattered by a slow baseline.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from inprod.data import datasets
from inprod.data.profile import QUANTILES
from inprod.store import Store

DATA = Path(__file__).parent / ".data"
REPEAT = 3
GOAL = 2.0


def make_file(rows: int) -> Path:
    """14 float (1% nulls), 5 int, 3 string categorical, an int label, a bool, a timestamp."""
    path = DATA / f"dataset_add_{rows}x25.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20260101)
    cols: dict[str, pa.Array] = {}
    for i in range(14):
        cols[f"sensor_{i}"] = pa.array(rng.normal(i, 1 + i, rows), mask=rng.random(rows) < 0.01)
    for i in range(5):
        cols[f"count_{i}"] = pa.array(rng.integers(0, 1_000_000, rows))
    for name, n in (("factory", 2), ("line", 12), ("labeler", 40)):
        choices = np.array([f"{name}-{k}" for k in range(n)])
        cols[name] = pa.array(choices[rng.integers(0, n, rows)])
    cols["label"] = pa.array(rng.integers(0, 2, rows))
    cols["dark"] = pa.array(rng.random(rows) < 0.1)
    start = np.datetime64("2026-01-01T00:00:00")
    cols["time"] = pa.array(start + rng.integers(0, 90 * 86400, rows).astype("timedelta64[s]"))
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table(cols), tmp)
    tmp.replace(path)
    return path


def column_stats(table: pa.Table, quantiles: str) -> dict[str, object]:
    """The statistics inprod's profile holds, computed with pyarrow (+ numpy) directly."""
    out: dict[str, object] = {}
    for name in table.column_names:
        col = table[name]
        t = col.type
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            minmax = pc.min_max(col)
            stats = [minmax, pc.mean(col), pc.stddev(col, ddof=1), col.null_count]
            if quantiles == "numpy":
                values = pc.drop_null(col).to_numpy()
                stats.append(np.quantile(values, QUANTILES))
            else:
                stats.append(pc.quantile(col, q=list(QUANTILES)))
            out[name] = stats
        elif pa.types.is_string(t) or pa.types.is_boolean(t):
            out[name] = (col.null_count, pc.value_counts(col))
        else:
            out[name] = (col.null_count, pc.min_max(col))
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    path = make_file(args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({args.rows:,} rows x 25 columns, {size_mb:.1f} MB)")
    work = Path(tempfile.mkdtemp(prefix="inprod-bench-"))
    times: dict[str, list[float]] = {"numpy": [], "pyarrow": [], "add": []}
    try:
        pq.read_table(path)  # warm the page cache for both sides alike
        for round_ in range(REPEAT):
            for quantiles in ("numpy", "pyarrow"):
                times[quantiles].append(
                    timed(lambda q=quantiles: column_stats(pq.read_table(path), q))
                )
            folder = work / f"store{round_}"
            store = Store(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts"))
            store.ensure_schema()  # migrations are a one-off cost, not part of adding
            try:
                times["add"].append(
                    timed(
                        lambda s=store: datasets.add(
                            "bench",
                            path,
                            label_columns=["label"],
                            metadata_columns=["factory"],
                            store=s,
                        )
                    )
                )
            finally:
                store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    numpy_q, arrow_q, added = (min(times[k]) for k in ("numpy", "pyarrow", "add"))
    print(f"pyarrow read + stats, numpy quantiles     best {numpy_q:.3f} s")
    print(f"pyarrow read + stats, pyarrow quantiles   best {arrow_q:.3f} s")
    print(f"inprod.datasets.add (hash+copy+profile)   best {added:.3f} s")
    ratio = added / min(numpy_q, arrow_q)
    verdict = "OK" if ratio <= GOAL else f"OVER the {GOAL:g}x goal"
    print(f"ratio add / fastest baseline: {ratio:.2f}x (goal <= {GOAL:g}x) -> {verdict}")


if __name__ == "__main__":
    main()
