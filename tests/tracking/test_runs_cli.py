"""``inprod runs list | show | compare``: tables for people, JSON for scripts, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inprod.store import Store
from inprod.tracking.runs import start_run


@pytest.fixture
def two_runs(store: Store, make_dataset, make_file) -> tuple[str, str]:
    make_dataset("phone-images", 1)
    with start_run("phone", "baseline", store=store, params={"lr": 0.1}) as a:
        a.log_metrics({"accuracy": 0.8, "loss": 0.4, "f1": 0.7, "auc": 0.9})
        a.log_slice_metrics({"dark": {"accuracy": 0.6, "count": 120}})
        a.use_dataset("phone-images@1")
        a.log_artifact(make_file("confusion.png", b"png"))
    with pytest.raises(RuntimeError), start_run("phone", "tuned", store=store) as b:
        b.log_param("lr", 0.05)
        b.log_metric("accuracy", 0.85)
        raise RuntimeError("out of memory")
    return a.id, b.id


def test_runs_list_shows_the_newest_runs_with_their_latest_metrics(cli, two_runs) -> None:
    a, b = two_runs
    out = cli.ok("runs", "list").stdout
    assert a[:8] in out and b[:8] in out
    assert out.index(b[:8]) < out.index(a[:8])  # newest first
    assert "accuracy=0.8" in out and "failed" in out
    listed = json.loads(cli.ok("runs", "list", "--status", "failed", "--json").stdout)
    assert [r["id"] for r in listed] == [b]
    assert listed[0]["latest_metrics"] == {"accuracy": 0.85}
    assert json.loads(cli.ok("runs", "list", "--project", "voice", "--json").stdout) == []
    assert "no runs in project 'voice' yet" in cli.ok("runs", "list", "-p", "voice").stdout
    assert len(json.loads(cli.ok("runs", "list", "--limit", "1", "--json").stdout)) == 1


def test_runs_show_prints_everything_a_run_recorded(cli, two_runs) -> None:
    a, b = two_runs
    out = cli.ok("runs", "show", a[:8]).stdout
    for expected in ("baseline", "lr", "accuracy", "dark", "phone-images@1", "confusion.png"):
        assert expected in out
    assert "out of memory" in cli.ok("runs", "show", b[:8]).stdout
    shown = json.loads(cli.ok("runs", "show", a, "--json").stdout)
    assert shown["slice_metrics"] == {"dark": {"accuracy": 0.6, "count": 120.0}}
    assert shown["datasets"][0]["ref"] == "phone-images@1"
    assert shown["artifacts"][0]["path"] == "confusion.png"
    assert shown["status"] == "finished" and shown["environment"]["python"]


def test_runs_compare_shows_params_and_metrics_side_by_side(cli, two_runs) -> None:
    a, b = two_runs
    out = cli.ok("runs", "compare", a[:8], b[:8]).stdout
    assert "+0.05" in out and "0.05" in out and "phone-images@1" in out
    cmp = json.loads(cli.ok("runs", "compare", a, b, "--json").stdout)
    assert cmp["params"] == {"lr": {"a": 0.1, "b": 0.05}}
    assert cmp["metrics"]["accuracy"]["delta"] == pytest.approx(0.05)


def test_runs_errors_are_one_clean_line(cli, insert_run) -> None:
    insert_run("abcd1" + "0" * 27)
    insert_run("abcd2" + "0" * 27)
    cli.fails("runs", "show", "abcd", match="matches 2 runs")
    cli.fails("runs", "show", "ffff", match="no run with id 'ffff'")
    cli.fails("runs", "compare", "abcd1", "ffff", match="no run with id 'ffff'")
    cli.fails("runs", "list", "--status", "done", match="'done' is not one of")
    cli.fails("runs", "list", "--limit", "0", match="limit 0")


def test_loading_the_runs_commands_imports_no_database_code() -> None:
    """``inprod --help`` stays fast only if command modules import their domain lazily."""
    code = "import sys, inprod.cli.runs; print(sorted(m for m in sys.modules if 'sqlalchemy' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
