"""scikit-learn models: saved with skops (safe), or as pickles when the user allows it.

Why skops: a pickle runs whatever code it names when loaded; a skops file lists the types it
builds, and ``skops.io.get_untrusted_types`` tells us which ones are not known-safe before any
of them is created. Those are refused unless the user trusted them by name; the names they
trusted at registration are stored in the version's options and reused at load.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInput, UnsafeContent
from . import LoadOptions, ModelFiles, PredictionBatch, mismatch_error
from .signature import Signature

SKOPS_FILE = "model.skops"
PICKLE_FILES = ("model.pkl", "model.joblib")


class EstimatorPredictor:
    """Anything with scikit-learn's ``predict`` (and maybe ``predict_proba``/``classes_``)."""

    def __init__(
        self,
        model: Any,
        *,
        flavor: str,
        signature: Signature,
        untrusted_types: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.flavor = flavor
        self.signature = signature
        self.untrusted_types = tuple(untrusted_types)  # the types a user had to trust
        self._predict = model.predict
        self._proba = getattr(model, "predict_proba", None)
        classes = getattr(model, "classes_", None)
        self.classes = None if classes is None else [_plain(c) for c in classes]
        if self.classes is None:
            self._proba = None
        names = getattr(model, "feature_names_in_", None)
        self._feature_names = None if names is None else [str(n) for n in names]
        # fitted on an array: give it arrays (sklearn warns on every DataFrame call otherwise);
        # a model that says neither is given the batch untouched
        self._wants_array = names is None and hasattr(model, "n_features_in_")
        # where predict() is by definition the most probable class, one call gives both: half
        # the model time per request (benchmarks/rollout/README.md)
        self._classes_array = (
            classes if self._proba is not None and _argmax_predicts(model) else None
        )

    def predict(self, instances: Any) -> PredictionBatch:
        instances = self._conform(instances)
        if self._classes_array is not None:
            proba = self._proba(instances)
            outputs = self._classes_array.take(proba.argmax(axis=1))
            return PredictionBatch(outputs, proba, self.classes, proba.max(axis=1))
        outputs = self._predict(instances)
        if self._proba is None:
            return PredictionBatch(outputs)
        proba = self._proba(instances)
        return PredictionBatch(outputs, proba, self.classes, proba.max(axis=1))

    def _conform(self, instances: Any) -> Any:
        """Give the model the container it was fitted on, so sklearn does not warn per call."""
        has_columns = hasattr(instances, "columns")
        if self._feature_names is None:
            return instances.to_numpy() if has_columns and self._wants_array else instances
        if has_columns:
            return instances
        import pandas as pd

        return pd.DataFrame(instances, columns=self._feature_names)


# classifiers whose predict() is classes_[argmax(predict_proba())], ties included
_ARGMAX_CLASSIFIERS = frozenset(
    {
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    }
)


def _argmax_predicts(model: Any) -> bool:
    final = model.steps[-1][1] if hasattr(model, "steps") else model  # a Pipeline's classifier
    kind = type(final)
    return f"{kind.__module__}.{kind.__qualname__}" in _ARGMAX_CLASSIFIERS


def check_estimator(model: Any, signature: Signature | None, allowed: LoadOptions) -> None:
    """Compare ``n_features_in_``/``feature_names_in_`` with the signature's inputs."""
    inputs = signature.inputs if signature is not None else None
    if inputs is None:
        return
    names = getattr(model, "feature_names_in_", None)
    n_features = getattr(model, "n_features_in_", None)
    if names is not None:
        names = [str(n) for n in names]
        if inputs.kind != "columns":
            raise mismatch_error(
                allowed,
                f"the model was fitted on a DataFrame with columns {names} but the signature "
                f"is a {inputs.describe()} — use a DataFrame sample",
            )
        if inputs.names != names:
            raise mismatch_error(
                allowed,
                f"the signature has columns {inputs.names} but the model was fitted on "
                f"{names} (feature_names_in_)",
            )
        return
    width = inputs.width
    if n_features is not None and width is not None and width != int(n_features):
        raise mismatch_error(
            allowed,
            f"the signature has {width} input feature(s) but the model expects "
            f"{int(n_features)} (n_features_in_)",
        )


def signature_of(model: Any) -> Signature:
    """What the fitted model itself says it takes, when no sample is given."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        from .signature import Schema

        return Signature(inputs=Schema.of_columns([(str(n), None) for n in names]))
    n_features = getattr(model, "n_features_in_", None)
    if n_features is not None:
        from .signature import Schema

        return Signature(inputs=Schema.of_tensor(None, (-1, int(n_features))))
    return Signature()


def skops_model(data: bytes, allowed: LoadOptions, where: str) -> tuple[Any, list[str]]:
    """Load skops bytes, refusing types nobody trusted; returns the model and the types trusted."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise InvalidInput(f"{where} is not a readable skops file: {exc}") from None
    refused = [t for t in untrusted if t not in allowed.trusted]
    if refused:
        flags = " ".join(f"--trust {t}" for t in refused)
        raise UnsafeContent(
            f"{where} contains types skops does not trust: {', '.join(refused)}; loading them "
            f"would run their code. If you trust them, pass {flags} on the command line or "
            f"trusted={refused!r} in Python",
            field="trusted",
        )
    try:
        model = sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise InvalidInput(f"cannot load the skops file {where}: {exc}") from None
    return model, list(untrusted)


def require_pickle_allowed(name: str, allowed: LoadOptions, where: str) -> None:
    """Refuse before reading a byte of a pickle nobody allowed."""
    if not allowed.allow_pickle:
        raise UnsafeContent(
            f"{where} holds a pickle ({name}); unpickling runs any code the file contains, so it "
            "is refused by default. If you made this file or trust who did, pass --allow-pickle "
            "(allow_pickle=True in Python); better, save the model with skops (skops.io.dump)",
            field="allow_pickle",
        )


def unpickle(data: bytes, name: str, allowed: LoadOptions, where: str) -> Any:
    """Unpickle (or joblib-load) bytes, only when the caller allowed pickles."""
    require_pickle_allowed(name, allowed, where)
    try:
        if name.endswith(".joblib"):
            import joblib

            return joblib.load(io.BytesIO(data))
        return pickle.loads(data)
    except Exception as exc:
        raise InvalidInput(f"cannot unpickle {name} in {where}: {exc!r}") from None


def estimator_predictor(
    model: Any,
    *,
    flavor: str,
    signature: Signature | None,
    allowed: LoadOptions,
    where: str,
    untrusted_types: Sequence[str] = (),
) -> EstimatorPredictor:
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(
            f"{where} holds a {type(model).__name__}, which has no predict method; register a "
            "fitted estimator"
        )
    check_estimator(model, signature, allowed)
    return EstimatorPredictor(
        model,
        flavor=flavor,
        signature=signature if signature is not None else signature_of(model),
        untrusted_types=untrusted_types,
    )


def load_skops(
    files: ModelFiles,
    *,
    options: Mapping[str, Any],
    signature: Signature | None,
    allowed: LoadOptions,
) -> EstimatorPredictor:
    model, untrusted = skops_model(files.read(SKOPS_FILE), allowed, files.where)
    return estimator_predictor(
        model,
        flavor="sklearn",
        signature=signature,
        allowed=allowed,
        where=files.where,
        untrusted_types=untrusted,
    )


def load_pickle(
    files: ModelFiles,
    *,
    options: Mapping[str, Any],
    signature: Signature | None,
    allowed: LoadOptions,
) -> EstimatorPredictor:
    names = files.names()
    name = next((n for n in PICKLE_FILES if n in names), PICKLE_FILES[0])
    require_pickle_allowed(name, allowed, files.where)
    model = unpickle(files.read(name), name, allowed, files.where)
    return estimator_predictor(
        model, flavor="pickle", signature=signature, allowed=allowed, where=files.where
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
