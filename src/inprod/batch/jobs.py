"""Batch jobs as lineage records: which model version scored which file, when, and how it ended.

A job row is written when scoring starts (status ``running``) and closed when it ends
(``finished`` with its row count, or ``failed`` with the error), so a crash mid-file still leaves
a trace of what was attempted.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from ..errors import NotFound
from ..store import Store, get_store
from ..store.tables import BatchJob, utcnow

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchJobInfo:
    id: str
    model_name: str
    model_version: int
    model_ref: str
    input_path: str
    output_path: str
    engine: str
    rows: int
    status: str  # running | finished | failed
    error: str | None
    started_at: str
    finished_at: str | None
    seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def start_job(
    store: Store,
    *,
    model_name: str,
    model_version: int,
    input_path: str,
    output_path: str,
    engine: str,
) -> str:
    """Record a running job and return its id (uuid4 hex)."""
    job_id = uuid.uuid4().hex
    with store.session() as s:
        s.add(
            BatchJob(
                id=job_id,
                model_name=model_name,
                model_version=model_version,
                input_path=input_path,
                output_path=output_path,
                engine=engine,
                rows=0,
                status="running",
                started_at=utcnow(),
            )
        )
    return job_id


def end_job(store: Store, job_id: str, *, rows: int, error: str | None = None) -> BatchJobInfo:
    """Close a job: ``finished`` without an error, ``failed`` with one."""
    with store.session() as s:
        job = s.get(BatchJob, job_id)
        if job is None:  # deleted under us; nothing sensible to close
            raise NotFound(f"batch job {job_id} is no longer in the store")
        job.rows = rows
        job.status = "failed" if error is not None else "finished"
        job.error = error
        job.finished_at = utcnow()
        return _info(job)


def get_job(job_id: str, *, store: Store | None = None) -> BatchJobInfo:
    store = get_store(store)
    with store.session(write=False) as s:
        job = s.get(BatchJob, job_id)
        if job is None:
            raise NotFound(f"no batch job {job_id!r}; list them with inprod.batch.list_jobs()")
        return _info(job)


def list_jobs(
    *, model: str | None = None, status: str | None = None, store: Store | None = None
) -> list[BatchJobInfo]:
    """Jobs newest first, optionally of one model (name) and/or with one status."""
    store = get_store(store)
    query = select(BatchJob).order_by(BatchJob.started_at.desc(), BatchJob.id)
    if model is not None:
        query = query.where(BatchJob.model_name == model)
    if status is not None:
        query = query.where(BatchJob.status == status)
    with store.session(write=False) as s:
        return [_info(job) for job in s.scalars(query)]


def _info(job: BatchJob) -> BatchJobInfo:
    seconds = None
    if job.finished_at is not None:
        seconds = round((job.finished_at - job.started_at).total_seconds(), 3)
    return BatchJobInfo(
        id=job.id,
        model_name=job.model_name,
        model_version=job.model_version,
        model_ref=f"{job.model_name}@{job.model_version}",
        input_path=job.input_path,
        output_path=job.output_path,
        engine=job.engine,
        rows=job.rows,
        status=job.status,
        error=job.error,
        started_at=job.started_at.isoformat(),
        finished_at=None if job.finished_at is None else job.finished_at.isoformat(),
        seconds=seconds,
    )
