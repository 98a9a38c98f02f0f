"""The control plane under /api (documented by OpenAPI at /api/openapi.json)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from .. import endpoints

router = APIRouter(prefix="/api", tags=["control plane"])


class EndpointCreate(BaseModel):
    name: str = Field(description="Endpoint name clients call, e.g. phone-inspector")
    model: str = Field(description="Model reference: NAME@VERSION or NAME@ALIAS")
    settings: dict[str, Any] = Field(default_factory=dict, description="Serving settings")
    description: str = ""


class EndpointUpdate(BaseModel):
    model: str | None = None
    settings: dict[str, Any] | None = None


def _state(request: Request) -> Any:
    return request.app.state.inprod


@router.get("/endpoints", summary="List endpoints with what each serves now")
async def list_endpoints(request: Request) -> list[dict[str, Any]]:
    state = _state(request)
    items = await asyncio.to_thread(endpoints.list_endpoints, store=state.store)
    return [_with_live(state, e.to_dict()) for e in items]


@router.post("/endpoints", status_code=201, summary="Create an endpoint")
async def create_endpoint(body: EndpointCreate, request: Request) -> dict[str, Any]:
    state = _state(request)
    info = await asyncio.to_thread(
        endpoints.create,
        body.name,
        body.model,
        settings=body.settings,
        description=body.description,
        store=state.store,
    )
    await state.runtime.refresh()
    return _with_live(state, info.to_dict())


@router.get("/endpoints/{name}", summary="Show an endpoint")
async def get_endpoint(name: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    info = await asyncio.to_thread(endpoints.get, name, store=state.store)
    return _with_live(state, info.to_dict())


@router.patch("/endpoints/{name}", summary="Change an endpoint's model or settings")
async def update_endpoint(name: str, body: EndpointUpdate, request: Request) -> dict[str, Any]:
    state = _state(request)
    info = await asyncio.to_thread(
        endpoints.update, name, model=body.model, settings=body.settings, store=state.store
    )
    await state.runtime.refresh()
    return _with_live(state, info.to_dict())


@router.delete("/endpoints/{name}", status_code=204, summary="Delete an endpoint")
async def delete_endpoint(name: str, request: Request) -> None:
    state = _state(request)
    await asyncio.to_thread(endpoints.delete, name, store=state.store)
    await state.runtime.refresh()


@router.get("/predictions", summary="Latest logged predictions of an endpoint")
async def recent_predictions(
    request: Request,
    endpoint: str = Query(description="Endpoint name"),
    limit: int = Query(20, ge=1, le=1000),
) -> list[dict[str, Any]]:
    from ..predictions import recent

    state = _state(request)
    rows = await asyncio.to_thread(recent, endpoint, limit=limit, store=state.store)
    return [r.to_dict() for r in rows]


def _with_live(state: Any, info: dict[str, Any]) -> dict[str, Any]:
    served = state.runtime.endpoints.get(info["name"])
    info["serving"] = None if served is None or served.host is None else served.host.ref
    info["error"] = None if served is None else served.error
    info["live"] = None if served is None else _live_plan(served)
    return info


def _live_plan(served: Any) -> dict[str, Any]:
    """What this server applies now (it may lag the store by up to a second)."""
    return {
        "revision": served.revision,
        "state": served.state,
        "primary": None if served.host is None else served.host.ref,
        "candidate": None if served.candidate is None else served.candidate.ref,
        "candidate_role": served.candidate_role,
        "canary_weight": served.canary_weight,
        "previous": None if served.previous is None else served.previous.ref,
        "automation": served.automation.mode,
        "problems": list(served.problems),
    }
