"""Data validation: each kind of change is found with the right status and a message naming the
column and the numbers; same data passes; an endpoint's logged inputs are checked against its
training data (training/serving skew), by name or by position."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import write_images
from sklearn.linear_model import LogisticRegression

from inprod import endpoints, models
from inprod.data import datasets
from inprod.data.validate import FAIL, PASS, WARN, serving_skew, validate, validate_table
from inprod.endpoints import REDACTED
from inprod.errors import InvalidInput, NotFound
from inprod.store import Store
from inprod.store.tables import Prediction
from inprod.tracking.runs import start_run

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def _phones(n: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "brightness": rng.normal(0.5, 0.1, n),
            "width": rng.integers(600, 700, n),
            "factory": rng.choice(["A", "B"], n),
            "label": rng.choice(["ok", "scratch"], n, p=[0.7, 0.3]),
            "defect": rng.choice([0, 1], n),
            "phone_id": [f"p{seed}-{i}" for i in range(n)],
        }
    )


def _found(report, status: str) -> dict[tuple[str, str | None], str]:
    return {(c.check, c.column): c.message for c in report.checks if c.status == status}


def test_data_from_the_same_source_passes_every_check() -> None:
    report = validate_table(_phones(seed=1), _phones(seed=0), labels=["label", "defect"])
    assert report.status == PASS, [c.to_dict() for c in report.checks]
    assert {c.check for c in report.checks} == {"schema", "range", "missing", "categories",
                                                "drift"}  # fmt: skip
    assert report.note == "identifiers (over 50 values), not tested: 'phone_id'"


def test_each_kind_of_change_is_found_with_its_status_and_numbers() -> None:
    reference = _phones(seed=0)
    current = _phones(seed=1).drop(columns=["phone_id"]).assign(operator="op-1")
    current["brightness"] -= 0.2  # darker: out of range and drifted
    current.loc[:99, "width"] = np.nan  # 12.5% missing
    current.loc[:29, "factory"] = "C"
    current.loc[:4, "label"] = "crack"
    current.loc[5:7, "label"] = None
    current["defect"] = current["defect"].map({0: "no", 1: "yes"})  # numbers became text
    report = validate_table(current, reference, labels=["label"])
    fails, warns = _found(report, FAIL), _found(report, WARN)
    assert fails[("schema", "phone_id")] == "column 'phone_id' is missing (the reference has it)"
    assert fails[("schema", "defect")] == "column 'defect' held numbers, now text or categories"
    assert fails[("missing", "label")] == "label 'label' is missing in 3 row(s) (0.4%)"
    assert fails[("categories", "label")].startswith(
        "'label' has 1 class(es) the reference never had: 'crack' (5 rows)"
    )
    assert warns[("schema", "operator")] == (
        "column 'operator' is new (the reference does not have it)"
    )
    assert warns[("missing", "width")] == "12.5% of 'width' is missing, 0.0% in the reference"
    assert warns[("categories", "factory")] == (
        "'factory' has 1 value(s) the reference never had: 'C' (30 rows)"
    )
    below = int((current["brightness"] < reference["brightness"].min()).sum())
    assert warns[("range", "brightness")].startswith(
        f"{below:,} of 800 values of 'brightness' ({below / 800:.1%}) are outside the reference's"
    )
    assert warns[("drift", "brightness")].startswith("'brightness' drifted (PSI ")
    assert ("drift", "width") not in warns  # fewer values, same distribution
    assert report.status == FAIL and len(report.failures) == len(fails)
    assert report.to_dict()["checks"][0]["status"] in (FAIL, WARN)


def test_values_past_the_extremes_by_chance_pass_but_one_far_outside_warns() -> None:
    reference = _phones(n=100, seed=0)
    current = _phones(n=1000, seed=2)
    ref_b, cur_b = reference["brightness"], current["brightness"]
    by_chance = int(((cur_b < ref_b.min()) | (cur_b > ref_b.max())).sum())
    assert by_chance > 0.01 * 1000  # over 1% outside: what a 100-row reference leads to (2%)
    assert ("range", None) in _found(validate_table(current, reference), PASS)
    current.loc[0, "brightness"] = 5.0  # a glitch far beyond the range
    warns = _found(validate_table(current, reference), WARN)
    assert warns[("range", "brightness")].startswith(f"{by_chance + 1} of 1,000 values")


def test_integer_classes_are_categories_and_a_vanished_class_is_a_warning() -> None:
    reference = _phones(seed=0)
    current = _phones(seed=1).assign(defect=0)
    report = validate_table(current, reference, labels=["defect"])
    assert _found(report, WARN)[("categories", "defect")] == "'defect' has no rows of class(es) '1'"
    assert ("drift", "defect") in _found(report, WARN)
    assert report.status == WARN


def test_a_new_version_with_no_rows_fails_and_an_empty_reference_is_refused() -> None:
    report = validate_table(_phones().head(0), _phones())
    assert _found(report, FAIL) == {("rows", None): "current has no rows"}
    with pytest.raises(InvalidInput, match="reference has no rows"):
        validate_table(_phones(), _phones().head(0))


def test_validate_compares_with_the_previous_version_by_default(store: Store, table_file) -> None:
    first = datasets.add("phones", table_file(_phones(seed=0)), label_columns=["label"],
                         store=store)  # fmt: skip
    with pytest.raises(InvalidInput, match="phones@1 is the first version of 'phones'"):
        validate(first.ref, store=store)
    shifted = _phones(seed=1).assign(brightness=lambda f: f["brightness"] + 0.3)
    second = datasets.add("phones", table_file(shifted, "v2.csv"), label_columns=["label"],
                          store=store)  # fmt: skip
    report = validate(second.ref, store=store)
    assert (report.subject, report.reference, report.rows) == ("phones@2", "phones@1", 800)
    assert ("drift", "brightness") in _found(report, WARN)
    assert validate(first.ref, against=second.ref, store=store).reference == "phones@2"
    with pytest.raises(NotFound):
        validate("phones@7", store=store)


def test_image_versions_compare_image_sizes_not_paths(store: Store, tmp_path: Path) -> None:
    write_images(tmp_path / "small", count=6, size=(8, 6))
    write_images(tmp_path / "large", count=6, size=(10, 6), seed=4)
    small = datasets.add("imgs", tmp_path / "small", label_columns=["label"], store=store)
    large = datasets.add("imgs", tmp_path / "large", label_columns=["label"], store=store)
    report = validate(large.ref, against=small.ref, store=store)
    assert _found(report, FAIL) == {("images", None): "images are 10x6 L, 8x6 L in the reference"}
    same = validate(small.ref, against=small.ref, store=store)
    assert same.status == PASS and ("images", None) in _found(same, PASS)


# -- training/serving skew ------------------------------------------------------------------


def _log(store: Store, instances: list[Any], at: datetime = DAY) -> None:
    ids = random.Random(at.isoformat())
    with store.session() as s:
        for i, instance in enumerate(instances):
            s.add(
                Prediction(
                    id=f"{ids.getrandbits(128):032x}",
                    time=at + timedelta(seconds=i),
                    endpoint="ep",
                    model_name="inspector",
                    model_version=1,
                    role="primary",
                    inputs=instance,
                    outputs={"output": 1},
                    latency_ms=1.0,
                    status="ok",
                )
            )


def _training(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(5, 1, n),
                          "line": rng.choice(["L1", "L2"], n)})  # fmt: skip
    return frame


def _serve(store: Store, tmp_path: Path, *, positional: bool) -> None:
    """Endpoint ``ep`` serving a model trained on dataset ``train@1`` (a, b; label; batch)."""
    frame = _training()[["a", "b"]]
    frame["label"] = (frame["a"] > 0).astype(int)
    frame["batch"] = "b1"
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    version = datasets.add("train", path, label_columns=["label"], metadata_columns=["batch"],
                           store=store)  # fmt: skip
    features = frame[["a", "b"]].to_numpy() if positional else frame[["a", "b"]]
    model = LogisticRegression().fit(features, frame["label"])
    with start_run("phone", "train", store=store) as run:
        run.use_dataset(version, role="train")
        models.register("inspector", model, run=run, sample=features[:5], store=store)
    endpoints.create("ep", "inspector@1", store=store)


def test_serving_skew_finds_a_unit_change_and_a_feature_the_server_never_sends(
    store: Store, tmp_path: Path
) -> None:
    _serve(store, tmp_path, positional=False)
    logged = _training(seed=1)
    logged["b"] *= 100  # the server sends centimetres
    _log(store, logged[["a", "b"]].assign(extra=1).drop(columns=["a"]).to_dict("records"))
    report = serving_skew("train@1", "ep", since=DAY, until=DAY + timedelta(days=1), store=store)
    assert report.reference == "train@1" and report.rows == 300
    assert report.subject.startswith("endpoint 'ep' in role 'primary' from 2026-11-02T00:00")
    assert _found(report, FAIL) == {("schema", "a"): "column 'a' is missing (the reference has it)"}
    warns = _found(report, WARN)
    assert warns[("range", "b")].startswith("300 of 300 values of 'b' (100.0%) are outside")
    assert ("drift", "b") in warns and ("schema", "extra") in warns
    assert ("schema", "label") not in warns  # labels and metadata are not model inputs


def test_serving_skew_names_positional_inputs_by_the_signature_and_leaves_redacted_out(
    store: Store, tmp_path: Path
) -> None:
    _serve(store, tmp_path, positional=True)
    _log(store, _training(seed=2)[["a", "b"]].to_numpy().tolist())
    span = {"since": DAY, "until": DAY + timedelta(days=1), "store": store}
    report = serving_skew(None, "ep", **span)  # default: the served model's training data
    assert report.status == PASS, [c.to_dict() for c in report.checks]
    assert report.reference == "train@1"
    _log(store, [{"x0": 0.1, "x1": REDACTED}] * 5, DAY + timedelta(hours=2))
    redacted = serving_skew(None, "ep", **span)
    assert "redacted in the log, left out: 'x1'" in redacted.note


def test_serving_skew_refuses_unknown_endpoints_and_spans_without_inputs(
    store: Store, tmp_path: Path
) -> None:
    _serve(store, tmp_path, positional=False)
    with pytest.raises(NotFound, match="no endpoint 'nope'"):
        serving_skew("train@1", "nope", since=DAY, store=store)
    with pytest.raises(InvalidInput, match="no inputs were logged by endpoint 'ep'"):
        serving_skew("train@1", "ep", since=DAY, until=DAY + timedelta(days=1), store=store)
