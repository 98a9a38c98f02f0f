"""The retraining data: new labelled examples from logged predictions, and the labels, training
and evaluation versions built from them with provenance."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from retrain_functions import (
    DATASET,
    ENDPOINT,
    LABEL_MAP,
    MODEL,
    log_labelled,
    serve_champion,
)
from sklearn.linear_model import LogisticRegression

from inprod import endpoints, models
from inprod.data import datasets
from inprod.errors import InvalidInput
from inprod.flavors import Signature
from inprod.quickstart import phone_data
from inprod.retraining import data
from inprod.retraining.training import load_training_data
from inprod.store import Store
from inprod.store.tables import Feedback, Prediction


def _predict(store: Store, inputs: Any, *labels: tuple[Any, str], endpoint: str = ENDPOINT) -> str:
    """One logged prediction with ``inputs`` and feedback ``(label, source)`` in order."""
    pid = uuid.uuid4().hex
    with store.session() as s:
        s.add(
            Prediction(
                id=pid, time=pd.Timestamp.now(tz="UTC").to_pydatetime(), endpoint=endpoint,
                model_name=MODEL, model_version=1, inputs=inputs, latency_ms=1.0,
            )
        )  # fmt: skip
    for label, source in labels:
        with store.session() as s:
            s.add(Feedback(prediction_id=pid, label=label, source=source))
    return pid


def _serving(store: Store) -> data.Serving:
    version = models.get(f"{MODEL}@champion", store=store)
    return data.Serving(
        version.ref, Signature.from_dict(version.signature), phone_data.image_features
    )


def _build(store: Store, reference: str, **options: Any) -> data.RetrainingData:
    options = {
        "eval_base": reference, "serving": _serving(store), "label_map": LABEL_MAP,
        "min_labels": 1, "monitored": ["brightness"], "store": store, **options,
    }  # fmt: skip
    return data.build(7, ENDPOINT, reference=reference, **options)


def test_labelled_examples_are_the_latest_label_of_each_logged_prediction_with_inputs(
    store: Store,
) -> None:
    relabelled = _predict(store, [0.1, 0.2], ("ok", "user"), (1, "review:bo"))
    plain = _predict(store, [0.3, 0.4], ("scratch", "inspector"))
    _predict(store, None, ("ok", "user"))  # not sampled: no inputs to learn from
    _predict(store, [0.5, 0.6])  # never labelled
    _predict(store, [0.7, 0.8], ("ok", "user"), endpoint="other")
    with store.session() as s:  # an event is not a label
        s.add(Feedback(prediction_id=plain, event="redo", source="app"))

    examples = data.labelled_examples(ENDPOINT, label_map=LABEL_MAP, store=store)

    assert [(e.prediction_id, e.label, e.source) for e in examples] == [
        (relabelled, "scratch", "review:bo"),  # ordered by their latest label
        (plain, "scratch", "inspector"),
    ]
    assert examples[1].inputs == [0.3, 0.4]


def test_build_stores_labels_training_and_eval_versions_with_provenance(
    store: Store, tmp_path: Path
) -> None:
    reference = serve_champion(store, tmp_path / "phones", n=60)
    ids = log_labelled(store, 30, source="review:ana")
    dark = phone_data.generate(30, seed=11, dark_shift=0.35).images  # what log_labelled logged

    built = _build(store, reference)

    held = {pid for pid in ids if data.held_out(pid)}
    assert 0 < len(held) < len(ids)
    assert (built.new_examples, built.held_out) == (len(ids) - len(held), len(held))
    assert built.sources == {"review:ana": 30}
    labels = datasets.get(built.labels, store=store)
    assert labels.name == f"{ENDPOINT}-labels" and labels.row_count == 30
    assert "review (ana)" in labels.source and "request 7" in labels.transform
    logged = datasets.load(built.labels, store=store)
    assert set(logged["label"]) <= {"ok", "scratch"}  # review decisions 0/1 translated
    training = datasets.get(built.training, store=store)
    assert training.parents == [reference, built.labels]
    frame = datasets.load(built.training, store=store)
    images = datasets.load_images(built.training, store=store)
    production = frame["origin"] == "production"
    assert production.sum() == built.new_examples and (~production).sum() == 60
    assert not set(frame.loc[production, "prediction_id"]) & held
    for i in np.flatnonzero(production.to_numpy()):  # the logged pixels, back as the images
        assert np.array_equal(images[i], dark[ids.index(frame["prediction_id"][i])])
    evaluation = datasets.load(built.evaluation, store=store)
    assert set(evaluation.loc[evaluation["origin"] == "production", "prediction_id"]) == held
    brightness = evaluation["monitored.brightness"].to_numpy()
    assert np.allclose(
        brightness[:60], datasets.load(reference, store=store)["brightness"], atol=1e-3
    )
    drift = [t for t in built.slices if t.startswith("monitored.brightness<")]
    assert len(drift) == 1 and "origin=production" in built.slices
    assert not any(t.endswith("=") for t in built.slices)  # blank values are not slices


def test_building_again_stores_nothing_new(store: Store, tmp_path: Path) -> None:
    reference = serve_champion(store, tmp_path / "phones", n=40)
    log_labelled(store, 10)
    first = _build(store, reference)
    again = _build(store, reference)
    assert again == first
    assert len(datasets.list_versions(f"{ENDPOINT}-training", store=store)) == 1


def test_examples_already_in_the_reference_are_not_new(store: Store, tmp_path: Path) -> None:
    reference = serve_champion(store, tmp_path / "phones", n=40)
    log_labelled(store, 10)
    first = _build(store, reference)
    with pytest.raises(
        InvalidInput, match=rf"0 new labelled example.*\({first.held_out} more held"
    ):
        _build(store, first.training)
    second = _build(store, first.training, min_labels=0)  # the held-out ones stay held out
    assert (second.new_examples, second.held_out) == (0, first.held_out)


def test_too_few_new_labels_is_refused_with_the_count(store: Store, tmp_path: Path) -> None:
    reference = serve_champion(store, tmp_path / "phones", n=40)
    log_labelled(store, 3)
    with pytest.raises(InvalidInput, match=r"has \d new labelled example.*needs 5 \(min_labels\)"):
        _build(store, reference, min_labels=5)
    assert [d.name for d in datasets.list_datasets(store=store)] == [DATASET]  # nothing stored


def test_logged_inputs_that_are_not_the_reference_images_name_the_prediction(
    store: Store, tmp_path: Path
) -> None:
    reference = serve_champion(store, tmp_path / "phones", n=40)
    pid = next(p for p in (uuid.uuid4().hex for _ in range(100)) if not data.held_out(p))
    with store.session() as s:
        s.add(Prediction(id=pid, time=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                         endpoint=ENDPOINT, model_name=MODEL, model_version=1,
                         inputs=[0.5] * 100, latency_ms=1.0))  # fmt: skip
        s.add(Feedback(prediction_id=pid, label="ok", source="user"))
    with pytest.raises(InvalidInput, match=f"prediction {pid} have 100 values.*1024 \\(32x32\\)"):
        _build(store, reference)


def test_a_table_reference_gets_the_logged_fields_as_columns(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.random(50), "b": rng.integers(0, 2, 50), "site": "A"})
    table["label"] = np.where(table["x"] > 0.5, "bad", "good")
    table.to_parquet(tmp_path / "bolts.parquet", index=False)
    reference = datasets.add("bolts", tmp_path / "bolts.parquet", label_columns=["label"],
                             metadata_columns=["site"], store=store).ref  # fmt: skip
    model = LogisticRegression().fit(table[["x", "b"]], table["label"])
    version = models.register("bolt-model", model, sample=table[["x", "b"]][:3], store=store)
    endpoints.create(ENDPOINT, version.ref, store=store)
    as_dict = _predict(store, {"x": 0.9, "b": 1, "extra": "ignored"}, ("bad", "qa"))
    as_list = _predict(store, [0.2, 0], ("good", "qa"))
    serving = data.Serving(version.ref, Signature.from_dict(version.signature), None)

    built = data.build(1, ENDPOINT, reference=reference, eval_base=reference, serving=serving,
                       label_map={}, min_labels=0, store=store)  # fmt: skip

    rows = pd.concat(
        [datasets.load(built.training, store=store), datasets.load(built.evaluation, store=store)]
    ).set_index("prediction_id")
    assert rows.loc[as_dict, ["x", "b", "label"]].tolist() == [0.9, 1, "bad"]
    assert rows.loc[as_list, ["x", "b", "label"]].tolist() == [0.2, 0, "good"]
    assert "extra" not in rows.columns


def test_training_data_holds_the_rows_and_images_aligned(store: Store, tmp_path: Path) -> None:
    reference = serve_champion(store, tmp_path / "phones", n=40)
    log_labelled(store, 12)
    built = _build(store, reference)

    loaded = load_training_data(built.training, seed=5, store=store)

    assert loaded.dataset == built.training and loaded.seed == 5
    assert loaded.label_column == "label" and loaded.images is not None
    assert len(loaded.frame) == len(loaded.images) == 40 + built.new_examples
    assert loaded.new_examples == built.new_examples
