"""Reading runs back: by id or prefix, newest first with filters, metric history, comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from inprod.errors import InvalidInput, NotFound
from inprod.store import Store
from inprod.tracking.queries import list_runs
from inprod.tracking.runs import compare_runs, get_run, metric_history, start_run

A = "aaaa1111" + "0" * 24
B = "aaaa2222" + "0" * 24
C = "bbbb0000" + "0" * 24


def test_a_run_is_found_by_its_full_id_or_a_unique_prefix(store: Store, insert_run) -> None:
    insert_run(A, name="first")
    insert_run(B, name="second")
    assert get_run(A, store=store).name == "first"
    assert get_run("aaaa2", store=store).name == "second"
    assert get_run("  AAAA22 ", store=store).id == B  # case and spaces do not matter


def test_an_ambiguous_prefix_lists_the_matching_runs(store: Store, insert_run) -> None:
    insert_run(A)
    insert_run(B)
    with pytest.raises(InvalidInput, match=f"'aaaa' matches 2 runs: {A}, {B}; give more"):
        get_run("aaaa", store=store)


@pytest.mark.parametrize("ref", ["cccc", "not-hex", "", "a" * 33])
def test_an_unknown_run_is_not_found_with_a_hint(store: Store, insert_run, ref: str) -> None:
    insert_run(A)
    with pytest.raises(NotFound, match="inprod runs list"):
        get_run(ref, store=store)


def test_runs_are_listed_newest_first_with_filters_and_a_limit(store: Store, insert_run) -> None:
    insert_run(A, minutes=1, project="phone", status="finished")
    insert_run(B, minutes=3, project="phone", status="failed")
    insert_run(C, minutes=2, project="voice", status="finished")
    assert [r.id for r in list_runs(store=store)] == [B, C, A]
    assert [r.id for r in list_runs("phone", store=store)] == [B, A]
    assert [r.id for r in list_runs(status="finished", store=store)] == [C, A]
    assert [r.id for r in list_runs("phone", status="finished", store=store)] == [A]
    assert [r.id for r in list_runs(limit=1, store=store)] == [B]
    assert list_runs("nobody", store=store) == []
    assert list_runs(store=store)[0].duration_s == 90.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"status": "done"}, "'done' is not one of"),
        ({"limit": 0}, "limit 0"),
        ({"limit": "5"}, "limit .5."),
    ],
)
def test_bad_list_filters_are_refused(store: Store, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        list_runs(store=store, **kwargs)


def test_listing_newest_runs_walks_the_start_time_index(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    with store.session(write=False) as s:
        plan = s.execute(
            text("EXPLAIN QUERY PLAN SELECT * FROM runs ORDER BY start_time DESC LIMIT 50")
        ).all()
    store.close()
    assert "USING INDEX ix_runs_start_time" in " ".join(str(row[-1]) for row in plan)


def test_history_of_an_unknown_metric_suggests_the_logged_ones(store: Store) -> None:
    with start_run("p", store=store) as run:
        run.log_metric("accuracy", 0.9)
    with pytest.raises(NotFound, match="no metric 'acuracy'; did you mean 'accuracy'"):
        metric_history(run.id, "acuracy", store=store)


def test_reads_see_points_still_buffered_in_this_process(store: Store) -> None:
    run = start_run("p", store=store)
    run.log_metric("loss", 0.3)
    assert [p.value for p in metric_history(run.id[:10], "loss", store=store)] == [0.3]
    assert run.info().latest_metrics == {"loss": 0.3}
    run.end()


def test_comparing_two_runs_shows_changed_params_and_metric_deltas(
    store: Store, make_dataset
) -> None:
    make_dataset("phone-images", 2)
    with start_run("p", "baseline", store=store, params={"lr": 0.1, "seed": 1}) as a:
        a.use_dataset("phone-images@1")
        a.log_metrics({"accuracy": 0.80, "loss": 0.5})
        a.log_slice_metrics({"dark": {"accuracy": 0.61}, "factory=B": {"accuracy": 0.7}})
    with start_run("p", "more-data", store=store, params={"lr": 0.05, "seed": 1, "aug": True}) as b:
        b.use_dataset("phone-images@2")
        b.log_metrics({"accuracy": 0.86, "f1": 0.8})
        b.log_slice_metrics({"dark": {"accuracy": 0.75}})

    cmp = compare_runs(a.id[:8], b.id, store=store)
    assert cmp.params == {"aug": {"a": None, "b": True}, "lr": {"a": 0.1, "b": 0.05}}
    assert cmp.same_params == ["seed"]
    assert cmp.metrics["accuracy"]["delta"] == pytest.approx(0.86 - 0.80)
    assert cmp.metrics["loss"] == {"a": 0.5, "b": None, "delta": None}
    assert cmp.metrics["f1"] == {"a": None, "b": 0.8, "delta": None}
    assert cmp.slice_metrics["dark"]["accuracy"]["delta"] == pytest.approx(0.75 - 0.61)
    assert cmp.slice_metrics["factory=B"]["accuracy"] == {"a": 0.7, "b": None, "delta": None}
    assert [d["ref"] for d in cmp.datasets["a"]] == ["phone-images@1"]
    assert [d["ref"] for d in cmp.datasets["b"]] == ["phone-images@2"]
    out = cmp.to_dict()
    assert out["a"]["name"] == "baseline" and out["b"]["name"] == "more-data"


def test_comparing_with_an_unknown_run_is_not_found(store: Store, insert_run) -> None:
    insert_run(A)
    with pytest.raises(NotFound, match="'cccc'"):
        compare_runs(A, "cccc", store=store)
