"""``inprod data split | validate | augment``, and the examples of docs/data-prep.md, run."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from dataset_helpers import write_images

from inprod.data.augment import STEPS
from inprod.quickstart import phone_data

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-prep.md"


def _block(heading: str, language: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"## {re.escape(heading)}\n.*?```{language}\n(.*?)```", text, re.DOTALL)
    assert match is not None, f"docs/data-prep.md lost its {heading!r} {language} block"
    return match.group(1)


@pytest.fixture
def phones(cli, inprod_env: Path) -> str:
    """Image dataset ``phones@1``: 80 small images, labels ok/scratch, factories a/b."""
    write_images(inprod_env / "imgs", count=80)
    cli.ok("data", "add", "phones", inprod_env / "imgs", "--label", "label", "--meta", "factory")
    return "phones@1"


def test_docs_walkthrough_runs_command_by_command(cli, inprod_env: Path) -> None:
    phone_data.write_image_folder(phone_data.generate(300, seed=7), Path("phone-inspection-data"))
    lines = [line[2:] for line in _block("The phone story, end to end", "console").splitlines()]
    outputs = [cli.ok(*shlex.split(line)[1:]).stdout for line in lines]
    assert "phone-images-train@1" in outputs[1] and "class and slice balance" in outputs[1]
    assert re.search(r"(pass|warn): 0 failed", outputs[2])  # a chance imbalance of blurry warns
    assert re.search(r"added phone-images@2: \d+ new image\(s\) from the \d+ rows", outputs[3])
    assert "column 'augmented_from' is new" in " ".join(outputs[4].split())
    resplit = json.loads(outputs[5])
    assert resplit["source"] == "phone-images@2" and resplit["max_deviation"] <= 0.02


def test_docs_python_example_runs(inprod_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(_block("From Python", "python"), str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "('phone-images-train@1', 281), ('phone-images-dev@1', 60)" in out
    assert re.search(r"phone-images@2 \d+ new images", out)


def test_split_json_and_table_report_the_splits_and_their_balance(cli, phones: str) -> None:
    report = json.loads(cli.ok("data", "split", phones, "--by", "label,factory", "--ratios",
                               "0.5,0.25,0.25", "--json").stdout)  # fmt: skip
    assert [(s["dataset"], s["rows"]) for s in report["splits"]] == [
        ("phones-train@1", 40), ("phones-dev@1", 20), ("phones-test@1", 20)
    ]  # fmt: skip
    assert {(b["column"], b["value"]) for b in report["balance"]} == {
        ("label", "ok"), ("label", "scratch"), ("factory", "factory-a"), ("factory", "factory-b")
    }  # fmt: skip
    assert report["max_deviation"] == 0 and report["warnings"] == []
    table = " ".join(cli.ok("data", "split", phones, "--names", "fit,val,holdout").stdout.split())
    assert "phones-fit@1" in table and "phones-holdout@1" in table
    warned = " ".join(cli.ok("data", "split", phones, "--ratios", "0.9,0.05,0.05").stdout.split())
    assert "warning: class label=ok has only 2 example(s) in dev (fewer than 10)" in warned


def test_split_errors_name_the_option_to_fix(cli, phones: str) -> None:
    cli.fails("data", "split", phones, "--ratios", "0.7,a", match="--ratios '0.7,a' is not")
    cli.fails("data", "split", phones, "--ratios", "0.5,0.4", match="add up to 0.9, not 1")
    cli.fails("data", "split", phones, "--by", "lable", match="did you mean 'labeler' or 'label'")
    cli.fails("data", "split", phones, "--names", "a,b", match="give 3 distinct split names")
    cli.fails("data", "split", phones, "--by", ",", match="--by is empty")


def test_validate_exits_1_on_a_failure_and_with_strict_on_a_warning(
    cli, phones: str, inprod_env: Path
) -> None:
    manifest = pd.read_csv(inprod_env / "imgs" / "manifest.csv")
    manifest.loc[:3, "label"] = "crack"  # a class the reference never had
    manifest.to_csv(inprod_env / "imgs" / "manifest.csv", index=False)
    cli.ok("data", "add", "phones", inprod_env / "imgs", "--label", "label", "--meta", "factory")
    result = cli("data", "validate", "phones@2", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["status"], report["failures"], report["reference"]) == ("fail", 1, "phones@1")
    assert any(c["column"] == "label" and "'crack'" in c["message"] for c in report["checks"])
    table = cli("data", "validate", "phones@2")
    assert table.exit_code == 1 and "fail: 1 failed" in " ".join(table.stdout.split())
    cli.ok("data", "augment", phones, "--recipe", "flip", "--name", "flipped")
    warned = cli("data", "validate", "flipped@1", "--against", phones, "--strict")
    assert warned.exit_code == 1 and "warn: 0 failed, 2 warning(s)" in warned.stdout
    cli.ok("data", "validate", "flipped@1", "--against", phones)


def test_validate_errors_name_what_to_give(cli, phones: str) -> None:
    cli.fails("data", "validate", phones, match="first version of 'phones'")
    cli.fails("data", "validate", match="name the version to check")
    cli.fails("data", "validate", "--endpoint", "ep", "--against", phones, match="not both")
    cli.fails("data", "validate", "--endpoint", "nope", match="no endpoint 'nope'")


def test_augment_prints_the_new_version_and_json(cli, phones: str) -> None:
    out = cli.ok("data", "augment", phones, "--recipe", "brightness=0.5..0.8,blur",
                 "--only-slice", "label=scratch", "--factor", "3").stdout  # fmt: skip
    assert "added phones@2: 80 new image(s) from the 40 rows where label=scratch" in " ".join(
        out.split()
    )
    slices = ("--only-slice", "factory=factory-a", "--only-slice", "label=ok")
    result = json.loads(cli.ok("data", "augment", "phones@2", *slices, "--seed", "3",
                               "--json").stdout)  # fmt: skip
    assert result["dataset"] == "phones@3" and (result["slice_rows"], result["added"]) == (40, 40)
    assert result["only_slice"] == ["factory=factory-a", "label=ok"]
    cli.fails("data", "augment", phones, "--recipe", "bright", match="did you mean 'brightness'")
    cli.fails("data", "augment", phones, "--only-slice", "factory=z", match="no row of phones@1")
    cli.fails("data", "augment", phones, "--factor", "1", match="factor must be 2 or more")


def test_augment_help_names_every_step(cli) -> None:
    text = " ".join(cli.ok("data", "augment", "--help").stdout.split())
    assert all(name in text for name in STEPS), text
