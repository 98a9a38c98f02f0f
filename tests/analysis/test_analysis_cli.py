"""``inprod analyze errors``, ``inprod hlp`` and ``inprod evaluate`` (exit codes 0 / 1 / 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from analysis_helpers import (
    COURSE,
    add_bolts,
    add_phone_images,
    course_frame,
    register_rule,
    slack_on_b,
    threshold_rule,
)

from cli_runner import CLI
from inprod.analysis import log_predictions
from inprod.store import Store, reset_default_store
from inprod.tracking.runs import start_run

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"

inprod = CLI()
run, ok, fails = inprod, inprod.ok, inprod.fails


@pytest.fixture
def course_csv(tmp_path: Path) -> Path:
    path = tmp_path / "preds.csv"
    course_frame().to_csv(path, index=False)
    return path


def test_the_prioritization_table_from_a_predictions_file(course_csv: Path) -> None:
    out = ok(
        "analyze", "errors", "--predictions", course_csv, "--hlp-col", "human_label",
        "--tag-col", "noise",
    ).stdout  # fmt: skip
    positions = [out.index(tag) for tag in ("clean speech", "people noise", "car noise", "low ba")]
    assert positions == sorted(positions)
    assert "0.16%" in out and "0.6%" in out and "Prioritization table" in out


def test_json_and_html_from_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "preds.parquet"
    course_frame().to_parquet(path)
    html = tmp_path / "report.html"
    out = ok(
        "analyze", "errors", "--predictions", path, "--hlp-col", "human_label",
        "--tag-col", "noise", "--protected", "noise", "--html", html, "--json",
    ).stdout  # fmt: skip
    data = json.loads(out)
    table = {r["tag"]: r for r in data["table"]}
    assert [table[t]["potential"] for t in COURSE] == [0.006, 0.0016, 0.006, 0.0]
    assert data["fairness"]["worst"] == "low bandwidth"
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "Prioritization table" in text


def test_tags_on_a_runs_predictions(store: Store) -> None:
    with start_run(project="speech", store=store) as run:
        log_predictions(run, course_frame())
    out = ok(
        "analyze", "errors", run.id[:8], "--hlp-col", "human_label",
        "--tags", "noise=car noise,noise=low bandwidth",
    ).stdout  # fmt: skip
    assert out.index("noise=car noise") < out.index("noise=low bandwidth")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((), "give a run id or --predictions FILE"),
        (("abc", "--predictions", "x.csv"), "give a run id or --predictions FILE"),
        (("--predictions", "nothing.csv"), "file not found"),
        (("--predictions", "{csv}", "--label-col", "truth"), "label column 'truth'"),
        (("--predictions", "{csv}", "--tags", "noise"), "not true/false"),
        (("--predictions", "{csv}", "--html", "/no/such/folder/r.html"), "does not exist"),
    ],
)
def test_analyze_refuses_bad_input(course_csv: Path, args: tuple, match: str) -> None:
    fails(
        "analyze", "errors", *(str(a).replace("{csv}", str(course_csv)) for a in args), match=match
    )


def test_hlp_per_slice(store: Store, tmp_path: Path) -> None:
    ref = add_phone_images(store, tmp_path / "phones", n=90)
    out = ok("hlp", ref, "--labelers", "inspector-1,inspector-2,inspector-3").stdout
    assert "majority of the other labelers" in out and "factory=B" in out
    data = json.loads(ok("hlp", ref, "--truth", "label", "--tags", "blurry", "--json").stdout)
    assert [s["tag"] for s in data["slices"]] == ["all", "blurry"]
    assert data["labelers"] == ["inspector-1", "inspector-2", "inspector-3"]
    fails("hlp", ref, "--holdout", "inspector-9", match="held-out labeler 'inspector-9'")


def test_evaluate_exit_codes_pass_refused_failed(store: Store, tmp_path: Path) -> None:
    ref = add_bolts(store, tmp_path)
    register_rule(store, "bolt", threshold_rule, alias="champion")
    register_rule(store, "bolt", slack_on_b)

    passed = ok("evaluate", "bolt@1", "--dataset", ref, "--require", "accuracy>=champion")
    assert "passed" in passed.stdout
    failed = ok(
        "evaluate", "bolt@2", "--dataset", ref, "--require", "accuracy>=champion-0.05",
        "--require-slices", "accuracy>=champion-0.01", code=2,
    )  # fmt: skip
    assert "FAIL" in failed.stdout and "factory=B" in failed.stdout
    data = json.loads(
        ok("evaluate", "bolt@2", "--dataset", ref, "--against", "none", "--require",
           "accuracy>=0.99", "--json", code=2).stdout
    )  # fmt: skip
    assert data["passed"] is False and data["against"] is None
    fails("evaluate", "bolt@2", "--dataset", "nope", match="dataset")
    fails("evaluate", "bolt@2", "--dataset", ref, "--label-map", "0", match="is not ANSWER=LABEL")
    fails("evaluate", "bolt@2", "--dataset", ref, "--require", "accuracy>=champ", match="METRIC OP")


def test_the_python_example_in_the_docs_runs(store: Store, capsys: pytest.CaptureFixture) -> None:
    text = DOC.read_text()
    block = re.search(r"## From Python\n.*?```python\n(.*?)```", text, re.DOTALL)
    assert block is not None, "docs/analysis.md lost its Python example"
    reset_default_store()
    exec(compile(block.group(1), str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("HLP ") and "factory=B" in out and "failed in" in out
