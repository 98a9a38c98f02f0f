"""Batch scoring on Ray: the same output as the local engine and as the model called directly.

One local Ray (2 CPUs) serves the whole module; it takes several seconds to start. The engine
does not depend on the store's backend, so these tests run on SQLite only (the job records
are covered on both backends by test_scoring.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from batch_helpers import CHUNK, ROWS, expected_output

from inprod.batch import list_jobs, score_file
from inprod.errors import InvalidInput

ray = pytest.importorskip("ray", reason="the Ray engine needs 'pip install inprod[ray]'")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'home' / 'store.db'}"


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_ray_local_and_the_model_itself_give_identical_outputs(scoring, store) -> None:
    local = scoring.folder / "local.parquet"
    on_ray = scoring.folder / "ray.parquet"
    calls: list[tuple[int, int | None]] = []
    score_file(scoring.ref, scoring.parquet, local, chunk_rows=CHUNK, keep=["id"], store=store)
    job = score_file(
        scoring.ref,
        scoring.parquet,
        on_ray,
        chunk_rows=CHUNK,
        keep=["id"],
        ray=True,
        progress=lambda done, total: calls.append((done, total)),
        store=store,
    )
    assert (job.engine, job.status, job.rows) == ("ray", "finished", ROWS)
    assert calls[0] == (0, ROWS) and calls[-1] == (ROWS, ROWS)
    a, b = pq.read_table(local), pq.read_table(on_ray)
    assert a.schema == b.schema
    assert a.column("id").equals(b.column("id"))  # rows come back in file order
    assert a.column("prediction").equals(b.column("prediction"))
    want = expected_output(scoring.model, scoring.frame)
    assert b.column("prediction").to_pylist() == want["prediction"].tolist()
    for name in ("confidence", "proba_ok", "proba_scratch"):
        np.testing.assert_allclose(b.column(name), a.column(name), rtol=1e-12)
        np.testing.assert_allclose(b.column(name), want[name], rtol=1e-12)
    assert ray.is_initialized()  # a Ray it did not start is left running


def test_ray_scores_csv_like_the_local_engine(scoring, store) -> None:
    out = scoring.folder / "ray.parquet"
    score_file(scoring.ref, scoring.csv, out, chunk_rows=CHUNK, keep=["id", "factory"], ray=True,
               store=store)  # fmt: skip
    got = pq.read_table(out)
    assert got.column_names[:2] == ["id", "factory"]
    assert got.column("id").to_pylist() == scoring.frame["id"].tolist()
    want = expected_output(scoring.model, scoring.frame)
    assert got.column("prediction").to_pylist() == want["prediction"].tolist()


def test_an_error_on_a_ray_worker_keeps_its_class_and_marks_the_job_failed(scoring, store) -> None:
    source = scoring.folder / "gaps.parquet"
    scoring.frame.assign(contrast=lambda f: f.contrast.where(f.id != 2700)).to_parquet(source)
    out = scoring.folder / "ray.parquet"
    with pytest.raises(InvalidInput, match=r"model phone-inspector@1 failed on .*NaN"):
        score_file(scoring.ref, source, out, chunk_rows=CHUNK, ray=True, store=store)
    [job] = list_jobs(store=store)
    assert (job.engine, job.status) == ("ray", "failed") and "NaN" in job.error
    assert sorted(p.name for p in scoring.folder.iterdir()) == [
        "gaps.parquet",
        "phones.csv",
        "phones.parquet",
    ]
