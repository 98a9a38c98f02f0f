"""The human review queue under /api/review (role ``reviewer`` or higher when auth is on).

The reviewer is the ``reviewer`` value a client sends, else the caller's token
(``token:<id>``), else ``api``: with auth off, reviewers sharing one server should name
themselves, or they hold one claim between them. A decision is committed before the 200.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from ..review import queue
from .auth import actor_of

router = APIRouter(prefix="/api/review", tags=["review"])

REVIEWER_HELP = "Who is reviewing; default: the caller's token (token:<id>), or 'api' without auth"


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: StrictStr | StrictBool | StrictInt | StrictFloat = Field(
        description="The right answer; must be one of the model's classes when it lists them"
    )
    reviewer: str | None = Field(None, description=REVIEWER_HELP)
    note: str = Field("", description="Why, for whoever reads the decision later")


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: str | None = Field(None, description=REVIEWER_HELP)


def _store(request: Request) -> Any:
    return request.app.state.inprod.store


def _reviewer(request: Request, given: str | None) -> str:
    return given if given is not None else actor_of(request)


@router.get(
    "/next",
    summary="Claim the oldest open task (204 when the queue is empty)",
    responses={204: {"description": "The queue is empty"}},
)
async def next_task(
    request: Request,
    queue_: str | None = Query(None, alias="queue", description="Endpoint whose queue to take"),
    reason: str | None = Query(None, description=", ".join(queue.REASONS)),
    reviewer: str | None = Query(None, description=REVIEWER_HELP),
) -> Any:
    state = request.app.state.inprod
    task = await asyncio.to_thread(
        queue.next_task,
        reviewer=_reviewer(request, reviewer),
        endpoint=queue_,
        reason=reason,
        lease_s=state.settings.review_lease_seconds,
        store=state.store,
    )
    if task is None:
        return Response(status_code=204)
    return task.to_dict()


@router.get("/tasks", summary="List review tasks, oldest first (decided: latest first)")
async def list_tasks(
    request: Request,
    status: str | None = Query(None, description="open, claimed or decided"),
    endpoint: str | None = Query(None),
    limit: int = Query(queue.DEFAULT_LIMIT, ge=1, le=queue.MAX_LIMIT),
) -> list[dict[str, Any]]:
    tasks = await asyncio.to_thread(
        queue.list_tasks, status=status, endpoint=endpoint, limit=limit, store=_store(request)
    )
    return [t.to_dict() for t in tasks]


@router.get("/stats", summary="Queue depth, oldest open task, reasons, reviewer agreement")
async def stats(request: Request, endpoint: str | None = Query(None)) -> dict[str, Any]:
    result = await asyncio.to_thread(queue.stats, endpoint=endpoint, store=_store(request))
    return result.to_dict()


@router.get("/{task_id}", summary="Show one review task")
async def get_task(task_id: str, request: Request) -> dict[str, Any]:
    task = await asyncio.to_thread(queue.get_task, task_id, store=_store(request))
    return task.to_dict()


@router.post("/{task_id}/decision", summary="Decide a task; committed before the answer")
async def decide(task_id: str, body: Decision, request: Request) -> dict[str, Any]:
    task = await asyncio.to_thread(
        queue.decide,
        task_id,
        body.label,
        reviewer=_reviewer(request, body.reviewer),
        note=body.note,
        store=_store(request),
    )
    return task.to_dict()


@router.post("/{task_id}/release", summary="Give a claimed task back to the queue")
async def release(task_id: str, request: Request, body: Release | None = None) -> dict[str, Any]:
    reviewer = _reviewer(request, body.reviewer if body is not None else None)
    task = await asyncio.to_thread(queue.release, task_id, reviewer=reviewer, store=_store(request))
    return task.to_dict()
