"""Pipelines: ordered stages whose predictions join by trace id, each stage monitored on its own.

A stage is an endpoint (``vad=vad-endpoint``: the server logs its predictions, with the trace id
of the ``X-Trace-Id`` or ``traceparent`` header) or a function that runs in the user's own
process (``post=py:mypackage.post:clean``), logged with :func:`log_stage`. A function stage's
predictions are stored under the endpoint name ``PIPELINE/STAGE`` (a name no endpoint can have,
since endpoint names hold no ``/``) with ``stage`` set, ``model_name`` the function and
``model_version`` 0, and are profiled per window like an endpoint's.

:func:`pipeline_view` puts, per time window, every stage's metrics from its window profiles
side by side with a join of a bounded sample of traces: how many reached each stage, how many
stopped after each one, and the end-to-end latency. That is how a change upstream (stage 1's
clips get shorter) shows next to the harm it does downstream (stage 2's confidence drops).
"""

from __future__ import annotations

import atexit
import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound, suggest
from ..projects import check_name
from ..provenance import current_user
from ..store import Store, get_store
from ..store._engine import json_dumps
from ..store.tables import AuditEvent, Endpoint, Pipeline, Prediction, utcnow
from ._pipeline_view import DEFAULT_MAX_TRACES as DEFAULT_MAX_TRACES
from ._pipeline_view import DEFAULT_STAGE_METRICS as DEFAULT_STAGE_METRICS
from ._pipeline_view import DEFAULT_WINDOW_S as DEFAULT_WINDOW_S
from ._pipeline_view import PipelineView as PipelineView
from ._pipeline_view import build_view
from ._pipeline_view import resolve_span as resolve_span

if TYPE_CHECKING:
    from ..predictions import PredictionRecord
    from ..serving.tap import PredictionLog

FUNCTION_PREFIX = "py:"
SUBJECT_PREFIX = "pipeline:"
DEFAULT_TRACE_LIMIT = 100
FUNCTION_VERSION = 0  # a function stage has no registered model version
_MAX_TRACE_ID = 64  # the predictions.trace_id column
_MAX_ENDPOINT = 200  # the predictions.endpoint and model_name columns
_STATUSES = ("ok", "error")


@dataclass(frozen=True)
class Stage:
    """One step: an ``endpoint`` served by inprod or a ``function`` ("module:function") logged
    with :func:`log_stage`; ``logged_as`` is the predictions' ``endpoint`` value."""

    name: str
    logged_as: str
    endpoint: str | None = None
    function: str | None = None

    def to_dict(self) -> dict[str, Any]:
        kind = {"endpoint": self.endpoint} if self.endpoint else {"function": self.function}
        return {"name": self.name, **kind, "logged_as": self.logged_as}


@dataclass(frozen=True)
class PipelineInfo:
    name: str
    stages: tuple[Stage, ...]
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise NotFound(
            f"pipeline {self.name!r} has no stage {name!r}; "
            f"{suggest(name, [s.name for s in self.stages], what='stages')}",
            field="stage",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stages": [s.to_dict() for s in self.stages],
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def parse_stage(spec: str) -> tuple[str, str]:
    """``"vad=vad-endpoint"`` -> ``("vad", "vad-endpoint")`` (the CLI's and the API's form)."""
    name, sep, target = str(spec).partition("=")
    if not sep or not name.strip() or not target.strip():
        raise InvalidInput(
            f"stage {spec!r} is not NAME=ENDPOINT or NAME=py:module:function, "
            "e.g. 'vad=vad-endpoint'",
            field="stage",
        )
    return name.strip(), target.strip()


def parse_stage_metrics(pairs: Sequence[str]) -> dict[str, list[str]]:
    """``["vad=output.value.mean", ...]`` -> ``{"vad": ["output.value.mean"], ...}``."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        stage, sep, metric = str(pair).partition("=")
        if not sep or not stage.strip() or not metric.strip():
            raise InvalidInput(
                f"metric choice {pair!r} is not STAGE=METRIC, e.g. vad=output.value.mean",
                field="metric",
            )
        out.setdefault(stage.strip(), []).append(metric.strip())
    return out


def create(
    name: str,
    stages: Sequence[tuple[str, str] | str],
    *,
    description: str = "",
    actor: str | None = None,
    store: Store | None = None,
) -> PipelineInfo:
    """Create a pipeline from ordered ``(stage, target)`` pairs (or ``"stage=target"`` strings);
    a target is an endpoint name or ``py:module:function``. The function is not imported here:
    it runs wherever the user's code calls :func:`log_stage`. Audited as ``pipeline.created``."""
    check_name(name, "pipeline")
    if isinstance(stages, str):
        stages = [stages]
    pairs = [parse_stage(s) if isinstance(s, str) else tuple(s) for s in stages]
    if not pairs:
        raise InvalidInput(
            f"pipeline {name!r} needs at least one stage, e.g. --stage vad=vad-endpoint",
            field="stage",
        )
    store = get_store(store)
    with store.session() as s:
        if s.scalar(select(Pipeline.id).where(Pipeline.name == name)) is not None:
            raise Conflict(
                f"pipeline {name!r} already exists; see it with 'inprod pipeline show {name}' "
                "or delete it first"
            )
        known = set(s.scalars(select(Endpoint.name)))
        checked = _check_stages(name, pairs, known)
        now = utcnow()
        row = Pipeline(
            name=name,
            stages=[_stored(st) for st in checked],
            description=description,
            created_by=actor or current_user(),
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.add(_audit("pipeline.created", name, actor, {"stages": row.stages}))
        s.flush()
        return _info(row)


def get(name: str, *, store: Store | None = None) -> PipelineInfo:
    with get_store(store).session(write=False) as s:
        return _info(_row(s, name))


def list_pipelines(*, store: Store | None = None) -> list[PipelineInfo]:
    with get_store(store).session(write=False) as s:
        return [_info(r) for r in s.scalars(select(Pipeline).order_by(Pipeline.name))]


def delete(name: str, *, actor: str | None = None, store: Store | None = None) -> None:
    """Delete the definition (audited); the stages' predictions and profiles stay."""
    with get_store(store).session() as s:
        row = _row(s, name)
        s.add(_audit("pipeline.deleted", name, actor, {"stages": row.stages}))
        s.delete(row)


def is_function_stage(s: Session, name: str) -> bool:
    """Whether ``name`` is where a function stage logs (``PIPELINE/STAGE``), so that monitors,
    which take an endpoint name, can watch a function stage too."""
    pipeline, sep, stage = name.partition("/")
    if not sep:
        return False
    stages = s.scalar(select(Pipeline.stages).where(Pipeline.name == pipeline)) or []
    return any(d.get("function") and d["name"] == stage for d in stages)


def _check_stages(pipeline: str, pairs: list[tuple[str, ...]], known: set[str]) -> list[Stage]:
    out: list[Stage] = []
    seen: dict[str, str] = {}
    for pair in pairs:
        if len(pair) != 2:
            raise InvalidInput(f"stage {pair!r} is not a (name, target) pair", field="stage")
        stage, target = (str(p).strip() for p in pair)
        check_name(stage, "stage")
        if any(st.name == stage for st in out):
            raise InvalidInput(
                f"stage name {stage!r} is used twice in pipeline {pipeline!r}; name each stage "
                "once",
                field="stage",
            )
        if target.startswith(FUNCTION_PREFIX):
            out.append(_function_stage(pipeline, stage, target[len(FUNCTION_PREFIX) :]))
            continue
        if target not in known:
            raise InvalidInput(
                f"stage {stage!r}: no endpoint {target!r}; "
                f"{suggest(target, known, what='endpoints')} (a function stage is "
                f"{stage}=py:module:function)",
                field="stage",
            )
        if target in seen:
            raise InvalidInput(
                f"endpoint {target!r} is both stage {seen[target]!r} and stage {stage!r}; a "
                "trace could not tell them apart, so give each stage its own endpoint",
                field="stage",
            )
        seen[target] = stage
        out.append(Stage(stage, target, endpoint=target))
    return out


def _function_stage(pipeline: str, stage: str, ref: str) -> Stage:
    from ..flavors.python_callable import check_callable_ref

    try:
        ref = check_callable_ref(ref)
    except InvalidInput as exc:
        raise InvalidInput(f"stage {stage!r}: {exc.message}", field="stage") from None
    logged_as = f"{pipeline}/{stage}"
    if len(ref) > _MAX_ENDPOINT:  # it is the predictions' model_name
        raise InvalidInput(
            f"stage {stage!r}: function {ref[:40]!r}... is longer than {_MAX_ENDPOINT} characters",
            field="stage",
        )
    if len(logged_as) > _MAX_ENDPOINT:
        raise InvalidInput(
            f"function stage {logged_as!r} is logged under 'PIPELINE/STAGE', which may have at "
            f"most {_MAX_ENDPOINT} characters; use shorter names",
            field="stage",
        )
    return Stage(stage, logged_as, function=ref)


def _stored(stage: Stage) -> dict[str, str]:
    target = {"endpoint": stage.endpoint} if stage.endpoint else {"function": stage.function}
    return {"name": stage.name, **target}  # type: ignore[dict-item]


def _info(row: Pipeline) -> PipelineInfo:
    stages = tuple(
        Stage(d["name"], d["endpoint"], endpoint=d["endpoint"])
        if d.get("endpoint")
        else Stage(d["name"], f"{row.name}/{d['name']}", function=d["function"])
        for d in row.stages
    )
    return PipelineInfo(
        row.name, stages, row.description, row.created_by, row.created_at, row.updated_at
    )


def _row(s: Any, name: str) -> Pipeline:
    row = s.scalar(select(Pipeline).where(Pipeline.name == name))
    if row is None:
        known = s.scalars(select(Pipeline.name)).all()
        raise NotFound(f"no pipeline {name!r}; {suggest(name, known, what='pipelines')}")
    return row


def _audit(kind: str, name: str, actor: str | None, details: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        actor=actor or current_user(), kind=kind, subject=SUBJECT_PREFIX + name, details=details
    )


# -- function stages ---------------------------------------------------------------------------


def log_stage(
    pipeline: str,
    stage: str,
    *,
    trace_id: str,
    inputs: Any,
    outputs: Any,
    latency_ms: float,
    confidence: float | None = None,
    status: str = "ok",
    when: datetime | None = None,
    store: Store | None = None,
) -> str:
    """Log one instance of a function stage; returns its prediction id. Never waits on the store.

    ``inputs``: the instance (a dict of features, a list of numbers or one value), profiled like
    an endpoint's. ``outputs``: the stage's answer, a number or a label, or the server's form
    ``{"output": ..., "confidence": ...}`` (other keys are stored, not profiled). ``when``: when
    the stage finished (default now), so it started ``latency_ms`` earlier.

    Records go to a buffer that a background thread writes in batches, with window profiles
    (``INPROD_PROFILE_SECONDS``), exactly as the server logs; :func:`flush_stages` writes them
    at once, and so does the interpreter's exit. The first call for a stage checks the pipeline
    (NotFound) and that the stage is a function stage (InvalidInput).
    """
    store = get_store(store)
    target = _logged_stage(store, pipeline, stage)
    if not isinstance(trace_id, str) or not 0 < len(trace_id) <= _MAX_TRACE_ID:
        raise InvalidInput(
            f"trace_id {trace_id!r} must be a string of 1 to {_MAX_TRACE_ID} characters "
            "(the id the stages of one request share)",
            field="trace_id",
        )
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float):
        raise InvalidInput(f"latency_ms {latency_ms!r} must be a number", field="latency_ms")
    if not math.isfinite(latency_ms) or latency_ms < 0:
        raise InvalidInput(f"latency_ms {latency_ms!r} must be >= 0", field="latency_ms")
    if status not in _STATUSES:
        raise InvalidInput(f"status {status!r} is not one of ok, error", field="status")
    when = when or datetime.now(UTC)
    if when.tzinfo is None:
        raise InvalidInput(
            f"when {when!r} must be timezone-aware (datetime.now(UTC))", field="when"
        )
    row = outputs if isinstance(outputs, dict) and "output" in outputs else {"output": outputs}
    if confidence is not None:
        row = {**row, "confidence": confidence}
    if status != "ok":
        row = None
    try:  # here, not in the writer thread, where it would fail the whole batch
        json_dumps([inputs, row])
    except TypeError as exc:
        raise InvalidInput(
            f"inputs and outputs must be JSON values (numbers, strings, lists, dicts, numpy "
            f"arrays): {exc}",
            field="inputs",
        ) from None
    prediction_id = uuid.uuid4().hex
    _stage_log(store).record(
        (
            prediction_id, when, target.logged_as, target.function, FUNCTION_VERSION, "primary",
            stage, None, trace_id, inputs, row, None if row is None else row.get("confidence"),
            float(latency_ms), status, None, None,
        )
    )  # fmt: skip
    return prediction_id


def flush_stages(*, store: Store | None = None) -> None:
    """Write every function-stage prediction logged so far, and their open window profiles."""
    with _LOGS_LOCK:
        log = _LOGS.pop(get_store(store), None)
    if log is not None:
        log.close()


_LOGS: dict[Store, PredictionLog] = {}
_LOGS_LOCK = threading.Lock()
_STAGES: dict[tuple[str, str, str], Stage] = {}


def _logged_stage(store: Store, pipeline: str, stage: str) -> Stage:
    key = (store.url, pipeline, stage)
    found = _STAGES.get(key)
    if found is None:
        found = get(pipeline, store=store).stage(stage)
        if found.function is None:
            raise InvalidInput(
                f"stage {stage!r} of pipeline {pipeline!r} is endpoint {found.endpoint!r}, whose "
                "server logs its predictions; send the trace id in the X-Trace-Id header instead",
                field="stage",
            )
        _STAGES[key] = found
    return found


def _stage_log(store: Store) -> PredictionLog:
    """This process's writer for ``store``, started on first use (the server's own tap)."""
    with _LOGS_LOCK:
        log = _LOGS.get(store)
        if log is None:
            from ..config import load_settings
            from ..serving.tap import PredictionLog
            from .windows import WindowAggregator

            seconds = (store.settings or load_settings()).profile_seconds
            windows = WindowAggregator(window_s=seconds) if seconds > 0 else None
            log = _LOGS[store] = PredictionLog(store, windows=windows)
            log.start()
            if len(_LOGS) == 1:
                atexit.register(_flush_all)
        return log


def _flush_all() -> None:
    for store in list(_LOGS):
        flush_stages(store=store)


# -- one trace ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineTrace:
    """Each stage's predictions for one trace id, in stage order (empty: never reached)."""

    pipeline: str
    trace_id: str
    stages: dict[str, list[PredictionRecord]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "trace_id": self.trace_id,
            "stages": [
                {"stage": name, "predictions": [p.to_dict() for p in preds]}
                for name, preds in self.stages.items()
            ],
        }


def trace(
    pipeline: str, trace_id: str, *, limit: int = DEFAULT_TRACE_LIMIT, store: Store | None = None
) -> PipelineTrace:
    """Every stage's predictions (shadows included, marked by role) with ``trace_id``, oldest
    first, at most ``limit`` a stage; NotFound when no stage logged that trace."""
    from ..predictions import record_of

    store = get_store(store)
    info = get(pipeline, store=store)
    out: dict[str, list[PredictionRecord]] = {}
    with store.session(write=False) as s:
        for st in info.stages:
            query = (
                select(Prediction)
                .where(Prediction.trace_id == trace_id, Prediction.endpoint == st.logged_as)
                .order_by(Prediction.time, Prediction.id)
                .limit(limit)
            )
            out[st.name] = [record_of(p) for p in s.scalars(query)]
    if not any(out.values()):
        raise NotFound(
            f"no stage of pipeline {pipeline!r} logged trace {trace_id!r}; clients send it in "
            "the X-Trace-Id (or traceparent) header of every stage's request"
        )
    return PipelineTrace(pipeline, trace_id, out)


def pipeline_view(
    pipeline: str,
    *,
    since: datetime,
    until: datetime,
    window_s: int = DEFAULT_WINDOW_S,
    metrics: Mapping[str, Sequence[str]] | None = None,
    max_traces: int = DEFAULT_MAX_TRACES,
    store: Store | None = None,
) -> PipelineView:
    """Per window in [since, until): each stage's metrics and summary from its window profiles,
    next to a join of at most ``max_traces`` of the window's traces (see
    :mod:`._pipeline_view`). ``metrics``: stage -> metric names (software, input and output
    metrics of docs/monitoring.md); a stage not named gets :data:`DEFAULT_STAGE_METRICS`.

    ``window_s`` should be a multiple of the profiles' length (``INPROD_PROFILE_SECONDS``): a
    profile counts in the view window its start falls in. A trace belongs to the window in which
    the first stage logged it; a later stage joins when it logged the trace before the end of
    the following window. Windows without data are left out.
    """
    store = get_store(store)
    info = get(pipeline, store=store)
    for stage in metrics or {}:
        info.stage(stage)  # NotFound naming the stages
    return build_view(
        info.name, info.stages, since=since, until=until, window_s=window_s,
        metrics=metrics or {}, max_traces=max_traces, store=store,
    )  # fmt: skip
