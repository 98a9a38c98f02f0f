"""Batch scoring on the local engine: chunked streaming, outputs checked against scikit-learn,
job records, and every bad input refused with nothing stored."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_helpers import CHUNK, FEATURES, ROWS, expected_output
from sklearn.linear_model import LogisticRegression

from inprod.batch import get_job, list_jobs, score_file
from inprod.batch import scoring as scoring_module
from inprod.errors import InvalidInput, NotFound
from inprod.registry import models


def read_output(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def assert_same_scores(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert got["prediction"].tolist() == want["prediction"].tolist()
    pd.testing.assert_frame_equal(
        got.drop(columns="prediction"),
        want.drop(columns="prediction"),
        check_dtype=False,
        check_exact=False,
        rtol=1e-12,
    )


def assert_nothing_stored(store, folder, *inputs) -> None:
    """No job row, and no output or half-written file beside the inputs."""
    assert list_jobs(store=store) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in inputs)


def test_scoring_a_parquet_file_in_chunks_matches_the_model_called_directly(scoring, store) -> None:
    calls: list[tuple[int, int | None]] = []
    out = scoring.folder / "scores.parquet"
    job = score_file(
        scoring.ref,
        scoring.parquet,
        out,
        chunk_rows=CHUNK,
        keep=["id"],
        progress=lambda done, total: calls.append((done, total)),
        store=store,
    )
    assert_same_scores(read_output(out), expected_output(scoring.model, scoring.frame))
    assert calls == [(0, ROWS), (1000, ROWS), (2000, ROWS), (2500, ROWS)]
    assert pq.ParquetFile(out).metadata.num_row_groups == 3  # written chunk by chunk
    assert (job.status, job.rows, job.engine, job.error) == ("finished", ROWS, "local", None)
    assert (job.model_name, job.model_version, job.model_ref) == (
        "phone-inspector",
        1,
        "phone-inspector@1",
    )
    assert job.input_path == str(scoring.parquet) and job.output_path == str(out)
    assert len(job.id) == 32 and job.finished_at >= job.started_at
    assert get_job(job.id, store=store) == job
    assert [j.id for j in list_jobs(model="phone-inspector", store=store)] == [job.id]
    assert list_jobs(model="other", store=store) == []
    assert sorted(p.name for p in scoring.folder.iterdir()) == [
        "phones.csv",
        "phones.parquet",
        "scores.parquet",
    ]


def test_csv_input_gives_the_same_output_as_parquet(scoring, store) -> None:
    score_file(scoring.ref, scoring.parquet, scoring.folder / "a.parquet", chunk_rows=CHUNK,
               keep=["id", "factory"], store=store)  # fmt: skip
    job = score_file(scoring.ref, scoring.csv, scoring.folder / "b.parquet", chunk_rows=CHUNK,
                     keep=["id", "factory"], store=store)  # fmt: skip
    a = pq.read_table(scoring.folder / "a.parquet")
    b = pq.read_table(scoring.folder / "b.parquet")
    assert a.column_names == ["id", "factory", "prediction", "confidence", "proba_ok",
                              "proba_scratch"]  # fmt: skip
    assert a.column("prediction").equals(b.column("prediction"))
    assert a.column("factory").to_pylist() == scoring.frame["factory"].tolist()
    np.testing.assert_allclose(a.column("confidence"), b.column("confidence"), rtol=1e-12)
    assert job.rows == ROWS and [j.status for j in list_jobs(store=store)] == ["finished"] * 2


def test_csv_columns_are_parsed_with_the_types_the_model_declares(
    scoring, store, monkeypatch
) -> None:
    """A float column that looks integral in the first CSV block must not be read as int64."""
    monkeypatch.setattr("inprod.batch._input._CSV_BLOCK_BYTES", 4096)
    data = scoring.frame.copy()
    data.loc[:999, FEATURES] = data.loc[:999, FEATURES].round()
    path = scoring.folder / "integral-first.csv"
    lines = ["id,brightness,contrast,blur"]
    lines += [
        f"{r.id},{r.brightness:.0f},{r.contrast:.0f},{r.blur:.0f}" for r in data[:1000].itertuples()
    ]
    lines += [
        f"{r.id},{r.brightness!r},{r.contrast!r},{r.blur!r}" for r in data[1000:].itertuples()
    ]
    path.write_text("\n".join(lines) + "\n")
    out = scoring.folder / "scores.parquet"
    score_file(scoring.ref, path, out, chunk_rows=CHUNK, keep=["id"], store=store)
    assert_same_scores(read_output(out), expected_output(scoring.model, data))


def test_a_tensor_model_takes_the_columns_named_with_the_columns_option(
    scoring, store, frame
) -> None:
    X = frame[FEATURES].to_numpy()
    model = LogisticRegression().fit(X, (X[:, 0] > X[:, 2]).astype(int))
    models.register("tensor-inspector", model, sample=X[:5], store=store)
    out = scoring.folder / "scores.parquet"
    with pytest.raises(InvalidInput, match=r"takes 3 features .* has 5 columns .*--columns"):
        score_file("tensor-inspector", scoring.parquet, out, store=store)
    assert_nothing_stored(store, scoring.folder, scoring.parquet, scoring.csv)
    score_file("tensor-inspector", scoring.parquet, out, columns=FEATURES, chunk_rows=CHUNK,
               store=store)  # fmt: skip
    got = pq.read_table(out)
    assert got.column_names == ["prediction", "confidence", "proba_0", "proba_1"]
    np.testing.assert_array_equal(got.column("prediction").to_numpy(), model.predict(X))
    np.testing.assert_allclose(
        np.column_stack([got.column("proba_0"), got.column("proba_1")]),
        model.predict_proba(X),
        rtol=1e-12,
    )


BAD_CALLS = {
    "unknown model": (NotFound, "did you mean 'phone-inspector'"),
    "unknown alias": (NotFound, "has no alias 'champoin'"),
    "missing input": (NotFound, "input file not found"),
    "not parquet": (InvalidInput, "not a readable Parquet file"),
    "text file": (InvalidInput, r"give a \.csv or \.parquet file"),
    "ragged csv header": (InvalidInput, "line 3 has 4 fields but the header has 3"),
    "header-only csv": (InvalidInput, "has a header but no rows"),
    "missing columns": (InvalidInput, "lacks 2 columns 'contrast', 'blur'"),
    "wrong dtype": (InvalidInput, "column 'blur' has dtype"),
    "unknown keep": (InvalidInput, "--keep column 'idd' is not a column"),
    "clashing keep": (InvalidInput, "would clash with the output column"),
    "output folder missing": (InvalidInput, "output folder .* does not exist"),
    "output is input": (InvalidInput, "is the input file"),
    "output not parquet": (InvalidInput, r"must end in \.parquet"),
    "zero chunk rows": (InvalidInput, "chunk_rows must be a whole number of rows"),
    "zero ray cpus": (InvalidInput, "ray_cpus must be a whole number of CPUs"),
}


def _bad_call(scoring, case: str) -> tuple[str, Path, Path, dict]:
    """The arguments of one bad call; input files it needs are written into the folder."""
    folder = scoring.folder
    ref, source, out, options = scoring.ref, scoring.parquet, folder / "out.parquet", {}
    if case == "unknown model":
        ref = "phone-inspecter"
    elif case == "unknown alias":
        ref = "phone-inspector@champoin"
    elif case == "missing input":
        source = folder / "nope.parquet"
    elif case == "not parquet":
        source = folder / "broken.parquet"
        source.write_bytes(b"PAR1 this is not parquet")
    elif case == "text file":
        source = folder / "phones.txt"
        source.write_text("brightness,contrast,blur\n1,2,3\n")
    elif case == "ragged csv header":
        source = folder / "ragged.csv"
        source.write_text("brightness,contrast,blur\n1,2,3\n4,5,6,7\n")
    elif case == "header-only csv":
        source = folder / "empty.csv"
        source.write_text("brightness,contrast,blur\n")
    elif case == "missing columns":
        source = folder / "partial.parquet"
        scoring.frame[["id", "brightness"]].to_parquet(source)
    elif case == "wrong dtype":
        source = folder / "text-blur.parquet"
        scoring.frame.assign(blur="very").to_parquet(source)
    elif case == "unknown keep":
        options = {"keep": ["idd"]}
    elif case == "clashing keep":
        source = folder / "clash.parquet"
        scoring.frame.assign(prediction=1).to_parquet(source)
        options = {"keep": ["prediction"]}
    elif case == "output folder missing":
        out = folder / "missing" / "out.parquet"
    elif case == "output is input":
        out = scoring.parquet
    elif case == "output not parquet":
        out = folder / "out.csv"
    elif case == "zero chunk rows":
        options = {"chunk_rows": 0}
    elif case == "zero ray cpus":
        options = {"ray": True, "ray_cpus": 0}
    return ref, source, out, options


def test_bad_calls_are_refused_before_a_job_is_recorded(scoring, store) -> None:
    """One test for all cases: each needs the registered model, and registering is the slow
    part (the cases are independent: each must leave nothing behind)."""
    inputs = [scoring.parquet, scoring.csv]
    for case, (error, match) in BAD_CALLS.items():
        ref, source, out, options = _bad_call(scoring, case)
        if source.exists() and source not in inputs:
            inputs.append(source)
        try:
            score_file(ref, source, out, store=store, **options)
        except error as exc:
            assert re.search(match, str(exc)), f"{case}: {exc}"
        else:
            pytest.fail(f"{case}: no {error.__name__} raised")
        assert_nothing_stored(store, scoring.folder, *inputs)


def test_ray_without_ray_installed_says_how_to_install_it(scoring, store, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(InvalidInput, match=r"pip install 'inprod\[ray\]'"):
        score_file(scoring.ref, scoring.parquet, scoring.folder / "o.parquet", ray=True,
                   store=store)  # fmt: skip
    assert_nothing_stored(store, scoring.folder, scoring.parquet, scoring.csv)


def test_a_failure_mid_file_marks_the_job_failed_and_keeps_the_old_output(scoring, store) -> None:
    source = scoring.folder / "gaps.parquet"
    data = scoring.frame.copy()
    data.loc[1500, "contrast"] = np.nan  # LogisticRegression refuses NaN
    data.to_parquet(source)
    out = scoring.folder / "scores.parquet"
    out.write_bytes(b"yesterday's scores")
    match = r"failed on rows 1001-2000 of .*gaps.parquet: ValueError: .*NaN.*'contrast' \(1\)"
    with pytest.raises(InvalidInput, match=match) as caught:
        score_file(scoring.ref, source, out, chunk_rows=CHUNK, store=store)
    assert "\n" not in caught.value.message  # the CLI shows one line
    assert out.read_bytes() == b"yesterday's scores"
    [job] = list_jobs(store=store)
    assert (job.status, job.rows, job.model_ref) == ("failed", 1000, "phone-inspector@1")
    assert "rows 1001-2000" in job.error and job.finished_at is not None
    assert sorted(p.name for p in scoring.folder.iterdir()) == sorted(
        ["phones.csv", "phones.parquet", "gaps.parquet", "scores.parquet"]
    )


def test_a_ragged_csv_row_after_the_first_block_names_its_line(scoring, store, monkeypatch) -> None:
    monkeypatch.setattr("inprod.batch._input._CSV_BLOCK_BYTES", 4096)
    source = scoring.folder / "ragged.csv"
    lines = source_lines = scoring.frame[FEATURES].to_csv(index=False).splitlines()
    source_lines[2000] += ",9"  # the header is line 1, so this is line 2001
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput, match="line 2001 has 4 fields but the header has 3"):
        score_file(scoring.ref, source, scoring.folder / "out.parquet", chunk_rows=CHUNK,
                   store=store)  # fmt: skip
    [job] = list_jobs(store=store)
    assert job.status == "failed" and "line 2001" in job.error
    assert not (scoring.folder / "out.parquet").exists()


def test_a_bad_csv_value_after_the_first_block_names_its_column(
    scoring, store, monkeypatch
) -> None:
    monkeypatch.setattr("inprod.batch._input._CSV_BLOCK_BYTES", 4096)
    source = scoring.folder / "typo.csv"
    data = scoring.frame.assign(blur=scoring.frame.blur.astype(object))
    data.loc[data.id == 3000, "blur"] = "dark"  # row 2001: well after the first 4 KB block
    data.to_csv(source, index=False)
    with pytest.raises(InvalidInput, match=r"column 'blur': .*double: invalid value 'dark'"):
        score_file(scoring.ref, source, scoring.folder / "out.parquet", store=store)
    [job] = list_jobs(store=store)
    assert job.status == "failed" and not (scoring.folder / "out.parquet").exists()


def test_a_parquet_file_damaged_inside_fails_the_job_cleanly(scoring, store) -> None:
    source = scoring.folder / "damaged.parquet"
    data = bytearray(scoring.parquet.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = b"\xff" * 2000  # pages, not the footer: it still opens
    source.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="is damaged inside"):
        score_file(scoring.ref, source, scoring.folder / "out.parquet", store=store)
    [job] = list_jobs(store=store)
    assert job.status == "failed" and "damaged" in job.error
    assert not (scoring.folder / "out.parquet").exists()


def test_a_column_with_missing_values_is_named_in_the_error(scoring, store, frame) -> None:
    ints = frame.assign(**{c: (frame[c] * 10).round().astype("int64") for c in FEATURES})
    model = LogisticRegression().fit(ints[FEATURES], ints.brightness > 0)
    models.register("int-inspector", model, sample=ints[FEATURES][:5], store=store)
    table = pa.Table.from_pandas(ints[FEATURES], preserve_index=False)
    blur = table.column("blur").to_pylist()
    blur[1200] = None
    table = table.set_column(2, "blur", pa.array(blur, pa.int64()))
    source = scoring.folder / "gaps.parquet"
    pq.write_table(table, source)
    with pytest.raises(InvalidInput, match=r"rows 1001-2000.*'blur'.*1 missing value"):
        score_file("int-inspector", source, scoring.folder / "o.parquet", chunk_rows=CHUNK,
                   store=store)  # fmt: skip


def test_the_cli_scores_a_file_and_prints_the_job(scoring, cli) -> None:
    out = scoring.folder / "scores.parquet"
    args = ["batch", scoring.ref, "--input", scoring.parquet, "--output", out]
    job = cli.ok(*args, "--chunk-rows", "1000", "--keep", "id", "--json").stdout
    job = json.loads(job)
    assert (job["status"], job["rows"], job["model_ref"]) == ("finished", ROWS, "phone-inspector@1")
    assert_same_scores(read_output(out), expected_output(scoring.model, scoring.frame))
    text = cli.ok(*args).stdout
    assert "scored 2,500 rows with phone-inspector@1" in text
    cli.fails("batch", "phone-inspector", "--input", scoring.folder / "x.csv", "--output", out,
              match="input file not found")  # fmt: skip
    cli.fails(*args, "--columns", "brightness,contrast", match="column 'blur' is missing")
    cli.fails(*args, "--chunk-rows", "0", match="chunk_rows must be")


def test_the_cli_default_chunk_size_is_the_library_default() -> None:
    from inprod.cli import batch as batch_cli

    assert batch_cli.DEFAULT_CHUNK_ROWS == scoring_module.DEFAULT_CHUNK_ROWS


def test_memory_stays_bounded_by_the_chunk_not_the_file(scoring, store, frame) -> None:
    """Arrow memory while scoring stays a fraction of the file (pyarrow's default
    pre-buffering would hold the whole file, or every row group read so far)."""
    source = scoring.folder / "big.parquet"
    big = pd.concat([frame[["id", *FEATURES]]] * 80, ignore_index=True)  # 200,000 rows
    big.to_parquet(source, row_group_size=10_000)
    file_bytes = big.memory_usage(index=False).sum()  # 6.4 MB
    allocated: list[int] = []

    def progress(done: int, total: int | None) -> None:
        allocated.append(pa.total_allocated_bytes())

    out = scoring.folder / "out.parquet"
    score_file(scoring.ref, source, out, chunk_rows=5_000, keep=["id"], progress=progress,
               store=store)  # fmt: skip
    assert len(allocated) == 41 and pq.ParquetFile(out).metadata.num_rows == len(big)
    assert max(allocated) < file_bytes / 3, (max(allocated), file_bytes)
