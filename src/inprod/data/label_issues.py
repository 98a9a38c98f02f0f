"""Likely label errors, found with confident learning (cleanlab) on out-of-fold probabilities.

How: every labelled example gets class probabilities from a model that never saw it (k-fold
cross-validation: the model is refit k times on the other folds). cleanlab's
``find_label_issues`` estimates how often each class is mislabelled as each other class (the
confident joint) and flags the examples whose given label is most likely wrong; they are ranked
by label quality (self-confidence: the probability the model gives the given label; 0 = surely
wrong, 1 = surely right).

Which model makes the probabilities (exactly one):

- ``model="phone-inspector@champion"``: a registered scikit-learn model, cloned (same
  hyperparameters, unfitted) and refit on each fold; the registered version is not touched.
  Models that cannot be refit (ONNX, a function) are refused with a hint to use an estimator;
- ``estimator="logistic-regression" | "random-forest" | "gradient-boosting"``: a baseline with
  its own preprocessing (numbers imputed and scaled, text one-hot encoded), or any unfitted
  scikit-learn classifier object from Python;
- ``pred_probs``: out-of-fold probabilities computed elsewhere, one row per dataset row, columns
  in ``classes`` order.

Features: an image dataset's pixels scaled to [0, 1], one row per image (what the quickstart
model sees); a table's ``features`` when given, else the registered model's input columns when
it names them, else every column except the label and id columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInput, suggest
from ..store import Store, get_store
from ._annotations import example_ids, load_version, require_column
from ._progress import ProgressFn, report
from .agreement import label_keys, plain
from .versions import DatasetVersionInfo

ESTIMATORS = ("logistic-regression", "random-forest", "gradient-boosting")
DEFAULT_FOLDS = 5
REVIEW_REASON = "label_issue"
CV_STAGE = "cross-validating"
EXPORT_FORMATS = (".csv", ".parquet")


@dataclass(frozen=True)
class LabelIssue:
    """One example whose given label is likely wrong; ``confidence`` is the model's probability
    for ``suggested``."""

    example_id: str
    row: int
    given: Any
    suggested: Any
    quality: float
    confidence: float


@dataclass(frozen=True)
class LabelIssues:
    """The flagged examples of one dataset version, worst label quality first."""

    dataset: str
    label_column: str
    model: str  # what made the probabilities
    classes: list[Any]
    examples: int  # labelled examples examined
    issues: list[LabelIssue]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        columns = [f.name for f in LabelIssue.__dataclass_fields__.values()]
        return pd.DataFrame([asdict(i) for i in self.issues], columns=columns)

    def export(self, path: str | Path) -> Path:
        """Write the issues as CSV or Parquet (by the file's extension), for a labeling tool."""
        target = check_export_path(path)
        frame = self.to_frame()
        for column in ("given", "suggested"):  # mixed types do not fit one Parquet column
            frame[column] = frame[column].map(str)
        if target.suffix.lower() == ".csv":
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target, index=False)
        return target


def find_label_issues(
    dataset: str,
    *,
    model: str | None = None,
    estimator: str | Any | None = None,
    pred_probs: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    label_column: str | None = None,
    features: Sequence[str] | None = None,
    id_column: str | None = None,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    trusted: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
    store: Store | None = None,
) -> LabelIssues:
    """Rank ``dataset``'s likely mislabelled examples (see the module docs for the choices).

    Rows without a label are left out. Every class needs at least ``folds`` examples so that
    each fold's model sees it. ``progress(stage, done, total)`` is called after each fold.
    """
    chosen = [n for n, v in (("model", model), ("estimator", estimator),
                             ("pred_probs", pred_probs)) if v is not None]  # fmt: skip
    if len(chosen) != 1:
        raise InvalidInput(
            "give exactly one of model (a registered model, e.g. phone-inspector@champion), "
            f"estimator ({', '.join(ESTIMATORS)}) or pred_probs"
            + (f"; got {', '.join(chosen)}" if chosen else ""),
            field="model",
        )
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InvalidInput(f"folds {folds!r} must be a whole number of 2 or more", field="folds")
    store = get_store(store)
    info, frame = load_version(dataset, store)
    column = label_column or (info.label_columns[0] if info.label_columns else None)
    if column is None:
        raise InvalidInput(
            f"{info.ref} declares no label column; name it with --label-column",
            field="label_column",
        )
    require_column(frame, column, f"label column {column!r}", info.ref)
    _, ids = example_ids(info, frame, id_column, required=False)
    labelled = np.flatnonzero(frame[column].notna().to_numpy())
    codes, keys = pd.factorize(label_keys(frame[column].iloc[labelled]), sort=True)
    first = np.unique(codes, return_index=True)[1]
    values = [plain(v) for v in frame[column].iloc[labelled].iloc[first]]
    if pred_probs is not None:
        probs, values = _given_probs(pred_probs, classes, list(keys), values, len(frame))
        probs, described = probs[labelled], "given probabilities"
    else:
        _check_class_sizes(codes, list(keys), folds, info.ref)
        X, base, described = _setup(info, frame, column, model, estimator, features, seed,
                                    trusted, store)  # fmt: skip
        probs = _out_of_fold(base, _take(X, labelled), codes, folds, seed, progress)
        described = f"{described}, {folds}-fold out-of-fold probabilities"
    return LabelIssues(
        dataset=info.ref,
        label_column=column,
        model=described,
        classes=values,
        examples=len(labelled),
        issues=_rank(codes, probs, labelled, ids, values),
    )


def send_to_review(
    issues: LabelIssues, *, limit: int | None = None, store: Store | None = None
) -> int:
    """Queue the issues (the first ``limit``) for people to decide; returns how many were queued
    (an example already sent before is not sent again). Decisions come back as annotations with
    :func:`inprod.data.labels.from_review`."""
    from .labels import queue_for_review

    chosen = issues.issues if limit is None else issues.issues[:limit]
    items = [
        {"example_id": i.example_id, "row": i.row, "output": i.suggested, "given": i.given,
         "confidence": i.confidence, "quality": i.quality}
        for i in chosen
    ]  # fmt: skip
    return queue_for_review(issues.dataset, items, reason=REVIEW_REASON, store=store)


def check_export_path(path: str | Path) -> Path:
    """The export file, refused before any work when its type or folder is wrong."""
    target = Path(path)
    if target.suffix.lower() not in EXPORT_FORMATS:
        raise InvalidInput(
            f"cannot export to {target.name!r}; give a .csv or .parquet file", field="export"
        )
    if not target.parent.is_dir():
        raise InvalidInput(
            f"folder {target.parent} does not exist; create it or export elsewhere",
            field="export",
        )
    return target


# -- probabilities -----------------------------------------------------------------------------


def _setup(
    info: DatasetVersionInfo,
    frame: pd.DataFrame,
    label_column: str,
    model: str | None,
    estimator: str | Any | None,
    features: Sequence[str] | None,
    seed: int,
    trusted: Sequence[str] | None,
    store: Store,
) -> tuple[Any, Any, str]:
    """(features X, the unfitted estimator, how to describe it)."""
    from sklearn.base import clone

    if model is not None:
        from ..registry import models

        version = models.get(model, store=store)
        predictor = models.load(version.ref, trusted=trusted, store=store)
        fitted = getattr(predictor, "model", None)
        if fitted is None or not hasattr(fitted, "fit"):
            raise InvalidInput(
                f"model {version.ref} (flavor {version.flavor}) cannot be refit on folds; "
                f"use --estimator ({', '.join(ESTIMATORS)}) or register the "
                "scikit-learn model",
                field="model",
            )
        try:
            base = clone(fitted)
        except TypeError as exc:
            raise InvalidInput(f"model {version.ref} cannot be cloned: {exc}") from None
        names = getattr(fitted, "feature_names_in_", None)
        wanted = features or ([str(n) for n in names] if names is not None else None)
        X = _features(info, frame, label_column, wanted, store)
        width = getattr(fitted, "n_features_in_", None)
        if names is None and width is not None and X.shape[1] != int(width):
            raise InvalidInput(
                f"model {version.ref} takes {int(width)} features but {info.ref} gives "
                f"{X.shape[1]}; name the feature columns with --features",
                field="features",
            )
        return X, base, f"{version.ref} refit"
    X = _features(info, frame, label_column, features, store)
    if isinstance(estimator, str):
        return X, _builtin(estimator, X, seed), estimator
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict_proba"):
        raise InvalidInput(
            "estimator must be a scikit-learn classifier with fit and predict_proba, or one "
            f"of {', '.join(ESTIMATORS)}",
            field="estimator",
        )
    return X, clone(estimator), type(estimator).__name__


def _features(
    info: DatasetVersionInfo,
    frame: pd.DataFrame,
    label_column: str,
    wanted: Sequence[str] | None,
    store: Store,
) -> Any:
    if info.kind == "images" and not wanted:
        from . import datasets

        pixels = datasets.load_images(info.ref, store=store)
        return pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0
    if wanted:
        for column in wanted:
            require_column(frame, column, f"feature {column!r}", info.ref)
        return frame[list(wanted)]
    skip = {*info.label_columns, label_column, info.image_column, "id"}
    columns = [c for c in frame.columns if c not in skip]
    if not columns:
        raise InvalidInput(
            f"{info.ref} has no feature columns besides its labels; name them with --features",
            field="features",
        )
    return frame[columns]


def _builtin(name: str, X: Any, seed: int) -> Any:
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if name not in ESTIMATORS:
        raise InvalidInput(
            f"unknown estimator {name!r}; {suggest(name, ESTIMATORS, what='estimators')}",
            field="estimator",
        )
    classifier = {
        "logistic-regression": lambda: LogisticRegression(max_iter=2000),
        "random-forest": lambda: RandomForestClassifier(n_estimators=200, random_state=seed),
        "gradient-boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
    }[name]()
    if not isinstance(X, pd.DataFrame):
        return make_pipeline(StandardScaler(), classifier)
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    words = make_pipeline(SimpleImputer(strategy="most_frequent"),
                          OneHotEncoder(handle_unknown="ignore"))  # fmt: skip
    prepare = ColumnTransformer([
        ("numbers", numbers, make_column_selector(dtype_include="number")),
        ("words", words, make_column_selector(dtype_exclude="number")),
    ])  # fmt: skip
    return make_pipeline(prepare, classifier)


def _out_of_fold(
    base: Any, X: Any, y: np.ndarray, folds: int, seed: int, progress: ProgressFn | None
) -> np.ndarray:
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    if isinstance(X, pd.DataFrame):  # booleans as numbers, so they are scaled, not one-hot
        X = X.astype({c: "int64" for c in X.columns if pd.api.types.is_bool_dtype(X[c])})
    k = int(y.max()) + 1
    probs = np.zeros((len(y), k))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    report(progress, CV_STAGE, 0, folds)
    for done, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        fitted = clone(base).fit(_take(X, train), y[train])
        probs[np.ix_(test, np.asarray(fitted.classes_, dtype=np.int64))] = fitted.predict_proba(
            _take(X, test)
        )
        report(progress, CV_STAGE, done, folds)
    return probs


def _given_probs(
    pred_probs: Any, classes: Sequence[Any] | None, keys: list[str], values: list[Any], rows: int
) -> tuple[np.ndarray, list[Any]]:
    """Check outside probabilities; their columns are reordered to the labels' class order."""
    probs = np.asarray(pred_probs, dtype=float)
    order = list(keys) if classes is None else list(label_keys(pd.Series(list(classes))))
    if probs.ndim != 2 or probs.shape != (rows, len(order)):
        raise InvalidInput(
            f"pred_probs must have one row per dataset row and one column per class: "
            f"({rows}, {len(order)}), not {probs.shape}",
            field="pred_probs",
        )
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise InvalidInput("pred_probs must be finite and not negative", field="pred_probs")
    missing = [k for k in keys if k not in order]
    if missing:
        raise InvalidInput(
            f"label(s) {', '.join(map(repr, missing))} are not among the classes of pred_probs "
            f"({', '.join(order)}); give classes= in the column order",
            field="classes",
        )
    if len(order) != len(keys):
        raise InvalidInput(
            f"pred_probs has {len(order)} classes but the labels use {len(keys)}; drop the "
            "columns of classes no example has",
            field="classes",
        )
    return probs[:, [order.index(k) for k in keys]], values


def _check_class_sizes(codes: np.ndarray, keys: list[str], folds: int, ref: str) -> None:
    counts = np.bincount(codes, minlength=len(keys))
    if len(keys) < 2:
        raise InvalidInput(f"{ref} has only one class ({keys}); there is nothing to confuse")
    small = [(k, int(c)) for k, c in zip(keys, counts, strict=True) if c < folds]
    if small:
        shown = ", ".join(f"{k!r} ({c})" for k, c in small)
        raise InvalidInput(
            f"class(es) {shown} of {ref} have fewer examples than the {folds} folds; lower "
            "--folds or merge rare classes with a taxonomy",
            field="folds",
        )


def _rank(
    codes: np.ndarray, probs: np.ndarray, rows: np.ndarray, ids: list[str], classes: list[Any]
) -> list[LabelIssue]:
    from cleanlab.filter import find_label_issues as flag
    from cleanlab.rank import get_label_quality_scores

    probs = probs / probs.sum(axis=1, keepdims=True)
    flagged = np.flatnonzero(flag(labels=codes, pred_probs=probs))
    quality = get_label_quality_scores(codes, probs)
    flagged = flagged[np.argsort(quality[flagged], kind="stable")]
    best = probs.argmax(axis=1)
    return [
        LabelIssue(
            example_id=ids[int(rows[i])],
            row=int(rows[i]),
            given=classes[int(codes[i])],
            suggested=classes[int(best[i])],
            quality=float(quality[i]),
            confidence=float(probs[i, best[i]]),
        )
        for i in flagged
    ]


def _take(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if isinstance(X, pd.DataFrame) else X[index]
