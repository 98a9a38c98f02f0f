"""The data a retraining request trains on and is judged on, stored as dataset versions with
provenance so lineage answers "which predictions, labelled by whom, made this model?".

Three versions per run (content-hashed: running the step again stores nothing new):

* ``<endpoint>-labels`` — the new labelled examples: the endpoint's logged predictions that
  have inputs (sampled ones) and a label (feedback; ``review:<reviewer>`` for review
  decisions), the latest label of each prediction, translated through the policy's
  ``label_map`` (a model's answer ``1`` becomes the label ``scratch``). Parquet columns
  prediction_id, time, inputs (the logged instance as JSON text: any shape fits), label,
  source. Examples already in the reference (its ``prediction_id`` column) are not new.
* ``<endpoint>-training`` — the reference rows plus the new examples in the reference's own
  form (an image dataset gets the logged pixels back as images; a table gets the logged
  fields as columns), with ``origin`` (reference | production), ``prediction_id`` and
  ``feedback_source`` as metadata. Parents: the reference and the labels version.
* ``<endpoint>-eval`` — what the gate judges: the evaluation base (the policy's ``eval_data``,
  else the champion run's ``test``/``eval`` dataset, else the reference) plus the held-out new
  examples, with one ``monitored.FEATURE`` column per feature a drift alert named.

Held out: a new example whose prediction id hashes into the first ``HOLDOUT_SHARE`` of the
range goes to the evaluation set, never to training — in every round, since the hash does not
change — so the gate judges both models on production examples neither trained on.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from ..data import datasets
from ..data.derive import add_derived
from ..data.slices import as_text, auto_tags
from ..errors import InvalidInput
from ..flavors import Signature
from ..store import Store
from ..store.tables import Feedback, Prediction

if TYPE_CHECKING:
    import pandas as pd

    from ..data.versions import DatasetVersionInfo

log = logging.getLogger(__name__)

HOLDOUT_SHARE = 0.3
ORIGIN, PREDICTION_ID, FEEDBACK_SOURCE = "origin", "prediction_id", "feedback_source"
REFERENCE, PRODUCTION = "reference", "production"
EXTRA_COLUMNS = (ORIGIN, PREDICTION_ID, FEEDBACK_SOURCE)
MONITORED = "monitored."
LOW_QUANTILE, HIGH_QUANTILE = 0.1, 0.9
IMAGE_FOLDER = "production"
_CHANNELS = {"L": 0, "RGB": 3, "RGBA": 4}  # PIL mode -> channels (0: none); others refused


@dataclass(frozen=True)
class NewExample:
    """One logged prediction with its latest label."""

    prediction_id: str
    time: datetime
    inputs: Any
    label: Any
    source: str


@dataclass(frozen=True)
class Serving:
    """What serves the endpoint now: its version's signature and monitored-feature function."""

    ref: str
    signature: Signature
    features: Callable[[Any], Any] | None


@dataclass(frozen=True)
class RetrainingData:
    """The versions one request made, and the slices the gate judges (the drift slices too)."""

    reference: str
    labels: str | None
    training: str
    evaluation: str
    new_examples: int
    held_out: int
    sources: dict[str, int]
    slices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build(
    request_id: int,
    endpoint: str,
    *,
    reference: str,
    eval_base: str,
    serving: Serving,
    label_map: Mapping[str, Any],
    min_labels: int,
    monitored: Sequence[str] = (),
    tags: Sequence[str] = (),
    store: Store,
) -> RetrainingData:
    """Store the labels, training and evaluation versions for request ``request_id``.

    Raises InvalidInput, storing nothing, when fewer than ``min_labels`` new examples are left to
    train on; InvalidInput naming the prediction when a logged input does not fit the
    reference's form.
    """
    ref_info = datasets.get(reference, store=store)
    ref_frame = datasets.load(ref_info.ref, store=store)
    known = set(ref_frame[PREDICTION_ID].dropna()) if PREDICTION_ID in ref_frame else set()
    examples = [
        e for e in labelled_examples(endpoint, label_map=label_map, store=store)
        if e.prediction_id not in known
    ]  # fmt: skip
    held = [e for e in examples if held_out(e.prediction_id)]
    train = [e for e in examples if not held_out(e.prediction_id)]
    if len(train) < min_labels:
        raise InvalidInput(
            f"endpoint {endpoint!r} has {len(train)} new labelled example(s) with logged inputs "
            f"to train on ({len(held)} more held out for the gate) and the policy needs "
            f"{min_labels} (min_labels); label predictions through feedback or the review "
            "queue, or lower min_labels",
            field="min_labels",
        )
    labels = _store_labels(request_id, endpoint, examples, store) if examples else None
    shape = _Shape.of(ref_info, serving.signature)
    parents = [ref_info.ref, *([labels.ref] if labels else [])]
    training = _derive(
        f"{endpoint}-training", ref_info, ref_frame, train, shape, parents=parents,
        transform=f"retraining request {request_id}: reference rows plus {len(train)} labelled "
        f"production example(s); {len(held)} held out for the gate", store=store,
    )  # fmt: skip
    base_info = datasets.get(eval_base, store=store)
    base_frame = (
        ref_frame if base_info.id == ref_info.id else datasets.load(base_info.ref, store=store)
    )
    base_shape = _Shape.of(base_info, serving.signature)
    columns = _monitored_columns(base_info, base_frame, held, monitored, serving, store)
    evaluation = _derive(
        f"{endpoint}-eval", base_info, base_frame, held, base_shape,
        parents=[base_info.ref, *([labels.ref] if labels else [])], extra=columns,
        transform=f"retraining request {request_id}: evaluation rows plus {len(held)} held-out "
        "production example(s)", store=store,
    )  # fmt: skip
    eval_frame = datasets.load(evaluation.ref, store=store)
    # a blank value (CSV manifests read missing text as "") is missing, not a slice
    judged = list(tags) or [
        t for t in auto_tags(eval_frame, evaluation.metadata_columns) if not t.endswith("=")
    ]
    judged += [s for s in drift_slices(eval_frame, monitored) if s not in judged]
    sources: dict[str, int] = {}
    for e in examples:
        sources[e.source or "feedback"] = sources.get(e.source or "feedback", 0) + 1
    return RetrainingData(
        reference=ref_info.ref,
        labels=None if labels is None else labels.ref,
        training=training.ref,
        evaluation=evaluation.ref,
        new_examples=len(train),
        held_out=len(held),
        sources=sources,
        slices=judged,
    )


def labelled_examples(
    endpoint: str, *, label_map: Mapping[str, Any], store: Store
) -> list[NewExample]:
    """Every logged prediction of ``endpoint`` with inputs and a label, oldest label first; the
    latest label of a prediction wins (a reviewer's decision after a user's feedback)."""
    mapping = {as_text(k): v for k, v in label_map.items()}
    query = (
        select(
            Feedback.prediction_id,
            Feedback.time,
            Feedback.label,
            Feedback.source,
            Prediction.inputs,
        )
        .join(Prediction, Prediction.id == Feedback.prediction_id)
        .where(
            Prediction.endpoint == endpoint,
            Feedback.label.is_not(None),
            Prediction.inputs.is_not(None),
        )
        .order_by(Feedback.id)
    )
    latest: dict[str, NewExample] = {}
    with store.session(write=False) as s:
        for pid, time, label, source, inputs in s.execute(query):
            label = mapping.get(as_text(label), label)
            latest.pop(pid, None)  # re-inserted: the dict keeps the latest label's order
            latest[pid] = NewExample(pid, time, inputs, label, source or "")
    return list(latest.values())


def held_out(prediction_id: str) -> bool:
    """Whether this prediction belongs to the evaluation set (the same answer in every round)."""
    digest = hashlib.sha256(prediction_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") < HOLDOUT_SHARE * 2**32


def drift_slices(frame: pd.DataFrame, monitored: Sequence[str]) -> list[str]:
    """One slice per drifted feature: the evaluation rows beyond the reference rows' 10th
    percentile on the side production moved to (darker images: ``brightness`` below it)."""
    out = []
    for feature in monitored:
        column = MONITORED + feature
        if column not in frame:
            continue
        values = frame[column].astype(float)
        ref = values[frame[ORIGIN] != PRODUCTION].dropna()
        new = values[frame[ORIGIN] == PRODUCTION].dropna()
        if ref.empty or new.empty:
            continue
        if new.mean() < ref.mean():
            out.append(f"{column}<{ref.quantile(LOW_QUANTILE):.6g}")
        else:
            out.append(f"{column}>{ref.quantile(HIGH_QUANTILE):.6g}")
    return out


def _store_labels(
    request_id: int, endpoint: str, examples: list[NewExample], store: Store
) -> DatasetVersionInfo:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "prediction_id": [e.prediction_id for e in examples],
            "time": [e.time for e in examples],
            "inputs": [json.dumps(e.inputs, separators=(",", ":")) for e in examples],
            "label": _uniform([e.label for e in examples]),
            "source": [e.source for e in examples],
        }
    )
    reviewers = sorted(
        {e.source.removeprefix("review:") for e in examples if e.source.startswith("review:")}
    )
    with tempfile.TemporaryDirectory(prefix="inprod-labels-") as tmp:
        file = Path(tmp) / "labels.parquet"
        frame.to_parquet(file, index=False)
        return datasets.add(
            f"{endpoint}-labels",
            file,
            label_columns=["label"],
            metadata_columns=["source"],
            source=f"predictions of endpoint {endpoint} labelled through feedback"
            + (f" and review ({', '.join(reviewers)})" if reviewers else ""),
            transform=f"retraining request {request_id}: {len(examples)} labelled prediction(s)",
            store=store,
        )


def _uniform(values: list[Any]) -> list[Any]:
    """Labels of one type (Parquet holds one type a column): mixed types become text."""
    present = {type(v) for v in values if not _missing(v)}
    if len(present) <= 1:
        return values
    return [None if _missing(v) else as_text(v) for v in values]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class _Shape:
    """How a logged instance becomes a row of a dataset version: an image of ``image_shape``
    (``scale``: the model took pixel / 255, so multiply back) or table ``columns``."""

    image_shape: tuple[int, ...] | None
    scale: bool
    columns: tuple[str, ...]

    @classmethod
    def of(cls, info: DatasetVersionInfo, signature: Signature) -> _Shape:
        if info.kind == "images":
            entry = next(c for c in info.schema["columns"] if c["name"] == info.image_column)
            channels = _CHANNELS.get(entry.get("mode"), -1)
            if not (entry.get("width") and entry.get("height")) or channels < 0:
                raise InvalidInput(
                    f"the images of {info.ref} differ in size or colour mode; retraining turns "
                    "logged inputs back into images of the reference's one shape",
                    field="data",
                )
            image_shape = (entry["height"], entry["width"], *((channels,) if channels else ()))
            dtype = None if signature.inputs is None else signature.inputs.dtype
            scale = dtype in (None, "object") or np.dtype(dtype).kind == "f"
            return cls(image_shape, scale, ())
        roles = {*info.label_columns, *info.metadata_columns, *EXTRA_COLUMNS}
        return cls(None, False, tuple(c for c in info.columns if c not in roles))

    def image(self, example: NewExample) -> np.ndarray:
        assert self.image_shape is not None
        pixels = np.asarray(example.inputs, dtype=np.float64)
        if pixels.size != math.prod(self.image_shape):
            raise InvalidInput(
                f"the logged inputs of prediction {example.prediction_id} have {pixels.size} "
                f"values; the reference's images have {math.prod(self.image_shape)} "
                f"({'x'.join(map(str, self.image_shape))})",
                field="inputs",
            )
        if self.scale:
            pixels = pixels * 255.0
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(self.image_shape)

    def fields(self, example: NewExample) -> dict[str, Any]:
        if isinstance(example.inputs, dict):
            return {k: v for k, v in example.inputs.items() if k in self.columns}
        values = list(np.ravel(example.inputs))
        if len(values) != len(self.columns):
            raise InvalidInput(
                f"the logged inputs of prediction {example.prediction_id} have {len(values)} "
                f"values; the reference has {len(self.columns)} feature columns",
                field="inputs",
            )
        return dict(zip(self.columns, values, strict=True))


def _derive(
    name: str,
    info: DatasetVersionInfo,
    frame: pd.DataFrame,
    examples: list[NewExample],
    shape: _Shape,
    *,
    parents: list[str],
    transform: str,
    store: Store,
    extra: Mapping[str, np.ndarray] | None = None,
) -> DatasetVersionInfo:
    """``frame`` (rows of ``info``) plus ``examples`` in its form, as the next version of
    ``name``; ``extra`` adds columns (values for the old rows, then the examples')."""
    import pandas as pd

    label = info.label_columns[0] if info.label_columns else "label"
    columns = {c: frame[c].tolist() for c in frame.columns}
    n = len(frame)
    columns.setdefault(ORIGIN, [REFERENCE] * n)
    for column in (PREDICTION_ID, FEEDBACK_SOURCE):
        columns.setdefault(column, [None] * n)
    images: dict[str, bytes] = {}
    for e in examples:
        row = {ORIGIN: PRODUCTION, PREDICTION_ID: e.prediction_id, FEEDBACK_SOURCE: e.source}
        row[label] = e.label
        if shape.image_shape is not None:
            path = f"{IMAGE_FOLDER}/{e.prediction_id}.png"
            images[path] = _png(shape.image(e))
            row[info.image_column or "image"] = path
        else:
            row.update(shape.fields(e))
        for column, values in columns.items():
            values.append(row.get(column))
    columns[label] = _uniform(columns[label])
    # built from lists, not concatenated: new rows lack the metadata, and pandas' dtype rules
    # for concatenating all-missing columns are changing
    combined = pd.DataFrame(columns)
    for column, values in (extra or {}).items():
        combined[column] = values
    metadata = list(dict.fromkeys([*info.metadata_columns, *EXTRA_COLUMNS, *(extra or {})]))
    return add_derived(
        name, combined, parents=parents, transform=transform, metadata_columns=metadata,
        label_columns=list(info.label_columns) or [label], new_images=images, store=store,
    )  # fmt: skip


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _monitored_columns(
    info: DatasetVersionInfo,
    frame: pd.DataFrame,
    held: list[NewExample],
    monitored: Sequence[str],
    serving: Serving,
    store: Store,
) -> dict[str, np.ndarray]:
    """``monitored.FEATURE`` for the evaluation rows: the feature as the endpoint's monitoring
    computes it from an instance (its features function, else the instance's own field), the
    old rows turned into instances the way the serving model takes them."""
    if not monitored:
        return {}
    from ..analysis.model_inputs import DatasetRows, model_batch

    images = datasets.load_images(info.ref, store=store) if info.kind == "images" else None
    rows = DatasetRows(info, frame, images)
    batch = model_batch(serving.signature, rows, features=None, model_ref=serving.ref)
    instances = _instances(batch) + [e.inputs for e in held]
    out = {}
    for feature in monitored:
        values = [_feature(instance, feature, serving.features) for instance in instances]
        if all(v is None for v in values):
            log.info("feature %s is not computed from the instances; no drift slice", feature)
            continue
        out[MONITORED + feature] = np.array([np.nan if v is None else v for v in values], float)
    return out


def _instances(batch: Any) -> list[Any]:
    if hasattr(batch, "to_dict"):
        return batch.to_dict("records")
    return [np.asarray(row).tolist() for row in batch]


def _feature(instance: Any, feature: str, fn: Callable[[Any], Any] | None) -> float | None:
    """The feature of one instance, or None; like monitoring, an instance the features function
    fails on has no value (it is in no drift slice) rather than stopping the run."""
    try:
        derived = fn(instance) if fn is not None else None
    except Exception:
        derived = None
    if isinstance(derived, dict) and feature in derived:
        value = derived[feature]
    elif isinstance(instance, dict) and feature in instance:
        value = instance[feature]
    else:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
