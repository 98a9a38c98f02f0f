"""``inprod labels ...`` end to end on a small table, and the Python example of docs/labels.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_runner import CLI
from inprod.data import datasets
from inprod.store import Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "labels.md"
INSPECTORS = ["inspector-1", "inspector-2", "inspector-3"]

inprod = CLI("labels")
run, ok, fails = inprod, inprod.ok, inprod.fails


@pytest.fixture
def parts(store: Store, inprod_env: Path) -> str:
    """A table of 200 parts (two features that tell the class, a factory, three inspectors who
    mostly agree) as dataset "parts", and the inspectors' labels in labels.csv (long form)."""
    rng = np.random.default_rng(2)
    n = 200
    truth = rng.choice(["ok", "scratch"], n)
    frame = pd.DataFrame({
        "id": [f"p{i:03d}" for i in range(n)],
        "depth": np.where(truth == "scratch", 2.0, 0.0) + rng.normal(0, 0.5, n),
        "length": np.where(truth == "scratch", 1.0, 0.0) + rng.normal(0, 0.5, n),
        "factory": rng.choice(["A", "B"], n),
        "label": truth,
    })  # fmt: skip
    for who, slip in zip(INSPECTORS, (0.05, 0.1, 0.2), strict=True):
        flip = rng.random(n) < slip
        frame[who] = np.where(flip, np.where(truth == "ok", "Scratched", "ok"), truth)
    frame.to_csv(inprod_env / "parts.csv", index=False)
    long = frame.melt(id_vars=["id"], value_vars=INSPECTORS, var_name="who", value_name="verdict")
    long.to_csv(inprod_env / "labels.csv", index=False)
    (inprod_env / "taxonomy.yaml").write_text(
        "classes: [ok, scratch]\nmerge:\n  scratch: [Scratched]\n"
    )
    return datasets.add("parts", inprod_env / "parts.csv", label_columns=["label", *INSPECTORS],
                        metadata_columns=["factory"], store=store).ref  # fmt: skip


def test_import_then_agreement_as_tables_json_and_html(parts: str, inprod_env: Path) -> None:
    imported = ok("import", parts, "labels.csv", "--example-col", "id", "--labeler-col", "who",
                  "--label-col", "verdict")  # fmt: skip
    assert "600 labels added, 0 changed, 0 already stored" in imported.stdout
    again = json.loads(ok("import", parts, "labels.csv", "--example-col", "id", "--labeler-col",
                          "who", "--label-col", "verdict", "--json").stdout)  # fmt: skip
    assert (again["added"], again["unchanged"]) == (0, 600)
    shown = ok("agreement", parts, "--slice", "factory=B", "--top", "3", "--html", "report.html")
    out = shown.stdout
    for text in ("Fleiss κ", "Krippendorff α", "factory=B", "Cohen's κ", "confusion:",
                 "most disagreement", "report written to report.html"):  # fmt: skip
        assert text in out, text
    page = (inprod_env / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "factory=B" in page
    data = json.loads(ok("agreement", parts, "--slice", "factory=B", "--json").stdout)
    assert data["slices"][0]["name"] == "factory=B" and len(data["overall"]["pairs"]) == 3
    merged = json.loads(ok("agreement", parts, "--json", "--taxonomy", "taxonomy.yaml").stdout)
    assert merged["classes"] == ["ok", "scratch"] and len(data["classes"]) == 3


def test_agreement_errors_are_one_line(parts: str, inprod_env: Path) -> None:
    fails("agreement", parts, match="--labeler-columns inspector-1,inspector-2,inspector-3")
    fails("agreement", parts, "--labeler-columns", "inspector-1,inspectr-2",
          match="did you mean 'inspector-2'")  # fmt: skip
    fails("agreement", parts, "--labeler-columns", ",".join(INSPECTORS), "--slice", "factroy=B",
          match="did you mean 'factory'")  # fmt: skip
    fails("agreement", parts, "--labeler-columns", ",".join(INSPECTORS), "--pair", "x,y",
          match="--pair 'x,y'")  # fmt: skip
    fails("agreement", parts, "--labeler-columns", ",".join(INSPECTORS), "--html",
          "missing/report.html", match="does not exist")  # fmt: skip


def test_consensus_and_standardize_make_versions(parts: str) -> None:
    cols = ",".join(INSPECTORS)
    made = json.loads(ok("consensus", parts, "--labeler-columns", cols, "--method", "weighted",
                         "--taxonomy", "taxonomy.yaml", "--json").stdout)  # fmt: skip
    assert made["version"] == "parts@2" and made["method"] == "weighted"
    assert set(made["weights"]) == set(INSPECTORS)
    shown = ok("standardize", "parts@2", "--taxonomy", "taxonomy.yaml").stdout
    assert "parts@3" in shown and "Scratched" in shown
    fails("consensus", parts, "--method", "vote", match="not one of majority, weighted")
    fails("consensus", parts, "--labeler-columns", cols, "--method", "weighted", "--weight",
          "inspector-1", match="LABELER=WEIGHT")  # fmt: skip


def test_borderline_exports_and_issues_ranks(parts: str, inprod_env: Path) -> None:
    cols = ",".join(INSPECTORS)
    listed = ok("borderline", parts, "--labeler-columns", cols, "--export", "borderline.csv")
    assert "borderline example(s)" in listed.stdout
    exported = pd.read_csv(inprod_env / "borderline.csv")
    assert {"example_id", "most_common", "dissent", *INSPECTORS} <= set(exported.columns)
    found = json.loads(ok("issues", parts, "--estimator", "logistic-regression",
                          "--label-column", "inspector-3", "--features", "depth,length",
                          "--json").stdout)  # fmt: skip
    assert found["label_column"] == "inspector-3" and found["issues"]
    assert found["issues"][0]["given"] != found["issues"][0]["suggested"]
    table = ok("issues", parts, "--estimator", "logistic-regression", "--label-column",
               "inspector-3", "--features", "depth,length", "--top", "2", "--export",
               "issues.parquet").stdout  # fmt: skip
    assert "look wrong" in table and "written to issues.parquet" in table
    assert len(pd.read_parquet(inprod_env / "issues.parquet")) == len(found["issues"])
    fails("issues", parts, match="--model")
    fails("issues", parts, "--estimator", "logistic-regression", "--export", "x.txt",
          match=".csv or .parquet")  # fmt: skip


def test_the_python_example_in_the_docs_runs(inprod_env: Path, capsys) -> None:
    text = DOC.read_text()
    block = re.search(r"## From Python\n.*?```python\n(.*?)```", text, re.DOTALL)
    assert block is not None, "docs/labels.md lost its Python example"
    exec(compile(block.group(1), str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "Krippendorff alpha" in out and "consensus: phone-images@2" in out
