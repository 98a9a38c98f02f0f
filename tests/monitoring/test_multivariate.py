"""The domain classifier: it finds a change in how features go together that every per-column
test misses, stays near AUC 0.5 when nothing changed, and runs on an endpoint's logged inputs
against the references the per-feature drift uses."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from inprod import endpoints, models
from inprod.data import datasets
from inprod.endpoints import REDACTED
from inprod.errors import InvalidInput, NotFound
from inprod.monitoring.drift import table_drift
from inprod.monitoring.multivariate import (
    domain_classifier_drift,
    endpoint_multivariate_drift,
    logged_inputs,
)
from inprod.store import Store
from inprod.store.tables import Prediction
from inprod.tracking.runs import start_run

DAY1 = datetime(2026, 11, 2, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
ROWS = 300  # a side: enough for a clear verdict, small enough for a fast test


def _rows(n: int, rho: float, seed: int) -> pd.DataFrame:
    """``a`` and ``b`` standard normal with correlation ``rho``; ``c`` and ``line`` unrelated."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return pd.DataFrame(
        {"c": rng.normal(size=n), "a": a, "line": rng.choice(["L1", "L2", "L3"], n), "b": b}
    )


def test_a_flipped_correlation_passes_every_column_test_but_not_the_domain_classifier() -> None:
    reference, current = _rows(ROWS, 0.8, seed=1), _rows(ROWS, -0.8, seed=2)
    assert table_drift(reference, current).drifted == []  # each marginal is unchanged
    result = domain_classifier_drift(reference, current, max_rows=ROWS)
    assert result.drifted and result.auc > 0.75, result
    assert {name for name, _ in result.features[:2]} == {"a", "b"}
    assert min(v for n, v in result.features if n in "ab") > 5 * max(
        abs(v) for n, v in result.features if n not in "ab"
    )
    assert (result.n_reference, result.n_current, result.note) == (ROWS, ROWS, "")


def test_tables_from_one_distribution_give_an_auc_near_one_half() -> None:
    result = domain_classifier_drift(_rows(ROWS, 0.8, seed=1), _rows(ROWS, 0.8, seed=3))
    assert not result.drifted
    assert abs(result.auc - 0.5) < 0.07 and 0 < result.auc_std < 0.1
    assert all(abs(v) < 0.05 for _, v in result.features)


def test_missing_values_and_new_categories_are_found_and_samples_are_noted() -> None:
    reference, current = _rows(400, 0.0, seed=4), _rows(400, 0.0, seed=5)
    current.loc[::3, "c"] = np.nan  # same values where present, a third missing now
    current.loc[::2, "line"] = "L9"  # a line the reference never saw
    reference["only_here"] = 1.0
    result = domain_classifier_drift(reference, current, max_rows=200, folds=4)
    assert result.drifted, result
    assert {name for name, _ in result.features[:2]} == {"c", "line"}
    assert (result.n_reference, result.n_current) == (200, 200)
    assert "sampled 200 of 400 reference rows; sampled 200 of 400 current rows" in result.note
    assert "not compared (on one side only): 'only_here'" in result.note
    payload = result.to_dict()
    assert payload["features"][0]["name"] in {"c", "line"} and payload["threshold"] == 0.6


@pytest.mark.parametrize(
    ("change", "options", "match"),
    [
        (lambda r, c: (r, c.rename(columns=str.upper)), {}, "share no columns"),
        (lambda r, c: (r.head(30), c), {}, "reference table has 30 rows.*at least 50 a side"),
        (lambda r, c: (r, c.head(19)), {"folds": 2}, "current table has 19 rows.*at least 20"),
        (lambda r, c: (r, c), {"threshold": 0.5}, "threshold must be an AUC above 0.5"),
        (lambda r, c: (r, c), {"folds": 1}, "folds must be at least 2"),
        (lambda r, c: (r, c), {"categorical": ["nope"]}, "'nope' are not shared"),
    ],
)
def test_bad_input_is_refused_saying_what_is_needed(change, options, match: str) -> None:
    reference, current = change(_rows(100, 0.0, seed=6), _rows(100, 0.0, seed=7))
    with pytest.raises(InvalidInput, match=match):
        domain_classifier_drift(reference, current, **options)


# -- an endpoint's logged inputs ------------------------------------------------------------


def _log(
    store: Store, instances: list[Any], at: datetime, *, role: str = "primary", ep: str = "ep"
) -> None:
    """One logged prediction per instance, a second apart from ``at`` (None: not sampled).

    Ids are random, as the server's, but seeded: the sample read back is the same every run."""
    ids = random.Random(f"{ep} {role} {at.isoformat()}")
    with store.session() as s:
        for i, instance in enumerate(instances):
            s.add(
                Prediction(
                    id=f"{ids.getrandbits(128):032x}",
                    time=at + timedelta(seconds=i),
                    endpoint=ep,
                    model_name="inspector",
                    model_version=1,
                    role=role,
                    inputs=instance,
                    outputs={"output": 1},
                    latency_ms=1.0,
                    status="ok",
                )
            )


def _dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")


def test_logged_inputs_become_a_table_named_as_window_profiles_name_features(
    store: Store,
) -> None:
    _log(store, [{"a": 1.5, "line": "L1"}, {"a": None, "line": "L2", "b": 3}], DAY1)
    _log(store, [[0.1, 0.2], 7.0, [[1, 2], [3, 4]], None, list(range(65))], DAY1 + timedelta(1))
    _log(store, [{"a": 99.0}], DAY1, role="shadow")  # another role
    _log(store, [{"a": 99.0}], DAY2 + timedelta(1))  # after the span
    _log(store, [{"a": 99.0}], DAY1, ep="other")
    frame = logged_inputs("ep", since=DAY1, until=DAY2 + timedelta(1), store=store)
    assert sorted(frame.columns) == ["a", "b", "line", "x0", "x1"]
    rows = [{k: v for k, v in r.items() if pd.notna(v)} for r in frame.to_dict("records")]
    expected = [{"a": 1.5, "line": "L1"}, {"b": 3.0, "line": "L2"}, {"x0": 0.1, "x1": 0.2}]
    assert sorted(rows, key=str) == sorted([*expected, {"x0": 7.0}], key=str)
    assert frame.attrs == {"skipped": 2, "sampled": False}  # the image and the 65-wide row
    assert len(logged_inputs("ep", since=DAY1, until=DAY2, role="shadow", store=store)) == 1
    few = logged_inputs("ep", since=DAY1, until=DAY2 + timedelta(1), limit=3, store=store)
    assert len(few) + few.attrs["skipped"] == 3 and few.attrs["sampled"] is True
    with pytest.raises(InvalidInput, match="before it starts"):
        logged_inputs("ep", since=DAY2, until=DAY1, store=store)


@pytest.fixture
def served(store: Store, tmp_path: Path) -> Store:
    """Endpoint ``ep`` serving ``inspector@1``, trained on dataset ``train@1`` (a, b, c with
    a and b correlated +0.8; a label and a metadata column)."""
    frame = _rows(ROWS, 0.8, seed=1).drop(columns=["line"])
    frame["label"] = (frame["a"] > 0).astype(int)
    frame["batch"] = "b1"
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    version = datasets.add(
        "train", path, label_columns=["label"], metadata_columns=["batch"], store=store
    )
    features = frame[["a", "b", "c"]]
    model = LogisticRegression().fit(features, frame["label"])
    with start_run("phone", "train", store=store) as run:
        run.use_dataset(version, role="train")
        models.register("inspector", model, run=run, sample=features[:5], store=store)
    endpoints.create("ep", "inspector@1", store=store)
    return store


def test_an_endpoint_window_against_an_earlier_window_finds_the_flipped_correlation(
    served: Store,
) -> None:
    columns = ["a", "b", "c"]
    _log(served, _dicts(_rows(ROWS, 0.8, seed=1)[columns]), DAY1)
    _log(served, _dicts(_rows(ROWS, -0.8, seed=2)[columns]), DAY2)
    first_day = f"window:{DAY1.isoformat()}/{DAY2.isoformat()}"
    result = endpoint_multivariate_drift(
        "ep", since=DAY2, until=DAY2 + timedelta(days=1), reference=first_day, store=served
    )
    assert result.drifted and result.auc > 0.75, result
    assert {name for name, _ in result.features[:2]} == {"a", "b"}
    assert result.note == f"reference {first_day}"
    assert (result.n_reference, result.n_current) == (ROWS, ROWS)


def test_the_default_reference_is_the_training_data_and_redacted_fields_are_left_out(
    served: Store,
) -> None:
    logged = _rows(ROWS, 0.8, seed=3)[["a", "b", "c"]].astype(object)
    logged["c"] = REDACTED  # numbers in the training data, hidden in the log
    _log(served, _dicts(logged), DAY2)
    result = endpoint_multivariate_drift(
        "ep", since=DAY2, until=DAY2 + timedelta(days=1), max_rows=200, store=served
    )
    assert not result.drifted and abs(result.auc - 0.5) < 0.1, result
    assert [name for name, _ in result.features] in (["a", "b"], ["b", "a"])
    assert result.note == (
        "reference dataset:train@1; a random 200 of the reference rows; a random 200 of the "
        "current rows; redacted in the log, left out: 'c'"
    )


def test_an_endpoint_span_without_usable_inputs_or_a_bad_reference_is_refused(
    served: Store,
) -> None:
    span = {"since": DAY2, "until": DAY2 + timedelta(days=1), "store": served}
    with pytest.raises(InvalidInput, match=r"no inputs were logged.*sample_rate"):
        endpoint_multivariate_drift("ep", **span)
    _log(served, [np.zeros((2, 2)).tolist()] * 60, DAY2)
    with pytest.raises(InvalidInput, match=r"none of the 60 inputs.*is tabular"):
        endpoint_multivariate_drift("ep", **span)
    _log(served, _dicts(_rows(60, 0.0, seed=8)[["a", "b", "c"]]), DAY2 + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="'yesterday' is not 'dataset:NAME@VERSION'"):
        endpoint_multivariate_drift("ep", reference="yesterday", **span)
    with pytest.raises(InvalidInput, match="no inputs were logged by endpoint 'ep' in the ref"):
        endpoint_multivariate_drift("ep", reference=f"window:{DAY1.date()}/{DAY2.date()}", **span)
    with pytest.raises(NotFound, match="no endpoint 'nope'"):
        endpoint_multivariate_drift("nope", reference="window:2026-01-01/2026-01-02", **span)


# -- the CLI --------------------------------------------------------------------------------


def test_drift_command_adds_the_classifier_to_table_json_and_html_with_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inprod.cli import app

    monkeypatch.setenv("INPROD_HOME", str(tmp_path / "home"))
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.parquet"
    _rows(ROWS, 0.8, seed=1).to_csv(ref, index=False)
    _rows(ROWS, -0.8, seed=2).to_parquet(cur, index=False)

    def ok(*args: object) -> Any:
        result = CliRunner().invoke(app, ["monitor", "drift", *map(str, args)])
        assert result.exit_code == 0, f"{result.stdout}\n{result.stderr}\n{result.exception!r}"
        return result

    assert "multivariate" not in json.loads(ok(ref, cur, "--json").stdout)
    page = tmp_path / "drift.html"
    out = " ".join(ok(ref, cur, "--multivariate", "--html", page).stdout.split())
    assert "0 of 4 columns drifted" in out
    assert re.search(r"multivariate: domain classifier ROC AUC 0\.[89]\d\d ± 0\.\d+: drifted", out)
    assert "AUC lost when a column is shuffled: a 0." in out or "shuffled: b 0." in out
    html = page.read_text(encoding="utf-8")
    assert "<h2>Multivariate drift: drifted (ROC AUC" in html and "<td>a</td>" in html
    report = json.loads(ok(ref, cur, "--multivariate", "--json", "-c", "a,b").stdout)
    assert report["summary"]["drifted"] == []
    joint = report["multivariate"]
    assert joint["drifted"] is True and joint["auc"] > 0.75
    assert {f["name"] for f in joint["features"]} == {"a", "b"}
