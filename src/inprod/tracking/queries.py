"""Reading runs back: one run by id or unique prefix, the newest runs, a metric's history.

Listing reads only the ``runs`` rows (newest first through the ``start_time`` index) plus one
query each for the slices, datasets and artifacts of the runs on the page; metric points are
never scanned — each run row keeps the latest value of every metric.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound, suggest
from ..store import Store, get_store
from ..store.tables import Dataset, DatasetVersion, Run, RunArtifact, RunDataset, RunMetric
from ..store.tables import RunSliceMetric as Slice
from . import _open_runs
from ._checks import STATUSES, check_status

DEFAULT_LIST_LIMIT = 50
RUN_ID_LEN = 32
_HEX = frozenset(string.hexdigits.lower())
_RUNS = Run.__table__


class HasId(Protocol):
    @property
    def id(self) -> str: ...


RunRef = str | HasId


class MetricPoint(NamedTuple):
    step: int
    value: float
    time: datetime


@dataclass(frozen=True)
class RunInfo:
    """A run as stored; ``to_dict`` gives the JSON the CLI prints with ``--json``."""

    id: str
    project: str
    name: str
    status: str
    start_time: datetime
    end_time: datetime | None
    duration_s: float | None
    code_sha: str | None
    code_dirty: bool | None
    environment: dict[str, Any]
    params: dict[str, Any]
    tags: dict[str, str]
    latest_metrics: dict[str, float]
    slice_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["start_time"] = self.start_time.isoformat()
        out["end_time"] = self.end_time.isoformat() if self.end_time else None
        return out


def get_run(run: RunRef, *, store: Store | None = None) -> RunInfo:
    """One run by full id or unique prefix (e.g. the 8 characters ``inprod runs list`` shows).

    Raises NotFound for an unknown id and InvalidInput (listing the matches) for a prefix that
    matches several runs.
    """
    store = get_store(store)
    run_id = _resolve(store, run)
    with store.session(write=False) as s:
        return _infos(s, s.execute(select(_RUNS).where(_RUNS.c.id == run_id)).all())[0]


def list_runs(
    project: str | None = None,
    *,
    status: str | None = None,
    limit: int = DEFAULT_LIST_LIMIT,
    store: Store | None = None,
) -> list[RunInfo]:
    """The newest runs first, optionally of one project and/or with one status."""
    if status is not None:
        check_status(status, STATUSES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit {limit!r} must be a whole number >= 1", field="limit")
    query = select(_RUNS).order_by(_RUNS.c.start_time.desc()).limit(limit)
    if project is not None:
        query = query.where(_RUNS.c.project == project)
    if status is not None:
        query = query.where(_RUNS.c.status == status)
    with get_store(store).session(write=False) as s:
        return _infos(s, s.execute(query).all())


def metric_history(run: RunRef, key: str, *, store: Store | None = None) -> list[MetricPoint]:
    """Every point of one metric of one run, in step order: ``[(step, value, time), ...]``."""
    store = get_store(store)
    run_id = _resolve(store, run)
    with store.session(write=False) as s:
        points = s.execute(
            select(RunMetric.step, RunMetric.value, RunMetric.time)
            .where(RunMetric.run_id == run_id, RunMetric.key == key)
            .order_by(RunMetric.step, RunMetric.time, RunMetric.id)
        ).all()
        if not points:
            latest = s.scalar(select(Run.latest_metrics).where(Run.id == run_id)) or {}
            raise NotFound(
                f"run {run_id[:8]} has no metric {key!r}; {suggest(key, latest, what='metrics')}"
            )
    return [MetricPoint(int(p.step), float(p.value), p.time) for p in points]


def _resolve(store: Store, run: RunRef) -> str:
    """The full id of ``run``, after writing any points this process still buffers for it."""
    with store.session(write=False) as s:
        run_id = resolve_run_id(s, run)
    _open_runs.flush_if_open(run_id)
    return run_id


def resolve_run_id(s: Session, run: RunRef) -> str:
    text = run if isinstance(run, str) else getattr(run, "id", None)
    if not isinstance(text, str):
        raise InvalidInput(
            f"{run!r} is not a run id; give the id (or its first characters) as a string",
            field="run",
        )
    prefix = text.strip().lower()
    hint = "see the ids with 'inprod runs list'"
    if not prefix or len(prefix) > RUN_ID_LEN or not set(prefix) <= _HEX:
        raise NotFound(f"no run {text!r}: run ids are 32 hex characters; {hint}")
    if len(prefix) == RUN_ID_LEN:
        found = s.scalars(select(Run.id).where(Run.id == prefix)).all()
    else:
        found = s.scalars(
            select(Run.id).where(Run.id.like(prefix + "%")).order_by(Run.id).limit(11)
        ).all()
    if not found:
        raise NotFound(f"no run with id {text!r}; {hint}")
    if len(found) > 1:
        shown = ", ".join(found[:10]) + (" ..." if len(found) > 10 else "")
        raise InvalidInput(
            f"run id prefix {text!r} matches {'more than 10' if len(found) > 10 else len(found)} "
            f"runs: {shown}; give more characters",
            field="run",
        )
    return found[0]


def _infos(s: Session, rows: Iterable[Row[Any]]) -> list[RunInfo]:
    rows = list(rows)
    ids = [r.id for r in rows]
    slices: dict[str, dict[str, dict[str, float]]] = {i: {} for i in ids}
    datasets: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    artifacts: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for m in s.execute(
            select(Slice.run_id, Slice.slice, Slice.key, Slice.value)
            .where(Slice.run_id.in_(ids))
            .order_by(Slice.slice, Slice.key)
        ):
            slices[m.run_id].setdefault(m.slice, {})[m.key] = m.value
        for d in s.execute(
            select(RunDataset.run_id, RunDataset.role, DatasetVersion.id, DatasetVersion.version)
            .add_columns(Dataset.name)
            .join(DatasetVersion, DatasetVersion.id == RunDataset.dataset_version_id)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(RunDataset.run_id.in_(ids))
            .order_by(RunDataset.role, Dataset.name, DatasetVersion.version)
        ):
            datasets[d.run_id].append({"ref": f"{d.name}@{d.version}", "id": d.id, "role": d.role})
        for a in s.execute(
            select(RunArtifact).where(RunArtifact.run_id.in_(ids)).order_by(RunArtifact.path)
        ).scalars():
            artifacts[a.run_id].append(
                {"path": a.path, "sha256": a.sha256, "size_bytes": a.size_bytes}
            )
    return [
        RunInfo(
            id=r.id,
            project=r.project,
            name=r.name,
            status=r.status,
            start_time=r.start_time,
            end_time=r.end_time,
            duration_s=(r.end_time - r.start_time).total_seconds() if r.end_time else None,
            code_sha=r.code_sha,
            code_dirty=r.code_dirty,
            environment=dict(r.environment or {}),
            params=dict(r.params or {}),
            tags=dict(r.tags or {}),
            latest_metrics=dict(r.latest_metrics or {}),
            slice_metrics=slices[r.id],
            datasets=datasets[r.id],
            artifacts=artifacts[r.id],
            error=r.error,
        )
        for r in rows
    ]
