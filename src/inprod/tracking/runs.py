"""Runs: one training experiment, recorded as it happens.

::

    with inprod.start_run(project="phone-inspection", name="baseline") as run:
        run.log_params({"lr": 0.01, "epochs": 5})
        run.use_dataset("phone-images@3")
        for epoch in range(5):
            run.log_metric("loss", train_one_epoch())
        run.log_slice_metrics({"dark": {"accuracy": 0.81, "count": 120}})
        run.log_artifact("confusion.png")

A run records, without being asked, the git commit and whether the tree was dirty, the Python
and package versions, the host, and its start and end times. Leaving the block marks it
``finished``; an exception marks it ``failed`` with the traceback and re-raises; Ctrl-C marks it
``killed``. Params are fixed once logged (changing one is a :class:`Conflict`), because a run
whose inputs changed half way cannot be compared with anything.

Metric points are buffered and written in batches (see :mod:`._metric_buffer`), so logging in
a tight loop is cheap; every point is written by the time the run ends, fails or the process
exits.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Mapping
from math import isfinite
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..artifacts import check_name
from ..errors import Conflict, NotFound
from ..projects import check_name as check_project_name
from ..provenance import code_version, environment
from ..store import Store, get_store
from ..store.tables import Run, RunArtifact, RunDataset, RunSliceMetric, utcnow
from . import _open_runs
from ._checks import (
    END_STATUSES,
    STATUSES,
    check_key,
    check_mapping,
    check_metric,
    check_param,
    check_role,
    check_run_name,
    check_status,
    check_step,
    check_tag,
)
from ._dataset_refs import resolve_dataset_version
from ._metric_buffer import MetricBuffer
from .compare import RunComparison as RunComparison
from .compare import compare_runs as compare_runs
from .queries import MetricPoint as MetricPoint
from .queries import RunInfo as RunInfo
from .queries import get_run as get_run
from .queries import list_runs as list_runs
from .queries import metric_history as metric_history

__all__ = [
    "STATUSES",
    "ActiveRun",
    "MetricPoint",
    "RunComparison",
    "RunInfo",
    "compare_runs",
    "get_run",
    "list_runs",
    "metric_history",
    "start_run",
]

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 20_000  # a traceback longer than this keeps its end, where the cause is
_RUNS = Run.__table__
_EXIT_NOTE = (
    "the process exited without ending the run; use 'with inprod.start_run(...) as run:' "
    "or call run.end()"
)


def start_run(
    project: str = "default",
    name: str = "",
    *,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    store: Store | None = None,
) -> ActiveRun:
    """Start recording a run; use it as a context manager, or call ``run.end()`` yourself.

    Every argument is validated before the run is stored. The project need not exist yet
    (``inprod project create`` records its targets; runs only carry its name).
    """
    check_project_name(project, "project")
    check_run_name(name)
    clean_params = dict(check_param(k, v) for k, v in check_mapping(params or {}, "params").items())
    clean_tags = dict(check_tag(k, v) for k, v in check_mapping(tags or {}, "tags").items())
    store = get_store(store)
    code, env = code_version(), environment()  # before the write lock: they run git
    run_id = uuid.uuid4().hex
    with store.session() as s:
        s.execute(
            insert(_RUNS).values(
                id=run_id,
                project=project,
                name=name,
                status="running",
                start_time=utcnow(),
                code_sha=code.sha,
                code_dirty=code.dirty,
                environment=env,
                params=clean_params,
                tags=clean_tags,
                latest_metrics={},
            )
        )
    run = ActiveRun(store, run_id, project=project, name=name, params=clean_params, tags=clean_tags)
    _open_runs.register(run)
    logger.info("started run %s (%s/%s)", run_id, project, name)
    return run


class ActiveRun:
    """A run this process is recording. Thread-safe; made by :func:`start_run`."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        project: str,
        name: str,
        params: dict[str, Any],
        tags: dict[str, str],
    ) -> None:
        self._store = store
        self.id = run_id
        self.project = project
        self.name = name
        self._params = dict(params)
        self._tags = dict(tags)
        self._status = "running"
        self._lock = threading.RLock()
        self._metrics = MetricBuffer(store, run_id)
        self._metric_keys: set[str] = set()

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, project={self.project!r}, status={self._status!r})"

    @property
    def status(self) -> str:
        return self._status

    # -- context manager -----------------------------------------------------
    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status != "running":
            return
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.end("finished")
            return
        status = "killed" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = "".join(traceback.format_exception(exc))[-MAX_ERROR_CHARS:]
        try:
            self._end(status, error)
        except Exception:
            # the caller's exception is the one to see; ours goes to the log
            logger.exception("could not mark run %s as %s", self.id, status)

    # -- params and tags -----------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record inputs (JSON values). Logging a param again with the same value is a no-op;
        with another value it is a Conflict and nothing of this call is stored."""
        clean = dict(check_param(k, v) for k, v in check_mapping(params, "params").items())
        with self._lock:
            self._check_open()
            for key, value in clean.items():
                if key in self._params and self._params[key] != value:
                    raise Conflict(
                        f"param {key!r} of run {self.id[:8]} is already {self._params[key]!r}; "
                        f"cannot change it to {value!r} — params are fixed once logged; "
                        "start a new run, or log the new value under another name"
                    )
            merged = {**self._params, **clean}
            if merged != self._params:
                self._update_run(params=merged)
                self._params = merged

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set or replace tags (text labels for finding runs, e.g. ``{"owner": "ana"}``)."""
        clean = dict(check_tag(k, v) for k, v in check_mapping(tags, "tags").items())
        with self._lock:
            self._check_open()
            merged = {**self._tags, **clean}
            self._update_run(tags=merged)
            self._tags = merged

    # -- metrics -------------------------------------------------------------
    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Buffer one point; ``step`` defaults to one past this key's last step (from 0)."""
        if key not in self._metric_keys or type(value) is not float or not isfinite(value):
            key, value = check_metric(key, value)
        if step is not None:
            step = check_step(step, key)
        with self._lock:
            self._check_open()
            self._metrics.add(key, value, step)
            self._metric_keys.add(key)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Buffer several points at one step; if any value is bad, none is logged."""
        clean = [check_metric(k, v) for k, v in check_mapping(metrics, "metrics").items()]
        if step is not None:
            step = check_step(step)
        with self._lock:
            self._check_open()
            for key, value in clean:
                self._metrics.add(key, value, step)
                self._metric_keys.add(key)

    def log_slice_metrics(self, slices: Mapping[str, Mapping[str, float]]) -> None:
        """Metrics per slice, e.g. ``{"dark": {"accuracy": 0.81, "count": 120}}``.

        A slice is any subset the team cares about (a tag, ``factory=B``). Logging a slice's
        metric again replaces its value.
        """
        rows = []
        for name, metrics in check_mapping(slices, "slice metrics").items():
            check_key(name, "slice")
            for key, value in check_mapping(metrics, f"slice {name!r}").items():
                key, value = check_metric(key, value)
                rows.append({"run_id": self.id, "slice": name, "key": key, "value": value})
        if not rows:
            return
        table = RunSliceMetric.__table__
        with self._lock:
            self._check_open()
            with self._store.session() as s:
                conn = s.connection()
                for row in rows:
                    conn.execute(
                        delete(table).where(
                            table.c.run_id == self.id,
                            table.c.slice == row["slice"],
                            table.c.key == row["key"],
                        )
                    )
                conn.execute(insert(table), rows)

    def flush(self) -> None:
        """Write buffered metric points now (ending the run does this too)."""
        with self._lock:
            if self._status == "running":
                self._metrics.flush()

    # -- inputs and outputs --------------------------------------------------
    def use_dataset(self, version: Any, role: str = "train") -> str:
        """Record that this run read a dataset version; return its reference ``"name@N"``.

        ``version`` is what ``inprod.datasets.add`` returned (anything with an ``id``), or a
        reference such as ``"phone-images@3"`` or ``"phone-images"`` (the latest version).
        """
        check_role(role)
        with self._lock:
            self._check_open()
            with self._store.session() as s:
                version_id, ref = resolve_dataset_version(s, version)
                exists = s.get(RunDataset, (self.id, version_id, role))
                if exists is None:
                    s.add(RunDataset(run_id=self.id, dataset_version_id=version_id, role=role))
        return ref

    def log_artifact(self, path: str | Path, name: str | None = None) -> dict[str, Any]:
        """Store a file (or a folder, recorded with a trailing ``/``) as an output of this run.

        Returns ``{"path", "sha256", "size_bytes"}``. Logging the same name again with the
        same content is a no-op; with other content it is a Conflict.
        """
        src = Path(path)
        name = check_name(name if name is not None else src.resolve().name)
        self._check_open()
        artifacts = self._store.artifacts
        if src.is_dir() and not src.is_symlink():
            sha = artifacts.put_tree(src).sha256
            size = sum(int(f["size"]) for f in artifacts.tree_files(sha).values())
            stored_name = name + "/"
        elif src.exists() or src.is_symlink():
            blob = artifacts.put_file(src)  # refuses symbolic links with a clear message
            sha, size, stored_name = blob.sha256, blob.size, name
        else:
            raise NotFound(f"artifact file not found: {src}; check the path", field="path")
        record = {"path": stored_name, "sha256": sha, "size_bytes": size}
        with self._lock:
            self._check_open()
            with self._store.session() as s:
                for taken in s.scalars(
                    select(RunArtifact).where(
                        RunArtifact.run_id == self.id, RunArtifact.path.in_([name, name + "/"])
                    )
                ):
                    if taken.path == stored_name and taken.sha256 == sha:
                        return record
                    raise Conflict(
                        f"run {self.id[:8]} already has an artifact named {taken.path!r} with "
                        "other content; log this one under another name"
                    )
                s.add(RunArtifact(run_id=self.id, **record))
        return record

    # -- ending --------------------------------------------------------------
    def end(self, status: str = "finished") -> None:
        """Write the remaining points and mark the run ``finished``, ``failed`` or ``killed``.

        Ending an ended run does nothing.
        """
        check_status(status, END_STATUSES)
        self._end(status, None)

    def _end(self, status: str, error: str | None) -> None:
        with self._lock:
            if self._status != "running":
                return
            self._metrics.flush(status=status, end_time=utcnow(), error=error)
            self._status = status
        _open_runs.unregister(self.id)
        logger.info("run %s %s", self.id, status)

    def _end_at_exit(self) -> None:
        self._end("killed", _EXIT_NOTE)

    def info(self) -> RunInfo:
        """This run as stored now (buffered points are written first)."""
        return get_run(self.id, store=self._store)

    # -- helpers -------------------------------------------------------------
    def _check_open(self) -> None:
        if self._status != "running":
            raise Conflict(
                f"run {self.id[:8]} has ended (status {self._status}); nothing more can be "
                "logged to it — start a new run with inprod.start_run(...)"
            )

    def _update_run(self, **values: Any) -> None:
        with self._store.session() as s:
            s.execute(update(_RUNS).where(_RUNS.c.id == self.id).values(**values))
