"""Models of every format behind one seam: ``Predictor.predict(batch) -> PredictionBatch``.

Serving, shadowing, batch scoring and evaluation call only this protocol, so a new format is one
new module here. ``predict`` is the hot path: it does no validation (``Signature.validate`` does
that once at the HTTP edge) and no I/O.

Flavors and their stored files:

============  =====================================  ======================================
flavor        files in the artifact tree             safe to load?
============  =====================================  ======================================
sklearn       ``model.skops``                        yes; untrusted types need ``trusted``
onnx          ``model.onnx``                         yes
python        ``callable.json`` ({"callable": ...})  runs code already installed here
pickle        ``model.pkl``                          only with ``allow_pickle=True``
mlflow        the whole MLflow model folder          by its inner flavor (above)
============  =====================================  ======================================
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InprodError, IntegrityFailure, InvalidInput, suggest
from ._files import FolderFiles as FolderFiles
from ._files import ModelFiles as ModelFiles
from ._files import StoredFiles as StoredFiles
from .signature import Signature as Signature

FLAVORS = ("sklearn", "onnx", "python", "pickle", "mlflow")
_MODULES = {
    "sklearn": ("inprod.flavors.sklearn", "load_skops"),
    "pickle": ("inprod.flavors.sklearn", "load_pickle"),
    "onnx": ("inprod.flavors.onnx", "load_onnx"),
    "python": ("inprod.flavors.python_callable", "load_callable"),
    "mlflow": ("inprod.flavors.mlflow", "load_mlflow"),
}


@dataclass(slots=True)
class PredictionBatch:
    """One result per instance; probabilities is N×K with columns in ``classes`` order."""

    outputs: Any
    probabilities: np.ndarray | None = None
    classes: list[Any] | None = None
    confidence: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.outputs)


@runtime_checkable
class Predictor(Protocol):
    """A loaded model: ``predict`` takes a 2-D array or a DataFrame (a batch, maybe of one)."""

    flavor: str
    signature: Signature

    def predict(self, instances: Any) -> PredictionBatch: ...


@dataclass(frozen=True)
class LoadOptions:
    """What the caller allowed, and which error a model/signature disagreement raises.

    ``mismatch`` is InvalidInput while registering (the caller's sample or signature is wrong)
    and IntegrityFailure when loading a stored version (the stored pair was checked once, so a
    disagreement now means the store changed under us).
    """

    trusted: tuple[str, ...] = ()
    allow_pickle: bool = False
    mismatch: type[InprodError] = IntegrityFailure


def check_flavor(flavor: str) -> str:
    if flavor not in FLAVORS:
        hint = suggest(flavor, FLAVORS, what="flavors")
        if not hint.startswith("did you mean"):
            hint = f"use one of {', '.join(FLAVORS)}"
        raise InvalidInput(f"unknown flavor {flavor!r}; {hint}", field="flavor")
    return flavor


def load_predictor(
    flavor: str,
    files: ModelFiles,
    *,
    options: Mapping[str, Any] | None = None,
    signature: Signature | None = None,
    trusted: Sequence[str] = (),
    allow_pickle: bool = False,
    mismatch: type[InprodError] = IntegrityFailure,
) -> Predictor:
    """Load a model's files as a Predictor and check them against ``signature``.

    ``options`` are the stored flavor options (``trusted`` types, ``callable``, ``allow_pickle``);
    ``trusted``/``allow_pickle`` add what this caller allows. Raises UnsafeContent for content
    nobody allowed, ``mismatch`` when model and signature disagree, InvalidInput for broken files.
    """
    module_name, attr = _MODULES[check_flavor(flavor)]
    options = dict(options or {})
    allowed = LoadOptions(
        trusted=tuple(sorted({*options.get("trusted", ()), *trusted})),
        allow_pickle=allow_pickle or bool(options.get("allow_pickle")),
        mismatch=mismatch,
    )
    loader = getattr(importlib.import_module(module_name), attr)
    return loader(files, options=options, signature=signature, allowed=allowed)


def batch_from(outputs: Any, probabilities: Any = None, classes: Any = None) -> PredictionBatch:
    """A PredictionBatch with confidence = the largest probability of each instance."""
    if probabilities is None:
        return PredictionBatch(outputs, None, None if classes is None else list(classes), None)
    proba = np.asarray(probabilities)
    return PredictionBatch(
        outputs, proba, None if classes is None else list(classes), proba.max(axis=1)
    )


def mismatch_error(allowed: LoadOptions, problem: str) -> InprodError:
    """The error for a model that does not take what its signature says, with the fix."""
    if issubclass(allowed.mismatch, IntegrityFailure):
        return allowed.mismatch(
            f"the stored model and its signature disagree: {problem}; the version is "
            "inconsistent — register the model again"
        )
    return allowed.mismatch(
        f"the model and the signature disagree: {problem}; give a sample (or signature) with "
        "the features the model was trained on",
        field="signature",
    )


__all__ = [
    "FLAVORS",
    "FolderFiles",
    "LoadOptions",
    "ModelFiles",
    "PredictionBatch",
    "Predictor",
    "Signature",
    "StoredFiles",
    "batch_from",
    "check_flavor",
    "load_predictor",
    "mismatch_error",
]
