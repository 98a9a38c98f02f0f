"""A registered model's answers on a dataset version: what the evaluation gate compares and what
serves as a previous model's baseline column.

What the model is given, from its signature:

* **table datasets** — a columns signature takes its columns by name (other columns, labels and
  metadata are not given); a tensor signature takes the columns that are neither label nor
  metadata, in the file's order, as one array of the signature's dtype;
* **image datasets** — the images (``datasets.load_images``: uint8, N×H×W or N×H×W×C, in
  manifest order) shaped to the signature's tensor: a float dtype gets ``pixel / 255`` (values
  in [0, 1], as ``inprod.quickstart.phone_data.features`` trains on), an integer dtype the raw
  0–255 values; then reshaped to the signature's shape (``[-1, 1024]`` flattens 32×32 images,
  ``[-1, 32, 32, 1]`` adds a channel). A model with unknown inputs gets float32 ``pixel / 255``
  flattened to one row per image.

Anything else (normalisation with a mean, resizing, features computed from the manifest) is
a ``features`` function, ``module:function`` or a callable: it receives the images array for
an image dataset or the DataFrame for a table dataset and returns the model's batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data._progress import ProgressFn, report
from ..errors import InprodError, InvalidInput
from ..flavors import Signature
from ..store import Store, get_store

if TYPE_CHECKING:
    import pandas as pd

    from ..data.versions import DatasetVersionInfo

__all__ = ["DEFAULT_CHUNK_ROWS", "DatasetRows", "FeaturesFn", "load_rows", "predict_dataset"]

DEFAULT_CHUNK_ROWS = 10_000
PREDICT_STAGE = "predicting"
FeaturesFn = Callable[[Any], Any]


@dataclass(frozen=True)
class DatasetRows:
    """A dataset version's rows (the table, or an image dataset's manifest) and its images."""

    info: DatasetVersionInfo
    frame: pd.DataFrame
    images: np.ndarray | None


def load_rows(ref: str, *, store: Store | None = None) -> DatasetRows:
    """Read a dataset version once, for several models to predict on."""
    from ..data import datasets

    store = get_store(store)
    info = datasets.get(ref, store=store)
    frame = datasets.load(info.ref, store=store)
    images = datasets.load_images(info.ref, store=store) if info.kind == "images" else None
    return DatasetRows(info, frame, images)


def predict_dataset(
    model_ref: str,
    rows: DatasetRows,
    *,
    features: str | FeaturesFn | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: ProgressFn | None = None,
    store: Store | None = None,
) -> np.ndarray:
    """The model's answer for every row of ``rows``, one per row, in row order.

    Raises InvalidInput when the dataset does not fit the model's signature (naming what to
    give instead) or when the model fails on it.
    """
    from ..registry import models

    store = get_store(store)
    predictor = models.load(model_ref, store=store)
    info = models.get(model_ref, store=store)
    signature = Signature.from_dict(info.signature)
    batch = model_batch(signature, rows, features=features, model_ref=info.ref)
    n = len(rows.frame)
    stage = f"{PREDICT_STAGE} {info.ref}"
    report(progress, stage, 0, n)
    answers = []
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        part = batch.iloc[start:stop] if hasattr(batch, "iloc") else batch[start:stop]
        try:
            result = predictor.predict(part)
        except InprodError:
            raise
        except Exception as exc:
            raise InvalidInput(
                f"model {info.ref} failed on rows {start + 1}-{stop} of {rows.info.ref}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        answers.append(_one_per_row(result.outputs, stop - start, info.ref))
        report(progress, stage, stop, n)
    return np.concatenate(answers) if answers else np.empty(0, dtype=object)


def model_batch(
    signature: Signature,
    rows: DatasetRows,
    *,
    features: str | FeaturesFn | None,
    model_ref: str,
) -> Any:
    """The whole dataset as the model's input batch, validated against its signature."""
    if features is not None:
        batch = _call_features(features, rows)
    elif rows.images is not None:
        batch = _image_batch(signature, rows.images, rows.info.ref, model_ref)
    else:
        batch = _table_batch(signature, rows, model_ref)
    try:
        return signature.validate(batch)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{rows.info.ref} does not fit model {model_ref}: {exc.message}; give a features "
            "function (--features module:function) that builds the model's input",
            field=exc.field,
        ) from None


def _call_features(features: str | FeaturesFn, rows: DatasetRows) -> Any:
    if isinstance(features, str):
        from ..flavors.python_callable import import_callable

        fn = import_callable(features)
    else:
        fn = features
    name = features if isinstance(features, str) else getattr(fn, "__name__", repr(fn))
    given = rows.images if rows.images is not None else rows.frame
    try:
        batch = fn(given)
    except InprodError:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"features function {name!r} failed on {rows.info.ref}: {type(exc).__name__}: {exc}",
            field="features",
        ) from None
    if len(batch) != len(rows.frame):
        raise InvalidInput(
            f"features function {name!r} returned {len(batch)} rows for the {len(rows.frame)} "
            f"of {rows.info.ref}; return one row per example, in order",
            field="features",
        )
    return batch


def _image_batch(signature: Signature, images: np.ndarray, data_ref: str, model_ref: str) -> Any:
    schema = signature.inputs
    if schema is None:
        return images.reshape(len(images), -1).astype(np.float32) / 255.0
    if schema.kind == "columns":
        raise InvalidInput(
            f"model {model_ref} takes named columns ({', '.join(schema.names[:6])}), not "
            f"images; give a features function (--features module:function) that turns the "
            f"images of {data_ref} into those columns",
            field="features",
        )
    dtype = np.dtype(schema.dtype) if schema.dtype not in (None, "object") else np.float32
    pixels = images.astype(dtype)
    if dtype.kind == "f":
        pixels /= 255.0
    per_image = int(math.prod(images.shape[1:]))
    shape = [len(images), *(d if d >= 0 else -1 for d in schema.shape[1:])]
    known = math.prod(d for d in shape[1:] if d != -1)
    unknown = shape[1:].count(-1)
    fits = per_image == known if unknown == 0 else (unknown == 1 and per_image % known == 0)
    if not fits:
        raise InvalidInput(
            f"the images of {data_ref} are {'x'.join(map(str, images.shape[1:]))} "
            f"({per_image} values each) but model {model_ref} takes {schema.describe()}; give "
            "a features function (--features module:function) that resizes or converts them",
            field="features",
        )
    return pixels.reshape(shape)


def _table_batch(signature: Signature, rows: DatasetRows, model_ref: str) -> Any:
    schema = signature.inputs
    frame = rows.frame
    if schema is not None and schema.kind == "columns":
        missing = [c for c in schema.names if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"{rows.info.ref} lacks column(s) {', '.join(map(repr, missing))} that model "
                f"{model_ref} takes; evaluate on a dataset with them, or give a features "
                "function (--features module:function)",
                field=missing[0],
            )
        return frame[schema.names]
    roles = {*rows.info.label_columns, *rows.info.metadata_columns}
    columns = [c for c in frame.columns if c not in roles]
    if schema is None:
        return frame[columns]
    dtype = schema.dtype if schema.dtype not in (None, "object") else None
    return frame[columns].to_numpy(dtype=dtype)


def _one_per_row(outputs: Any, n: int, model_ref: str) -> np.ndarray:
    values = np.asarray(outputs)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != n:
        raise InvalidInput(
            f"model {model_ref} returned outputs of shape {list(values.shape)} for {n} rows; "
            "error analysis and evaluation need one class label per row"
        )
    return values
