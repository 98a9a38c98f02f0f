"""Turn what the user gave (a Python object, a file, a folder, a ``module:function``) into the
files a version will store, in a temporary folder, plus its flavor and loading options.

Nothing here touches the store: registration loads the staged files exactly as a later ``load``
would, and stores them only when that succeeded.
"""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from ..flavors import FolderFiles, check_flavor
from ..flavors.mlflow import MLMODEL
from ..flavors.onnx import ONNX_FILE
from ..flavors.python_callable import (
    CALLABLE_FILE,
    callable_file,
    callable_ref_of,
    check_callable_ref,
)
from ..flavors.sklearn import PICKLE_FILES, SKOPS_FILE

_SUFFIX_FLAVORS = {
    ".skops": "sklearn",
    ".onnx": "onnx",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "pickle",
}


@dataclass
class Staged:
    """Files ready to load and store: ``folder`` is stored whole as the version's tree."""

    flavor: str
    folder: Path
    files: FolderFiles
    options: dict[str, Any] = field(default_factory=dict)


def stage(
    model: Any,
    *,
    path: str | Path | None,
    flavor: str | None,
    callable_ref: str | None,
    allow_pickle: bool,
    tmp: Path,
) -> Staged:
    if flavor is not None:
        check_flavor(flavor)
    if model is not None and path is not None:
        raise InvalidInput("give the model object or path=, not both", field="path")
    if model is not None and flavor is None and callable_ref is None:
        flavor = _flavor_of_object(model)
    if callable_ref is not None or flavor == "python":
        return _stage_callable(model, callable_ref, path, tmp)
    if model is not None:
        return _stage_object(model, flavor, allow_pickle, tmp)
    if path is None:
        raise InvalidInput(
            "nothing to register: give a fitted model, path= (a .skops, .onnx or .pkl file, or "
            "an MLflow model folder) or callable_ref='module:function'",
            field="path",
        )
    return _stage_path(Path(path), flavor, tmp)


def flavor_of_path(path: Path) -> str:
    if path.is_dir():
        return "mlflow"
    found = _SUFFIX_FLAVORS.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(
            f"cannot tell the flavor of {path} from its suffix; name it .skops, .onnx or .pkl, "
            "or pass the flavor (--flavor sklearn|onnx|pickle|mlflow|python)",
            field="flavor",
        )
    return found


def _stage_path(path: Path, flavor: str | None, tmp: Path) -> Staged:
    if not path.exists():
        raise NotFound(f"model file not found: {path}", field="path")
    if path.is_symlink():
        raise InvalidInput(f"{path} is a symbolic link; give the file it points to", field="path")
    flavor = flavor or flavor_of_path(path)
    if flavor == "mlflow":
        if not path.is_dir():
            raise InvalidInput(
                f"{path} is a file; the mlflow flavor imports an MLflow model folder (the "
                f"folder holding {MLMODEL})",
                field="path",
            )
        return Staged("mlflow", path, FolderFiles.of_folder(path))
    if path.is_dir():
        hint = f"; it holds {MLMODEL}, so use --flavor mlflow" if (path / MLMODEL).exists() else ""
        raise InvalidInput(f"{path} is a folder; the {flavor} flavor takes one file{hint}")
    if flavor == "sklearn":
        name = SKOPS_FILE
    elif flavor == "onnx":
        name = ONNX_FILE
    else:  # pickle
        name = PICKLE_FILES[1] if path.suffix.lower() == ".joblib" else PICKLE_FILES[0]
    _link_or_copy(path, tmp / name)
    return Staged(flavor, tmp, FolderFiles({name: tmp / name}, where=str(path)))


def _stage_object(model: Any, flavor: str, allow_pickle: bool, tmp: Path) -> Staged:
    where = f"the {type(model).__name__} object"
    if flavor == "onnx":
        if not hasattr(model, "SerializeToString"):
            raise InvalidInput(f"the onnx flavor takes an onnx.ModelProto, not {where}")
        (tmp / ONNX_FILE).write_bytes(model.SerializeToString())
        return Staged("onnx", tmp, FolderFiles({ONNX_FILE: tmp / ONNX_FILE}, where=where))
    if flavor == "sklearn":
        import skops.io as sio

        try:
            sio.dump(model, tmp / SKOPS_FILE)
        except Exception as exc:
            raise InvalidInput(
                f"skops cannot save {where}: {exc}; pass flavor='pickle' with allow_pickle=True "
                "if you accept a pickle"
            ) from None
        return Staged("sklearn", tmp, FolderFiles({SKOPS_FILE: tmp / SKOPS_FILE}, where=where))
    if flavor == "pickle":
        if not allow_pickle:
            raise InvalidInput(
                "registering a model as a pickle needs allow_pickle=True: loading it will run "
                "any code it holds; prefer the sklearn flavor (skops)",
                field="allow_pickle",
            )
        name = PICKLE_FILES[0]
        (tmp / name).write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        return Staged("pickle", tmp, FolderFiles({name: tmp / name}, where=where))
    raise InvalidInput(
        f"the {flavor} flavor imports a folder; give path= to the MLflow model folder",
        field="flavor",
    )


def _stage_callable(model: Any, ref: str | None, path: Any, tmp: Path) -> Staged:
    if path is not None:
        raise InvalidInput(
            "a python callable model has no file; give callable_ref='module:function' "
            "(--callable on the command line) and no path",
            field="path",
        )
    if ref is not None and model is not None:
        raise InvalidInput("give callable_ref or a function object, not both", field="callable")
    if ref is None:
        if model is None:
            raise InvalidInput(
                "the python flavor needs callable_ref='module:function' (--callable)",
                field="callable",
            )
        ref = callable_ref_of(model)
    ref = check_callable_ref(ref)
    (tmp / CALLABLE_FILE).write_bytes(callable_file(ref))
    return Staged(
        "python",
        tmp,
        FolderFiles({CALLABLE_FILE: tmp / CALLABLE_FILE}, where=f"callable {ref!r}"),
        {"callable": ref},
    )


def _flavor_of_object(model: Any) -> str:
    if type(model).__module__.startswith("onnx") and hasattr(model, "SerializeToString"):
        return "onnx"
    if callable(getattr(model, "predict", None)):
        return "sklearn"
    if callable(model):
        return "python"
    raise InvalidInput(
        f"cannot tell how to save a {type(model).__name__}: it is not an estimator with "
        "predict, an onnx.ModelProto or a function; pass flavor= or a path",
        field="flavor",
    )


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise InvalidInput(f"cannot read {src}: {exc.strerror}", field="path") from exc
