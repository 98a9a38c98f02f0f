"""Pipelines under /api/pipelines: stages joined by trace id, and their view over time.

Reading needs the ``predict`` role; creating and deleting need ``operator`` (the auth
middleware's rule for every non-GET /api request). Changes are the audited ones of
:mod:`inprod.monitoring.pipelines`, with the caller's token as the actor.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..monitoring import pipelines
from ..rollout.plan import parse_duration
from .auth import actor_of

router = APIRouter(prefix="/api/pipelines", tags=["pipelines"])


class PipelineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Pipeline name, e.g. speech")
    stages: list[str] = Field(
        description='Stages in order, "NAME=ENDPOINT" or "NAME=py:module:function", e.g. '
        '["vad=vad-endpoint", "asr=asr-endpoint"]'
    )
    description: str = ""


def _store(request: Request) -> Any:
    return request.app.state.inprod.store


@router.get("", summary="List pipelines")
async def list_pipelines(request: Request) -> list[dict[str, Any]]:
    items = await asyncio.to_thread(pipelines.list_pipelines, store=_store(request))
    return [p.to_dict() for p in items]


@router.post("", status_code=201, summary="Create a pipeline (audited)")
async def create(body: PipelineBody, request: Request) -> dict[str, Any]:
    info = await asyncio.to_thread(
        pipelines.create,
        body.name,
        body.stages,
        description=body.description,
        actor=actor_of(request),
        store=_store(request),
    )
    return info.to_dict()


@router.get("/{name}", summary="Show a pipeline's stages")
async def get(name: str, request: Request) -> dict[str, Any]:
    info = await asyncio.to_thread(pipelines.get, name, store=_store(request))
    return info.to_dict()


@router.get("/{name}/view", summary="Each stage's metrics per window, with the trace join")
async def view(
    name: str,
    request: Request,
    since: str = Query("1h", description="How far back (30m, 6h) or an ISO time"),
    until: str | None = Query(None, description="ISO time (default: now)"),
    window: str = Query("1m", description="Window length, e.g. 30s, 5m"),
    metric: list[str] = Query(
        [], description="STAGE=METRIC (repeatable), e.g. vad=output.value.mean"
    ),
    max_traces: int = Query(pipelines.DEFAULT_MAX_TRACES, ge=1, le=100_000),
) -> dict[str, Any]:
    start, end = pipelines.resolve_span(since, until)
    chosen = pipelines.parse_stage_metrics(metric)
    result = await asyncio.to_thread(
        pipelines.pipeline_view,
        name,
        since=start,
        until=end,
        window_s=parse_duration(window, what="window"),
        metrics=chosen,
        max_traces=max_traces,
        store=_store(request),
    )
    return result.to_dict()


@router.get("/{name}/traces/{trace_id}", summary="Every stage's predictions for one trace")
async def trace(
    name: str,
    trace_id: str,
    request: Request,
    limit: int = Query(pipelines.DEFAULT_TRACE_LIMIT, ge=1, le=10_000, description="Per stage"),
) -> dict[str, Any]:
    result = await asyncio.to_thread(
        pipelines.trace, name, trace_id, limit=limit, store=_store(request)
    )
    return result.to_dict()


@router.delete("/{name}", status_code=204, summary="Delete a pipeline (audited; data stays)")
async def delete(name: str, request: Request) -> Response:
    await asyncio.to_thread(pipelines.delete, name, actor=actor_of(request), store=_store(request))
    return Response(status_code=204)
