"""What a run logs: params, metrics (batched), slice metrics, datasets, artifacts, tags."""

from __future__ import annotations

import hashlib
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from inprod.errors import Conflict, InvalidInput, NotFound
from inprod.store import Store
from inprod.tracking.runs import get_run, metric_history, start_run

# -- params -----------------------------------------------------------------


def test_params_are_json_values_and_relogging_the_same_value_is_a_no_op(store: Store) -> None:
    with start_run("p", store=store, params={"lr": 0.01}) as run:
        run.log_param("layers", (64, 32))  # read back as JSON: a list
        run.log_params({"lr": 0.01, "optimizer": {"name": "adam", "beta": 0.9}})
        run.log_param("seed", np.int64(7))
        run.log_param("dropout", np.float32(0.5))
    assert get_run(run.id, store=store).params == {
        "lr": 0.01,
        "layers": [64, 32],
        "optimizer": {"name": "adam", "beta": 0.9},
        "seed": 7,
        "dropout": 0.5,
    }


def test_relogging_a_param_with_another_value_is_a_conflict_naming_both_values(
    store: Store,
) -> None:
    message = r"'lr' .* is already 0\.01; cannot change it to 0\.02"
    with (
        start_run("p", store=store, params={"lr": 0.01}) as run,
        pytest.raises(Conflict, match=message),
    ):
        run.log_params({"epochs": 5, "lr": 0.02})
    # the whole call was refused: 'epochs' was not stored either
    assert get_run(run.id, store=store).params == {"lr": 0.01}


@pytest.mark.parametrize(
    ("value", "match"),
    [(object(), "not a JSON value"), (float("nan"), "not a JSON value"), ({1, 2}, "set")],
)
def test_non_json_params_are_refused_and_nothing_is_stored(
    store: Store, value: object, match: str
) -> None:
    with start_run("p", store=store) as run, pytest.raises(InvalidInput, match=match):
        run.log_params({"ok": 1, "bad": value})
    assert get_run(run.id, store=store).params == {}


def test_tags_can_be_set_and_replaced(store: Store) -> None:
    with start_run("p", store=store, tags={"owner": "ana"}) as run:
        run.set_tags({"owner": "bo", "gpu": 1})
    assert get_run(run.id, store=store).tags == {"owner": "bo", "gpu": "1"}


# -- metrics ------------------------------------------------------------------


def test_steps_auto_increment_per_key_and_history_returns_every_point(store: Store) -> None:
    rng = random.Random(3)
    losses = [rng.random() for _ in range(7)]
    with start_run("p", store=store) as run:
        for loss in losses:
            run.log_metric("loss", loss)
        run.log_metric("acc", 0.5)
        run.log_metrics({"acc": 0.6, "f1": 0.4}, step=10)
        run.log_metric("acc", 0.7)  # continues after the explicit step
    history = metric_history(run.id, "loss", store=store)
    assert [(p.step, p.value) for p in history] == list(enumerate(losses))
    assert all(p.time.tzinfo is not None for p in history)
    assert [(p.step, p.value) for p in metric_history(run.id, "acc", store=store)] == [
        (0, 0.5),
        (10, 0.6),
        (11, 0.7),
    ]
    assert get_run(run.id, store=store).latest_metrics == {
        "loss": losses[-1],
        "acc": 0.7,
        "f1": 0.4,
    }


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -np.inf, np.float32("nan")])
def test_a_non_finite_metric_is_refused_naming_the_key_and_nothing_is_stored(
    store: Store, bad: float, count_points
) -> None:
    with start_run("p", store=store) as run:
        with pytest.raises(InvalidInput, match=r"metric 'loss' is .*finite"):
            run.log_metric("loss", bad)
        with pytest.raises(InvalidInput, match="metric 'loss'"):
            run.log_metrics({"acc": 0.9, "loss": bad})  # all or nothing
        run.log_metric("acc", 0.5)
    assert count_points(run.id) == 1
    assert get_run(run.id, store=store).latest_metrics == {"acc": 0.5}


@pytest.mark.parametrize(
    ("key", "value", "step", "match"),
    [
        ("loss", "0.5", None, "not a number"),
        ("", 0.5, None, "non-empty"),
        ("x" * 251, 0.5, None, "limit is 250"),
        ("loss", 0.5, -1, "integer >= 0"),
        ("loss", 0.5, 1.5, "integer >= 0"),
    ],
)
def test_bad_metric_arguments_are_refused(
    store: Store, key: str, value: object, step: object, match: str, count_points
) -> None:
    with start_run("p", store=store) as run, pytest.raises(InvalidInput, match=match):
        run.log_metric(key, value, step=step)
    assert count_points() == 0


def test_points_are_written_in_batches_before_the_run_ends(store: Store, count_points) -> None:
    run = start_run("p", store=store)
    run._metrics.max_points = 100
    for i in range(250):
        run.log_metric("loss", 1.0 / (i + 1))
    assert count_points(run.id) == 200  # two full batches; 50 still buffered
    assert get_run(run.id, store=store).latest_metrics  # reads flush this process's runs
    assert count_points(run.id) == 250
    run.end()


def test_points_older_than_the_age_limit_are_flushed_on_the_next_log(
    store: Store, count_points
) -> None:
    now = [0.0]
    run = start_run("p", store=store)
    run._metrics._clock = lambda: now[0]
    run.log_metric("loss", 1.0)
    run.log_metric("loss", 0.9)
    assert count_points(run.id) == 0
    now[0] = run._metrics.max_age_s + 0.1
    run.log_metric("loss", 0.8)
    assert count_points(run.id) == 3
    run.end()


def test_a_failed_flush_keeps_its_points_for_the_next_one(
    store: Store, count_points, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start_run("p", store=store)
    for i in range(5):
        run.log_metric("loss", float(i))

    def unavailable(**_: object):
        raise RuntimeError("store down")

    with monkeypatch.context() as m:
        m.setattr(store, "session", unavailable)
        with pytest.raises(RuntimeError):
            run.flush()
    run.log_metric("loss", 5.0)
    run.end()
    assert [p.value for p in metric_history(run.id, "loss", store=store)] == [0, 1, 2, 3, 4, 5]


def test_points_logged_from_several_threads_are_all_stored(store: Store, count_points) -> None:
    run = start_run("p", store=store)
    run._metrics.max_points = 64

    def work(k: int) -> None:
        for i in range(300):
            run.log_metric(f"t{k}", float(i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.end()
    assert count_points(run.id) == 1200
    steps = [p.step for p in metric_history(run.id, "t2", store=store)]
    assert steps == list(range(300))


# -- slices -------------------------------------------------------------------


def test_slice_metrics_are_stored_per_slice_and_relogging_replaces_a_value(store: Store) -> None:
    with start_run("p", store=store) as run:
        run.log_slice_metrics({"dark": {"accuracy": 0.81, "count": 120}, "factory=B": {"acc": 1}})
        run.log_slice_metrics({"dark": {"accuracy": 0.85}})
        with pytest.raises(InvalidInput, match="metric 'acc'"):
            run.log_slice_metrics({"blurry": {"acc": float("nan")}})
    assert get_run(run.id, store=store).slice_metrics == {
        "dark": {"accuracy": 0.85, "count": 120.0},
        "factory=B": {"acc": 1.0},
    }


# -- datasets -----------------------------------------------------------------


def test_use_dataset_accepts_a_ref_or_a_version_object(store: Store, make_dataset) -> None:
    v1, v2 = make_dataset("phone-images", 2)
    (labels,) = make_dataset("labels", 1)

    class VersionInfo:  # what inprod.datasets.add returns, reduced to what use_dataset needs
        id = v1

    with start_run("p", store=store) as run:
        assert run.use_dataset(VersionInfo(), role="test") == "phone-images@1"
        assert run.use_dataset("phone-images") == "phone-images@2"  # latest
        assert run.use_dataset("labels@1", role="train") == "labels@1"
        run.use_dataset("labels@latest")  # the same again: recorded once
    assert get_run(run.id, store=store).datasets == [
        {"ref": "phone-images@1", "id": v1, "role": "test"},
        {"ref": "labels@1", "id": labels, "role": "train"},
        {"ref": "phone-images@2", "id": v2, "role": "train"},
    ]


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("phone-imagse@1", NotFound, "no dataset 'phone-imagse'; did you mean 'phone-images'"),
        ("phone-images@7", NotFound, "has no version 7 \\(latest is 2\\)"),
        ("phone-images@champion", NotFound, "no alias 'champion'"),
        ("@3", InvalidInput, "NAME@VERSION"),
        (12, InvalidInput, "give a dataset version"),
    ],
)
def test_an_unknown_dataset_is_refused_with_a_hint_and_nothing_is_stored(
    store: Store, make_dataset, ref: object, error: type, match: str
) -> None:
    make_dataset("phone-images", 2)
    with start_run("p", store=store) as run, pytest.raises(error, match=match):
        run.use_dataset(ref)
    assert get_run(run.id, store=store).datasets == []


def test_a_version_object_from_another_store_is_not_found(store: Store) -> None:
    class Elsewhere:
        id = 999

    with start_run("p", store=store) as run, pytest.raises(NotFound, match="id 999"):
        run.use_dataset(Elsewhere())


# -- artifacts ----------------------------------------------------------------


def test_a_file_artifact_is_stored_by_its_sha256(store: Store, make_file) -> None:
    data = bytes(random.Random(5).getrandbits(8) for _ in range(3000))
    path = make_file("confusion.png", data)
    with start_run("p", store=store) as run:
        record = run.log_artifact(path)
        assert run.log_artifact(path) == record  # same name, same bytes: a no-op
        run.log_artifact(path, name="plots/confusion-v1.png")
    expected = {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": 3000}
    assert record == {"path": "confusion.png", **expected}
    assert get_run(run.id, store=store).artifacts == [
        {"path": "confusion.png", **expected},
        {"path": "plots/confusion-v1.png", **expected},
    ]
    assert store.artifacts.read_bytes(expected["sha256"]) == data


def test_a_folder_artifact_is_stored_as_a_tree_with_a_trailing_slash(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w" * 100)
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    with start_run("p", store=store) as run:
        record = run.log_artifact(folder)
    assert record["path"] == "model/" and record["size_bytes"] == 108
    files = store.artifacts.tree_files(record["sha256"])
    assert files["sub/config.json"]["sha256"] == hashlib.sha256(b'{"a": 1}').hexdigest()


@pytest.mark.parametrize(
    ("name", "missing", "error", "match"),
    [
        ("../escape.txt", False, InvalidInput, "contains '..'"),
        ("/abs.txt", False, InvalidInput, "absolute"),
        (None, True, NotFound, "not found"),
    ],
)
def test_bad_artifacts_are_refused_and_nothing_is_stored(
    store: Store, make_file, name: str | None, missing: bool, error: type, match: str
) -> None:
    path = make_file("a.txt", "hello")
    if missing:
        path = path.with_name("missing.txt")
    with start_run("p", store=store) as run, pytest.raises(error, match=match):
        run.log_artifact(path, name=name)
    assert get_run(run.id, store=store).artifacts == []
    assert not (Path(store.artifacts.root) / "sha256").exists()


def test_another_file_under_a_taken_artifact_name_is_a_conflict(store: Store, make_file) -> None:
    first, second = make_file("a/model.bin", "v1"), make_file("b/model.bin", "v2")
    with start_run("p", store=store) as run:
        run.log_artifact(first)
        with pytest.raises(Conflict, match=r"already has an artifact named 'model\.bin'"):
            run.log_artifact(second)
    [only] = get_run(run.id, store=store).artifacts
    assert only["sha256"] == hashlib.sha256(b"v1").hexdigest()
