"""Label agreement on 1,000,000 annotations with 10 slices.

Run: .venv/bin/python benchmarks/data/labels_bench.py [--annotations 1000000] [--no-store]
     [--store-url postgresql+psycopg://...  (an empty database or schema)]

Goal (issue 8, speed): agreement on 1,000,000 rows with 10 tags under 5 s. Measured two ways,
best of 3 each:

- in memory: coding the labels (``Votes.from_rows``) and every statistic (Cohen's κ for every
  pair, Fleiss' κ, Krippendorff's α, each labeler's agreement, overall and for 10 slices, and
  the 20 examples with the most disagreement) — the goal;
- from the store (a temporary SQLite file, or ``--store-url``):
  ``labels.agreement(dataset, slices=[10 specs])``, which also reads the dataset version and
  the 1,000,000 annotation rows. Importing them is timed once.

Also timed, without a goal: the majority vote and the weighted vote's reliability estimate.
The data: 250,000 examples, 4 labelers per example drawn from 12 (accuracies 0.6-0.95), 5
classes, metadata for the slices.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

GOAL_S = 5.0
REPEATS = 3
SLICES = [
    "factory=A", "factory=B", "factory=C", "blurry", "dark", "line=L1", "line=L2",
    "brightness<0.3", "brightness>=0.7", "camera=cam-2",
]  # fmt: skip


def make_data(annotations: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the examples table with metadata, the annotations in long form)."""
    rng = np.random.default_rng(seed)
    per_example = 4
    n = annotations // per_example
    truth = rng.integers(0, 5, n)
    examples = pd.DataFrame({
        "id": np.char.add("ex-", np.arange(n).astype(str)),
        "factory": rng.choice(["A", "B", "C"], n),
        "line": rng.choice(["L1", "L2", "L3", "L4"], n),
        "camera": rng.choice(["cam-1", "cam-2"], n),
        "blurry": rng.random(n) < 0.12,
        "dark": rng.random(n) < 0.2,
        "brightness": rng.random(n),
    })  # fmt: skip
    accuracy = np.linspace(0.6, 0.95, 12)
    labelers = np.argsort(rng.random((n, 12)), axis=1)[:, :per_example].ravel()
    rows = np.repeat(np.arange(n), per_example)
    right = rng.random(len(rows)) < accuracy[labelers]
    labels = np.where(right, truth[rows], rng.integers(0, 5, len(rows)))
    names = np.array(["ok", "scratch", "dent", "crack", "stain"])
    long = pd.DataFrame({
        "example": examples["id"].to_numpy()[rows],
        "labeler": np.char.add("labeler-", labelers.astype(str)),
        "label": names[labels],
    })  # fmt: skip
    return examples, long


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def in_memory(examples: pd.DataFrame, long: pd.DataFrame) -> None:
    from inprod.data.agreement import Votes, measure, slice_masks
    from inprod.data.consensus import reliability, vote

    ids = examples["id"].tolist()
    rows = pd.Index(ids).get_indexer(long["example"])
    masks = slice_masks(examples, SLICES)

    def run() -> object:
        votes = Votes.from_rows(rows, long["labeler"], long["label"], example_ids=ids)
        return measure(votes, slices=masks)

    seconds, report = best_of(run)
    mark = "✔" if seconds < GOAL_S else "✘"
    print(f"in memory: agreement of {len(long):,} labels, {len(SLICES)} slices: "
          f"best {seconds:.2f} s (goal < {GOAL_S:.0f} s {mark})")  # fmt: skip
    print(f"  alpha {report.overall.alpha:.3f}, Fleiss kappa {report.overall.fleiss_kappa:.3f}, "
          f"{len(report.overall.pairs)} pairs")  # fmt: skip
    votes = Votes.from_rows(rows, long["labeler"], long["label"], example_ids=ids)
    seconds, _ = best_of(lambda: vote(votes))
    print(f"  majority vote: {seconds:.2f} s")
    seconds, _ = best_of(lambda: reliability(votes), repeats=1)
    print(f"  reliability estimate (weighted vote's EM): {seconds:.2f} s")


def from_store(examples: pd.DataFrame, long: pd.DataFrame, url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="inprod-labels-bench-") as tmp:
        folder = Path(tmp)
        os.environ["INPROD_HOME"] = str(folder / "home")
        os.environ["INPROD_STORE_URL"] = url or f"sqlite:///{folder / 'home' / 'store.db'}"
        from inprod.data import datasets, labels

        examples.to_parquet(folder / "examples.parquet", index=False)
        long.to_parquet(folder / "labels.parquet", index=False)
        ref = datasets.add("bench", folder / "examples.parquet",
                           metadata_columns=["factory", "line", "camera"]).ref  # fmt: skip
        start = time.perf_counter()
        labels.import_labels(ref, folder / "labels.parquet", example_col="example",
                             labeler_col="labeler", label_col="label")  # fmt: skip
        where = "SQLite" if url is None else url.split(":")[0]
        print(f"from the store ({where}): importing {len(long):,} labels took "
              f"{time.perf_counter() - start:.1f} s (once)")  # fmt: skip
        seconds, _ = best_of(lambda: labels.agreement(ref, slices=SLICES))
        mark = "✔" if seconds < GOAL_S else "✘"
        print(f"  labels.agreement (read version + annotations, compute): best {seconds:.2f} s "
              f"(< {GOAL_S:.0f} s {mark})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--no-store", action="store_true", help="Skip the store measurement.")
    parser.add_argument(
        "--store-url", help="An empty store to measure instead of a temporary SQLite file."
    )
    args = parser.parse_args()
    examples, long = make_data(args.annotations)
    print(f"{len(examples):,} examples, {len(long):,} labels, "
          f"{long['labeler'].nunique()} labelers, 5 classes")  # fmt: skip
    in_memory(examples, long)
    if not args.no_store:
        from_store(examples, long, args.store_url)


if __name__ == "__main__":
    main()
