"""Control plane for deployment plans and automation under /api.

Reading needs the ``predict`` role, changing needs ``operator`` (enforced by the auth middleware
for every non-GET /api request). Each change is the same audited transaction as the CLI's and is
applied by this server at once (``runtime.refresh()``); other replicas follow within a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from .. import deploy
from ..errors import NotFound
from .auth import actor_of

router = APIRouter(prefix="/api/endpoints/{name}", tags=["deployment"])

STEER_ACTIONS = ("promote", "pause", "resume", "abort", "rollback")


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shadow: str | None = Field(
        None, description="Run this version (NAME@VERSION) on a copy of every request"
    )
    canary: str | None = Field(None, description="Ramp traffic to this version on gates")
    blue_green: str | None = Field(
        None, description="Warm this version, then switch all traffic to it at once"
    )
    steps: str | list[float] | None = Field(
        None,
        description="Canary: traffic percentages, increasing, ending at 100, e.g. [5, 25, 50, "
        '100] or "5,25,50,100" (default)',
    )
    interval: str | float | None = Field(
        None, description='Canary: least time per step, "10m" or seconds (default 10m)'
    )
    gates: list[str] | None = Field(
        None,
        description='Canary: conditions to advance, e.g. ["error_rate<=0.01", '
        '"accuracy>=champion-0.01"] (default ["error_rate<=0.01"])',
    )
    min_requests: int | None = Field(
        None, description="Canary: canary answers per step before judging it (default 500)"
    )
    sample_rate: float | None = Field(
        None, description="Shadow: the share of requests copied to it, in (0, 1] (default 1)"
    )
    keep_previous: str | float | None = Field(
        None, description="Blue-green: keep the old version loaded this long (default 10m)"
    )
    check: bool | None = Field(
        None,
        description="Blue-green: health-check the new version on logged inputs first "
        "(default true)",
    )
    reason: str = Field("", description="Why (kept in the plan's history)")


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description="Why (kept in the plan's history)")


class AutomationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: str = Field(description="human, shadow, assist, partial or full")
    threshold: float | None = Field(
        None, description="Partial: answers with confidence >= this are decisions, in (0, 1]"
    )
    audit_rate: float | None = Field(
        None, description="Share of model decisions also sent to review, [0, 1] (default: kept)"
    )
    review_disagreements: bool | None = Field(
        None, description="Send shadow/primary disagreements to review (default: kept)"
    )
    reason: str = Field("", description="Why (kept in the plan's history)")


def _state(request: Request) -> Any:
    return request.app.state.inprod


@router.get("/plan", summary="The deployment plan and what the rollout controller does next")
async def get_plan(name: str, request: Request) -> dict[str, Any]:
    return await asyncio.to_thread(deploy.status, name, store=_state(request).store)


@router.post("/deploy", summary="Start a shadow, canary or blue-green deployment")
async def start(name: str, body: DeployBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    plan = await asyncio.to_thread(
        deploy.start,
        name,
        **body.model_dump(exclude={"reason"}),
        reason=body.reason,
        actor=actor_of(request),
        store=state.store,
    )
    await state.runtime.refresh()
    return plan.to_dict()


@router.get("/plan/history", summary="The plan's audited changes, oldest first")
async def plan_history(
    name: str,
    request: Request,
    limit: int = Query(100, ge=1, le=10_000, description="The last N changes"),
) -> list[dict[str, Any]]:
    events = await asyncio.to_thread(deploy.history, name, limit=limit, store=_state(request).store)
    return [e.to_dict() for e in events]


@router.post(
    "/plan/{action}", summary="promote, pause, resume, abort or rollback the plan's rollout"
)
async def steer(
    name: str,
    request: Request,
    action: str = Path(description="promote, pause, resume, abort or rollback"),
    body: ReasonBody | None = None,
) -> dict[str, Any]:
    if action not in STEER_ACTIONS:
        raise NotFound(
            f"no plan action {action!r}; use one of {', '.join(STEER_ACTIONS)}", field="action"
        )
    state = _state(request)
    plan = await asyncio.to_thread(
        getattr(deploy, action),
        name,
        reason=body.reason if body is not None else "",
        actor=actor_of(request),
        store=state.store,
    )
    await state.runtime.refresh()
    return plan.to_dict()


@router.get("/compare", summary="Candidate vs primary: agreement, accuracy, latency, errors")
async def compare(
    name: str,
    request: Request,
    model: str | None = Query(None, description="Version to compare (default: the candidate)"),
) -> dict[str, Any]:
    result = await asyncio.to_thread(deploy.compare, name, model=model, store=_state(request).store)
    return result.to_dict()


@router.get("/automation", summary="The degree of automation")
async def get_automation(name: str, request: Request) -> dict[str, Any]:
    plan = await asyncio.to_thread(deploy.get_plan, name, store=_state(request).store)
    return {"endpoint": name, **plan.to_dict()["automation"]}


@router.put("/automation", summary="Change the degree of automation (audited)")
async def set_automation(name: str, body: AutomationBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    plan = await asyncio.to_thread(
        deploy.set_automation,
        name,
        body.mode,
        threshold=body.threshold,
        audit_rate=body.audit_rate,
        review_disagreements=body.review_disagreements,
        reason=body.reason,
        actor=actor_of(request),
        store=state.store,
    )
    await state.runtime.refresh()
    return {"endpoint": name, **plan.to_dict()["automation"]}


@router.get(
    "/automation/suggest",
    summary="Propose a partial-automation threshold for a target precision",
)
async def suggest(
    name: str,
    request: Request,
    target_precision: float = Query(description="Precision to reach, in (0, 1], e.g. 0.99"),
) -> dict[str, Any]:
    result = await asyncio.to_thread(
        deploy.suggest_threshold,
        name,
        target_precision=target_precision,
        store=_state(request).store,
    )
    return result.to_dict()
