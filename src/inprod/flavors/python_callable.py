"""A plain Python function as a model: ``module:function``, importable where the model is served.

For rules, heuristics and baselines that deserve the same rollout and monitoring as a trained
model. Nothing is serialized: the artifact is a small JSON file naming the function, so the code
that runs is the code installed where it is loaded (and that code's version is what changes it).

The function takes the batch (2-D array or DataFrame) and returns one output per instance, or a
dict ``{"outputs": ..., "probabilities": N×K, "classes": [...]}``.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidInput
from . import LoadOptions, ModelFiles, PredictionBatch, batch_from
from .signature import Signature

CALLABLE_FILE = "callable.json"
_REF_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class CallablePredictor:
    flavor = "python"

    def __init__(self, fn: Callable[[Any], Any], ref: str, *, signature: Signature) -> None:
        self.fn = fn
        self.callable_ref = ref
        self.signature = signature

    def predict(self, instances: Any) -> PredictionBatch:
        result = self.fn(instances)
        if isinstance(result, Mapping):
            if "outputs" not in result:
                raise InvalidInput(
                    f"{self.callable_ref} returned a dict without 'outputs'; return the outputs, "
                    "or {'outputs': ..., 'probabilities': ..., 'classes': ...}"
                )
            return batch_from(result["outputs"], result.get("probabilities"), result.get("classes"))
        return PredictionBatch(result)


def check_callable_ref(ref: str) -> str:
    if not isinstance(ref, str) or not _REF_RE.match(ref.strip()):
        raise InvalidInput(
            f"callable {ref!r} is not MODULE:FUNCTION, e.g. 'mypackage.rules:predict'",
            field="callable",
        )
    return ref.strip()


def import_callable(ref: str) -> Callable[[Any], Any]:
    """Import ``module:function``; refuse clearly when it is not there or not callable."""
    module_name, _, attr_path = check_callable_ref(ref).partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(
            f"callable {ref!r} cannot be imported: {exc}; install the package that defines it "
            "or put its folder on PYTHONPATH",
            field="callable",
        ) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidInput(
                f"callable {ref!r}: module {module_name!r} has no attribute {attr_path!r}",
                field="callable",
            ) from None
    if not callable(obj):
        raise InvalidInput(
            f"callable {ref!r} is a {type(obj).__name__}, not a function", field="callable"
        )
    return obj


def callable_ref_of(fn: Any) -> str:
    """``module:qualname`` of a function object, if it can be imported again by that name."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise InvalidInput(
            f"{fn!r} cannot be found again by name; define it at the top level of an importable "
            "module and register it as 'module:function'",
            field="callable",
        )
    ref = f"{module}:{qualname}"
    if import_callable(ref) is not fn:
        raise InvalidInput(f"importing {ref!r} gives another object than {fn!r}", field="callable")
    return ref


def callable_file(ref: str) -> bytes:
    return json.dumps({"callable": check_callable_ref(ref)}, sort_keys=True).encode()


def load_callable(
    files: ModelFiles,
    *,
    options: Mapping[str, Any],
    signature: Signature | None,
    allowed: LoadOptions,
) -> CallablePredictor:
    try:
        ref = json.loads(files.read(CALLABLE_FILE))["callable"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{files.where}: {CALLABLE_FILE} does not name a callable") from None
    return CallablePredictor(import_callable(ref), ref, signature=signature or Signature())
