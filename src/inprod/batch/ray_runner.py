"""The Ray engine for batch scoring: the same ``score_chunk`` over ``ray.data`` blocks.

Ray reads the file in parallel (``read_parquet``/``read_csv``) and runs ``score_chunk`` in its
worker processes, fused with the read tasks; the blocks come back here in file order
(``preserve_order``) and are written to the one output Parquet file by the caller, so both
engines give the same file. Workers do not need the store: the model's verified files travel
once through Ray's object store and each worker process loads the Predictor from them once.
The input path must be readable by the workers (a local path on a local Ray, a shared one on a
cluster).

Errors a user can fix (a bad value in a chunk, a model failing on some rows) come back from the
workers as an error row rather than an exception, so they keep their class and message; Ray's
own failures (an unreadable row while reading) become InvalidInput with Ray's reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Generator, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import errors
from ..errors import InprodError, InvalidInput
from ..flavors import Predictor, Signature, StoredFiles, load_predictor
from ..registry.models import ModelVersionInfo
from ..store import Store
from ._input import InputFile, first_line, ragged_line
from ._plan import ScoringPlan
from ._predict import score_chunk

__all__ = ["DEFAULT_RAY_CPUS", "connect", "require_ray", "score_with_ray"]

DEFAULT_RAY_CPUS = 2
_ERROR_COLUMN = "__inprod_error__"
_CACHED_MODELS = 4  # predictors one worker process keeps loaded
_predictors: dict[str, Predictor] = {}

logger = logging.getLogger(__name__)


def require_ray(what: str = "batch scoring on Ray") -> Any:
    """The ``ray`` module, or InvalidInput saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise InvalidInput(
            f"{what} needs the 'ray' package, which is not installed; install it "
            "with: pip install 'inprod[ray]'",
            field="ray",
        ) from None
    return ray


def score_with_ray(
    info: ModelVersionInfo,
    plan: ScoringPlan,
    source: InputFile,
    chunk_rows: int,
    *,
    address: str | None,
    num_cpus: int | None,
    store: Store,
) -> Generator[pa.Table, None, None]:
    """Output tables in input order, scored by Ray workers (local Ray started if needed)."""
    ray = require_ray()
    model = _model_payload(info, store)
    ours = connect(ray, address, num_cpus)
    try:
        with _ray_data_settings(ray) as data:
            dataset = _read(data, plan, source)
            scored = dataset.map_batches(
                _score_block,
                batch_size=chunk_rows,
                batch_format="pyarrow",
                fn_kwargs={"model": ray.put(model), "plan": plan},
            )
            try:
                for block in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
                    yield _checked(block)
            except ray.exceptions.RayError as exc:
                raise _ray_failure(exc, source) from None
    finally:
        if ours:  # stops the local Ray we started, or disconnects from the cluster
            ray.shutdown()


def _model_payload(info: ModelVersionInfo, store: Store) -> dict[str, Any]:
    """Everything a worker needs to load the Predictor, with the bytes verified here."""
    files = StoredFiles(store.artifacts, info.artifact_sha, where=f"model {info.ref}")
    return {
        "key": info.artifact_sha,
        "ref": info.ref,
        "flavor": info.flavor,
        "options": info.options,
        "signature": info.signature,
        "files": {name: files.read(name) for name in files.names()},
    }


def connect(
    ray: Any, address: str | None, num_cpus: int | None, *, option: str = "--ray-address"
) -> bool:
    """Reuse a running Ray, join the given cluster, or start a local one.

    True when this call connected (so the job disconnects, or stops the local Ray, at the end).
    """
    if ray.is_initialized():
        return False
    if address:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InvalidInput(
                f"cannot connect to the Ray cluster at {address!r}: {first_line(exc)}; check "
                f"{option} (e.g. ray://head:10001, or auto for the cluster on this machine)",
                field="ray_address",
            ) from None
        return True
    ray.init(
        num_cpus=num_cpus or DEFAULT_RAY_CPUS,
        include_dashboard=False,
        logging_level=logging.WARNING,
    )
    return True


@contextlib.contextmanager
def _ray_data_settings(ray: Any) -> Iterator[Any]:
    """Ray Data with blocks in file order and without its own progress bars and INFO logs."""
    with warnings.catch_warnings():
        # Ray's own DataContext() warns about its deprecated fields; not ours to fix
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.")
        context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    data_logger.setLevel(logging.WARNING)
    try:
        yield ray.data
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
        data_logger.setLevel(level)


def _read(data: Any, plan: ScoringPlan, source: InputFile) -> Any:
    path = str(source.path)
    if source.format == "parquet":
        return data.read_parquet(path).select_columns(plan.read_columns)
    import pyarrow.csv as pcsv

    return data.read_csv(
        path,
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types=plan.column_types(), include_columns=plan.read_columns
        ),
    )


def _score_block(block: pa.Table, *, model: Any, plan: ScoringPlan) -> pa.Table:
    """Runs in a Ray worker: score one block, or return the user error as a one-row table."""
    try:
        return score_chunk(_predictor(model), plan, block)
    except InprodError as exc:
        return pa.table({_ERROR_COLUMN: [json.dumps(exc.to_dict())]})


def _predictor(model: Any) -> Predictor:
    """This worker's Predictor for ``model`` (an object ref), loaded on first use."""
    import ray

    payload = ray.get(model) if isinstance(model, ray.ObjectRef) else model
    key = payload["key"]
    predictor = _predictors.get(key)
    if predictor is None:
        if len(_predictors) >= _CACHED_MODELS:
            _predictors.pop(next(iter(_predictors)))
        predictor = load_predictor(
            payload["flavor"],
            _MemoryFiles(payload["files"], where=f"model {payload['ref']}"),
            options=payload["options"],
            signature=Signature.from_dict(payload["signature"]),
        )
        _predictors[key] = predictor
    return predictor


class _MemoryFiles:
    """Model files held in memory (ModelFiles), already verified by the driver."""

    def __init__(self, files: dict[str, bytes], *, where: str) -> None:
        self.files = files
        self.where = where

    def names(self) -> list[str]:
        return sorted(self.files)

    def read(self, name: str) -> bytes:
        if name not in self.files:
            raise InvalidInput(f"{self.where} has no file {name!r}")
        return self.files[name]


def _checked(block: pa.Table) -> pa.Table:
    """The block, or the error a worker put in it (Ray may have merged it with other rows)."""
    if _ERROR_COLUMN not in block.column_names:
        return block
    reported = pc.drop_null(block.column(_ERROR_COLUMN))
    if len(reported):
        raise _error_from(reported[0].as_py())
    return block.drop_columns([_ERROR_COLUMN])


def _error_from(encoded: str) -> InprodError:
    """The worker's error again, as its own class from inprod.errors."""
    value = json.loads(encoded)
    cls = getattr(errors, str(value.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, InprodError)):
        cls = InprodError
    return cls(value.get("message") or "scoring failed on a Ray worker", field=value.get("field"))


def _ray_failure(exc: Exception, source: InputFile) -> InprodError:
    """Ray's exception (a traceback in a string) as one line a person can act on."""
    if source.format == "csv":
        where = ragged_line(source.path)
        if where:
            return InvalidInput(
                f"input {source.path}: {where}; fix that row (an unquoted comma or a missing "
                "value?) and run again",
                field="input",
            )
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Invalid)\b.*: ", line)]
    reason = reasons[-1] if reasons else (lines[0] if lines else type(exc).__name__)
    logger.debug("Ray failure", exc_info=exc)
    return InvalidInput(f"Ray could not score {source.path}: {reason}", field="input")
