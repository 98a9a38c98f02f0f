"""``inprod monitor drift`` on files and dataset versions, and the docs example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_runner import CLI

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"

inprod = CLI("monitor", "drift")
run, ok, fails = inprod, inprod.ok, inprod.fails


@pytest.fixture
def tables(inprod_env: Path) -> tuple[Path, Path]:
    """reference.csv and current.parquet: 'temp' shifted, 'line' and 'pressure' unchanged."""
    rng = np.random.default_rng(7)
    n = 3000
    ref = pd.DataFrame({
        "temp": rng.normal(20.0, 2.0, n),
        "pressure": rng.normal(1.0, 0.1, n),
        "line": rng.choice(["L1", "L2", "L3"], n),
        "retired": rng.integers(0, 3, n),
    })  # fmt: skip
    cur = pd.DataFrame({
        "temp": rng.normal(23.0, 2.0, n),
        "pressure": rng.normal(1.0, 0.1, n),
        "line": rng.choice(["L1", "L2", "L3"], n),
        "camera": rng.choice(["c1", "c2"], n),
    })  # fmt: skip
    cur.loc[:299, "pressure"] = np.nan
    ref_path, cur_path = inprod_env / "reference.csv", inprod_env / "current.parquet"
    ref.to_csv(ref_path, index=False)
    cur.to_parquet(cur_path, index=False)
    return ref_path, cur_path


def test_table_lists_drifted_columns_first_and_schema_differences(
    tables: tuple[Path, Path],
) -> None:
    result = ok(*tables)
    out = result.stdout
    rows = [line for line in out.splitlines() if re.search(r"\b(temp|pressure|line)\b", line)]
    cells = [[cell.strip() for cell in row.split("│")[1:-1]] for row in rows]
    assert (cells[0][0], cells[0][1], cells[0][-1]) == ("temp", "ks", "yes")  # drifted first
    assert sorted((c[0], c[1], c[-1]) for c in cells[1:]) == [
        ("line", "chi2", "no"),
        ("pressure", "ks", "no"),
    ]
    assert "1 of 3 columns drifted" in out
    assert "'retired' is only in the reference" in out
    assert "'camera' is only in the current table" in out
    assert "0%→10%" in out  # pressure's missing share


def test_json_lists_each_column_with_its_test_and_verdict(tables: tuple[Path, Path]) -> None:
    report = json.loads(ok(*tables, "--json").stdout)
    assert set(report) == {"summary", "thresholds", "columns", "schema_differences"}
    assert report["summary"]["drifted"] == ["temp"]
    by_name = {c["column"]: c for c in report["columns"]}
    assert by_name["temp"]["test"] == "ks" and by_name["temp"]["drifted"] is True
    assert by_name["line"]["test"] == "chi2" and by_name["line"]["js"] is not None
    assert by_name["pressure"]["missing_current"] == pytest.approx(0.1)
    assert by_name["pressure"]["n_current"] == 2700
    for column in report["columns"]:
        assert {"statistic", "p_value", "psi", "js", "wasserstein", "wasserstein_normalized",
                "n_reference", "n_current", "missing_reference"} <= set(column)  # fmt: skip


def test_columns_option_limits_the_test(tables: tuple[Path, Path]) -> None:
    report = json.loads(ok(*tables, "--columns", "line, pressure", "--json").stdout)
    assert [c["column"] for c in report["columns"]] == ["line", "pressure"]
    assert report["summary"]["columns_drifted"] == 0


def test_dataset_version_is_accepted_as_a_side(tables: tuple[Path, Path], store) -> None:
    from inprod.data import datasets

    ref_path, cur_path = tables
    info = datasets.add("sensors", ref_path, store=store)
    report = json.loads(ok(info.ref, cur_path, "--json").stdout)
    assert report["summary"]["drifted"] == ["temp"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: d / "nope.csv", "file not found"),
        (lambda d: _write(d / "broken.parquet", b"not parquet at all"), "not a readable Parquet"),
        (lambda d: _write(d / "header.csv", b"temp,line\n"), "no rows"),
        (lambda d: _write(d / "other.csv", b"x,y\n1,2\n"), "share no columns"),
        (lambda d: "no-such-dataset@1", "no-such-dataset"),
    ],
)
def test_bad_current_side_fails_with_one_clear_line(
    tables: tuple[Path, Path], make, match: str
) -> None:
    ref_path, _ = tables
    fails(ref_path, make(ref_path.parent), match=match)


def test_html_report_is_written_alongside_the_table(tables: tuple[Path, Path]) -> None:
    out = tables[0].parent / "drift.html"
    result = ok(*tables, "--html", out)
    assert "1 of 3 columns drifted" in result.stdout  # the table is still printed
    assert f"wrote the drift report to {out}" in result.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    assert re.findall(r"<tr><td>(.*?)</td>", body)[0] == "temp"  # drifted first
    assert body.count("<svg") == 3  # a plot per tested column
    assert "retired" in page and "camera" in page  # the schema differences


def test_html_report_works_with_json(tables: tuple[Path, Path]) -> None:
    out = tables[0].parent / "drift.html"
    result = ok(*tables, "--json", "--html", out)
    assert json.loads(result.stdout)["summary"]["drifted"] == ["temp"]  # stdout stays JSON
    assert "1 of 3 columns drifted" in out.read_text(encoding="utf-8")


def test_html_report_into_a_missing_folder_fails_before_the_work(
    tables: tuple[Path, Path],
) -> None:
    target = tables[0].parent / "no-such-folder" / "drift.html"
    fails(*tables, "--html", target, match="folder")
    assert not target.parent.exists()


def test_unknown_column_is_named(tables: tuple[Path, Path]) -> None:
    fails(*tables, "--columns", "tmep", match="did you mean 'temp'")


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_docs_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = DOC.read_text()
    block = re.search(r"### From Python\n.*?```python\n(.*?)```", text, re.DOTALL)
    assert block is not None, "docs/monitoring.md lost its Python example"
    exec(compile(block.group(1), str(DOC), "exec"), {})
    assert "'columns_drifted': 1" in capsys.readouterr().out
