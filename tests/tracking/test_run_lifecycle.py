"""A run's life: what start_run captures, how the block's outcome sets the status, ending."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from inprod.errors import Conflict, InvalidInput
from inprod.store import Store
from inprod.tracking import _open_runs
from inprod.tracking.runs import get_run, list_runs, metric_history, start_run


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_run_records_git_commit_dirty_flag_and_environment(store: Store, inprod_env: Path) -> None:
    _git(inprod_env, "init", "-q")
    (inprod_env / "train.py").write_text("print('v1')\n")
    _git(inprod_env, "add", "train.py")
    _git(inprod_env, "commit", "-q", "-m", "v1")
    head = _git(inprod_env, "rev-parse", "HEAD")

    with start_run("phone-inspection", "clean", store=store) as clean:
        pass
    (inprod_env / "train.py").write_text("print('v2')\n")
    with start_run("phone-inspection", "dirty", store=store) as dirty:
        pass

    a, b = get_run(clean.id, store=store), get_run(dirty.id, store=store)
    assert (a.code_sha, a.code_dirty) == (head, False)
    assert (b.code_sha, b.code_dirty) == (head, True)
    assert a.environment["python"] == platform.python_version()
    assert a.environment["host"] == socket.gethostname()
    assert "numpy" in a.environment["packages"]


def test_run_outside_git_records_unknown_code_version(store: Store) -> None:
    with start_run(store=store) as run:
        pass
    info = get_run(run.id, store=store)
    assert (info.code_sha, info.code_dirty) == (None, None)
    assert info.project == "default" and info.name == ""


def test_leaving_the_block_marks_the_run_finished_with_its_times(store: Store) -> None:
    with start_run("p", "baseline", store=store) as run:
        assert len(run.id) == 32 and int(run.id, 16) >= 0
        assert get_run(run.id, store=store).status == "running"
    info = get_run(run.id, store=store)
    assert info.status == "finished" and run.status == "finished"
    assert info.error is None
    assert info.end_time is not None and info.end_time >= info.start_time
    assert info.duration_s == pytest.approx((info.end_time - info.start_time).total_seconds())


def test_an_exception_marks_the_run_failed_keeps_the_traceback_and_reraises(
    store: Store,
) -> None:
    with pytest.raises(ZeroDivisionError), start_run("p", store=store) as run:
        run.log_metric("loss", 0.5)
        1 / 0  # noqa: B018
    info = get_run(run.id, store=store)
    assert info.status == "failed"
    assert "ZeroDivisionError" in info.error and "Traceback" in info.error
    assert info.latest_metrics == {"loss": 0.5}  # the buffered point was written on failure


def test_ctrl_c_marks_the_run_killed(store: Store) -> None:
    with pytest.raises(KeyboardInterrupt), start_run("p", store=store) as run:
        raise KeyboardInterrupt
    info = get_run(run.id, store=store)
    assert info.status == "killed"
    assert "KeyboardInterrupt" in info.error


def test_a_run_can_be_used_without_with_and_ended_by_hand(store: Store) -> None:
    run = start_run("p", "manual", store=store)
    run.log_metric("acc", 0.9)
    run.end("failed")
    run.end()  # ending again does nothing
    info = get_run(run.id, store=store)
    assert info.status == "failed" and info.latest_metrics == {"acc": 0.9}


def test_a_run_never_ended_is_flushed_and_marked_killed_at_exit(store: Store) -> None:
    run = start_run("p", "forgotten", store=store)
    run.log_metric("loss", 1.0)
    _open_runs._end_open_runs()  # what the interpreter runs at exit
    info = get_run(run.id, store=store)
    assert info.status == "killed"
    assert "exited without ending the run" in info.error
    assert info.latest_metrics == {"loss": 1.0}


def test_a_script_that_exits_without_ending_its_run_loses_no_points(store: Store) -> None:
    script = (
        "import inprod\n"
        "run = inprod.start_run('p', 'script')\n"
        "for i in range(3): run.log_metric('loss', 1.0 / (i + 1))\n"
        "print(run.id)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    info = get_run(done.stdout.strip(), store=store)
    assert info.status == "killed"
    assert [p.value for p in metric_history(info.id, "loss", store=store)] == [1.0, 0.5, 1 / 3]


def test_logging_to_an_ended_run_is_a_conflict_and_stores_nothing(
    store: Store, tmp_path: Path, count_points, stored_run
) -> None:
    with start_run("p", store=store, params={"lr": 0.1}) as run:
        pass
    (tmp_path / "f.txt").write_text("x")
    attempts = [
        lambda: run.log_metric("loss", 1.0),
        lambda: run.log_metrics({"loss": 1.0}),
        lambda: run.log_param("epochs", 3),
        lambda: run.log_slice_metrics({"dark": {"acc": 0.5}}),
        lambda: run.set_tags({"a": "b"}),
        lambda: run.use_dataset("anything@1"),
        lambda: run.log_artifact(tmp_path / "f.txt"),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict, match=f"run {run.id[:8]} has ended"):
            attempt()
    info = get_run(run.id, store=store)
    assert count_points(run.id) == 0
    assert (info.params, info.tags, info.slice_metrics, info.artifacts) == ({"lr": 0.1}, {}, {}, [])
    assert not (Path(store.artifacts.root) / "sha256").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"project": "../x"}, "project name"),
        ({"name": 3}, "run name"),
        ({"params": {"lr": object()}}, "not a JSON value"),
        ({"params": ["lr"]}, "params must be a dict"),
        ({"tags": {"owner": None}}, "tag 'owner'"),
    ],
)
def test_bad_start_arguments_are_refused_before_any_run_is_stored(
    store: Store, kwargs: dict, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        start_run(store=store, **kwargs)
    assert list_runs(store=store) == []


def test_end_refuses_an_unknown_status(store: Store) -> None:
    run = start_run("p", store=store)
    with pytest.raises(InvalidInput, match="'done' is not one of finished, failed, killed"):
        run.end("done")
    assert get_run(run.id, store=store).status == "running"
    run.end()
