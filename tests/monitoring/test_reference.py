"""Reference profiles: training data from lineage, a chosen dataset version, or a traffic span,
with features named the way the endpoint names what clients send."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from inprod import endpoints, models
from inprod.data import datasets
from inprod.errors import InvalidInput, NotFound
from inprod.flavors.signature import Schema, Signature
from inprod.monitoring import NumericSketch, ProfileBuilder, ProfileKey, WindowProfile, reference
from inprod.monitoring.reference import profile_of_table, reference_profile
from inprod.monitoring.sketch_drift import OUTPUT_CLASS, profile_drift
from inprod.store import Store
from inprod.store.tables import WindowProfileRow
from inprod.tracking.runs import start_run

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
KEY = ProfileKey("ep", "m", 1, "reference", T0, 0.0)
FEATURES = ["brightness", "contrast"]


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "brightness": rng.normal(0.5, 0.1, n),
            "contrast": rng.gamma(2.0, 0.2, n),
            "camera": rng.choice(["cam-1", "cam-2"], n),
        }
    )
    frame["label"] = (frame["brightness"] > 0.5).astype(int)
    return frame


def _served(frame: pd.DataFrame, rows: str, *, outputs: bool = True) -> WindowProfile:
    """What the endpoint builds when clients send ``frame`` as dict rows or as arrays."""
    builder = ProfileBuilder(ProfileKey("ep", "m", 1, "primary", T0, 60.0))
    inputs = frame[FEATURES]
    instances = inputs.to_dict("records") if rows == "dict" else inputs.to_numpy().tolist()
    answers = [{"output": int(v)} for v in frame["label"]] if outputs else None
    builder.add(instances, answers, 1.0)
    return builder.build()


@pytest.fixture
def table_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    _table().to_csv(path, index=False)
    return path


def _train(store: Store, table_file: Path, *, record: bool = True) -> None:
    frame = _table()
    version = datasets.add(
        "phone-table",
        table_file,
        label_columns=["label"],
        metadata_columns=["camera"],
        store=store,
    )
    model = LogisticRegression().fit(frame[FEATURES], frame["label"])
    with start_run("phone", "train", store=store) as run:
        if record:
            run.use_dataset(version, role="train")
        models.register("inspector", model, run=run, sample=frame[FEATURES][:5], store=store)
    endpoints.create("ep", "inspector@1", store=store)


def test_the_default_reference_is_the_served_models_training_data(
    store: Store, table_file: Path
) -> None:
    _train(store, table_file)
    description, profile = reference_profile("ep", store=store)
    assert description == "dataset:phone-table@1"
    key = profile.key
    assert (key.endpoint, key.model_name, key.model_version, key.role) == (
        "ep",
        "inspector",
        1,
        "reference",
    )
    assert sorted(profile.features) == FEATURES  # the signature's inputs; not camera, not label
    assert profile.instances == 400
    frame = _table()
    assert profile.output_classes.estimate("1") == int(frame["label"].sum())
    # the endpoint's own profile of the same rows matches it feature for feature
    report = profile_drift(profile, _served(frame, "dict"))
    assert [c.column for c in report.columns] == [*FEATURES, OUTPUT_CLASS, "output.value"]
    assert report.schema_differences == [] and report.drifted == []


def test_a_model_without_a_run_or_a_run_without_training_data_says_what_to_do(
    store: Store, table_file: Path
) -> None:
    _train(store, table_file, record=False)
    with pytest.raises(InvalidInput, match=r"recorded no dataset with role 'train'.*use_dataset"):
        reference_profile("ep", store=store)
    models.register(
        "bare", LogisticRegression().fit(_table()[FEATURES], _table()["label"]), store=store
    )
    endpoints.create("bare-ep", "bare@1", store=store)
    with pytest.raises(InvalidInput, match=r"bare@1 was registered without a run.*dataset:"):
        reference_profile("bare-ep", store=store)
    # naming a dataset works for either
    description, profile = reference_profile(
        "bare-ep", reference="dataset:phone-table@1", store=store
    )
    assert description == "dataset:phone-table@1" and sorted(profile.features) == FEATURES


def test_a_dataset_without_the_models_inputs_is_refused_naming_missing_and_extra_columns(
    store: Store, tmp_path: Path, table_file: Path
) -> None:
    _train(store, table_file)
    other = tmp_path / "other.csv"
    _table().rename(columns={"contrast": "sharpness"}).to_csv(other, index=False)
    datasets.add("other", other, label_columns=["label"], store=store)
    with pytest.raises(
        InvalidInput, match=r"dataset other@1 .* missing 'contrast'; not inputs: 'sharpness', 'cam"
    ):
        reference_profile("ep", reference="dataset:other@1", store=store)
    with pytest.raises(NotFound, match="no dataset 'nope'"):
        reference_profile("ep", reference="dataset:nope@1", store=store)
    with pytest.raises(NotFound, match="no endpoint"):
        reference_profile("nowhere", store=store)
    with pytest.raises(InvalidInput, match="is not 'dataset:NAME@VERSION' or 'window:"):
        reference_profile("ep", reference="phone-table@1", store=store)


def test_dataset_profiles_are_built_once_per_process(
    store: Store, table_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _train(store, table_file)
    monkeypatch.setattr(reference, "_cache", OrderedDict())
    loads = []
    real_load = datasets.load
    monkeypatch.setattr(datasets, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    first = reference_profile("ep", store=store)[1]
    second = reference_profile("ep", store=store)[1]
    assert len(loads) == 1
    assert second.features is first.features


def test_positional_inputs_are_named_x0_onwards_in_column_order() -> None:
    frame = _table()
    signature = Signature(inputs=Schema.of_tensor("float64", (-1, 2)))
    profile = profile_of_table(
        frame[[*FEATURES, "label"]], KEY, signature=signature, label_column="label"
    )
    assert list(profile.features) == ["x0", "x1"]
    report = profile_drift(profile, _served(frame, "list"))
    assert [c.column for c in report.columns][:2] == ["x0", "x1"]
    assert report.schema_differences == [] and report.drifted == []
    with pytest.raises(InvalidInput, match=r"has 3 input column\(s\).*takes 2 value"):
        profile_of_table(frame, KEY, signature=signature, label_column="label")


def test_wide_rows_become_the_same_row_summaries_the_endpoint_computes() -> None:
    rng = np.random.default_rng(2)
    pixels = rng.random((300, 100))
    pixels[0, :] = np.nan  # a row without numbers: every summary missing
    pixels[1, :50] = np.inf
    frame = pd.DataFrame(pixels, columns=[f"p{i}" for i in range(100)])
    signature = Signature(inputs=Schema.of_tensor("float64", (-1, 100)))
    profile = profile_of_table(frame, KEY, signature=signature)
    builder = ProfileBuilder(KEY)
    builder.add([row.tolist() for row in pixels], None, 1.0)
    served = builder.build()
    assert sorted(profile.features) == sorted(served.features) == ["max", "mean", "min", "std"]
    for name, sketch in profile.features.items():
        theirs = served.features[name]
        assert isinstance(sketch, NumericSketch) and isinstance(theirs, NumericSketch)
        assert (sketch.count, sketch.missing) == (theirs.count, theirs.missing) == (299, 1)
        assert sketch.mean == pytest.approx(theirs.mean, rel=1e-12)
        assert sketch.max == pytest.approx(theirs.max, rel=1e-12)


@pytest.mark.parametrize(
    "labels",
    [
        [0, 2, 1, 1, 2],
        [0.5, 1.5, None, 2.5, 0.5],
        [True, False, True, True, False],
        ["ok", "scratch", None, "needs_review", "ok"],
        ["ok", 3, 2.5, None, "ok"],
    ],
)
def test_labels_become_classes_and_values_as_the_endpoint_splits_answers(labels: list) -> None:
    frame = pd.DataFrame({"a": np.arange(5.0), "label": labels})
    mine = profile_of_table(frame, KEY, label_column="label")
    builder = ProfileBuilder(KEY)
    builder.add([{"a": 0.0}] * 5, [{"output": v} for v in labels], 1.0)
    theirs = builder.build()
    assert mine.output_classes == theirs.output_classes
    assert mine.output_values.count == theirs.output_values.count
    assert mine.output_values.sum == theirs.output_values.sum
    assert (mine.null_outputs, mine.needs_review) == (theirs.null_outputs, theirs.needs_review)


def test_without_a_signature_columns_keep_their_names_and_text_is_categorical() -> None:
    profile = profile_of_table(_table(), KEY, label_column="label")
    assert list(profile.features) == ["brightness", "contrast", "camera"]
    assert profile.features["camera"].count == 400
    assert type(profile.features["camera"]).__name__ == "CategorySketch"
    with pytest.raises(InvalidInput, match="label column 'y' is not in the table"):
        profile_of_table(_table(), KEY, label_column="y")
    with pytest.raises(InvalidInput, match="has no rows"):
        profile_of_table(_table().iloc[:0], KEY)


def test_labels_the_model_does_not_answer_are_not_used_as_its_outputs(
    store: Store, tmp_path: Path, table_file: Path
) -> None:
    _train(store, table_file)
    words = tmp_path / "words.csv"
    frame = _table()
    frame["label"] = np.where(frame["label"] == 1, "scratch", "ok")  # the model answers 0 / 1
    frame.to_csv(words, index=False)
    datasets.add("words", words, label_columns=["label"], store=store)
    _, profile = reference_profile("ep", reference="dataset:words@1", store=store)
    assert profile.output_classes.count == 0 and sorted(profile.features) == FEATURES


def _store_window(store: Store, role: str, start: datetime, frame: pd.DataFrame) -> None:
    builder = ProfileBuilder(ProfileKey("ep", "inspector", 1, role, start, 60.0))
    builder.add(frame[FEATURES].to_dict("records"), None, 1.0)
    profile = builder.build()
    with store.session() as s:
        s.add(
            WindowProfileRow(
                endpoint="ep",
                model_name="inspector",
                model_version=1,
                role=role,
                window_start=start,
                window_s=60,
                replica="a",
                instances=profile.instances,
                profile=profile.to_dict(),
            )
        )


def test_a_window_reference_merges_the_served_traffic_of_that_span(store: Store) -> None:
    frame = _table()
    for minute in range(3):
        start = T0 + timedelta(minutes=minute)
        _store_window(store, "primary", start, frame)
        _store_window(store, "shadow", start, frame)  # copies of the same inputs: left out
    span = "window:2026-11-02T12:00/2026-11-02T12:02Z"
    description, profile = reference_profile("ep", reference=span, store=store)
    assert description == "window:2026-11-02T12:00:00+00:00/2026-11-02T12:02:00+00:00"
    assert profile.instances == 2 * 400 and profile.key.role == "reference"
    assert (profile.key.start, profile.key.seconds) == (T0, 120.0)
    with pytest.raises(InvalidInput, match="no traffic profiles"):
        reference_profile("ep", reference="window:2026-11-03T00:00/2026-11-04T00:00", store=store)
    with pytest.raises(InvalidInput, match="ends before it starts"):
        reference_profile("ep", reference="window:2026-11-04T00:00/2026-11-03T00:00", store=store)
    with pytest.raises(InvalidInput, match="not START/END in ISO time"):
        reference_profile("ep", reference="window:yesterday", store=store)


def test_a_settled_window_reference_is_read_once(store: Store, monkeypatch) -> None:
    _store_window(store, "primary", T0, _table())
    calls = []
    real = reference.read_profiles
    monkeypatch.setattr(
        reference, "read_profiles", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    span = "window:2026-11-02T12:00/2026-11-02T12:01Z"  # long past: it cannot change any more
    first = reference_profile("ep", reference=span, store=store)[1]
    second = reference_profile("ep", reference=span, store=store)[1]
    assert len(calls) == 1 and second.instances == first.instances == 400
    # a window that ends now may still receive profiles: read every time
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    _store_window(store, "primary", now - timedelta(minutes=1), _table())
    recent = f"window:{(now - timedelta(minutes=1)).isoformat()}/{now.isoformat()}"
    for _ in range(2):
        reference_profile("ep", reference=recent, store=store)
    assert len(calls) == 3
