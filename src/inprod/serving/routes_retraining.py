"""Retraining policies and requests under /api/retraining (reads: ``predict``; changes:
``operator``).

The same operations as ``inprod retrain``: a policy made here is checked like one made on the
command line, a request approved here is run by the leader's retraining worker, and every change
is audited with the caller (``token:<id>`` with auth on) as actor. Running a request is the
worker's (or ``inprod retrain run``'s) job, not a request's: training can take half an hour.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..retraining import policies, requests
from .auth import actor_of

router = APIRouter(prefix="/api/retraining", tags=["retraining"])

TRIGGERS_HELP = "alert:MONITOR, new-labels:N, schedule:hourly|daily|weekly|every:DURATION"
SETTINGS_HELP = (
    "data, eval_data, require, require_slices, tags, label_map, canary {steps, interval, gates, "
    "min_requests}, timeout_s, min_labels, sweep, select, parallel, ray, rescore, max_changed "
    "(docs/retraining.md)"
)


class NewPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str
    train: str = Field(description="module:function training the model")
    triggers: list[str] = Field(default_factory=list, description=TRIGGERS_HELP)
    approve: str = Field("manual", description="manual or auto")
    settings: dict[str, Any] = Field(default_factory=dict, description=SETTINGS_HELP)


class PolicyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: str | None = None
    triggers: list[str] | None = Field(None, description=TRIGGERS_HELP)
    approve: str | None = None
    settings: dict[str, Any] | None = Field(
        None, description="Keys to change; null removes one (back to its default)"
    )
    enabled: bool | None = None
    reason: str = ""


class NewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str
    reason: str = Field(min_length=1, description="Why retrain now (kept with the request)")


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = ""
    force: bool = Field(False, description="Also cancel a running request (its worker is gone)")


def _store(request: Request) -> Any:
    return request.app.state.inprod.store


@router.get("/policies", summary="Every retraining policy")
async def list_policies(request: Request) -> list[dict[str, Any]]:
    found = await asyncio.to_thread(policies.list_policies, store=_store(request))
    return [p.to_dict() for p in found]


@router.post("/policies", status_code=201, summary="Make an endpoint's retraining policy")
async def create_policy(body: NewPolicy, request: Request) -> dict[str, Any]:
    made = await asyncio.to_thread(
        policies.add, body.endpoint, train=body.train, triggers=body.triggers,
        approve=body.approve, settings=body.settings, actor=actor_of(request),
        store=_store(request),
    )  # fmt: skip
    return made.to_dict()


@router.get("/policies/{endpoint}", summary="An endpoint's retraining policy")
async def get_policy(endpoint: str, request: Request) -> dict[str, Any]:
    found = await asyncio.to_thread(policies.get_policy, endpoint, store=_store(request))
    return found.to_dict()


@router.patch("/policies/{endpoint}", summary="Change a policy (audited with before/after)")
async def update_policy(endpoint: str, body: PolicyChange, request: Request) -> dict[str, Any]:
    changed = await asyncio.to_thread(
        policies.update, endpoint, train=body.train, triggers=body.triggers,
        approve=body.approve, settings=body.settings, enabled=body.enabled, reason=body.reason,
        actor=actor_of(request), store=_store(request),
    )  # fmt: skip
    return changed.to_dict()


@router.delete("/policies/{endpoint}", summary="Remove a policy (409 while it has a live request)")
async def remove_policy(endpoint: str, request: Request) -> dict[str, Any]:
    gone = await asyncio.to_thread(
        policies.remove, endpoint, actor=actor_of(request), store=_store(request)
    )
    return gone.to_dict()


@router.get("/policies/{endpoint}/history", summary="Who made and changed it, and why")
async def policy_history(endpoint: str, request: Request) -> list[dict[str, Any]]:
    return await asyncio.to_thread(policies.history, endpoint, store=_store(request))


@router.get("/requests", summary="Retraining requests, latest first")
async def list_requests(
    request: Request,
    endpoint: str | None = Query(None),
    status: str | None = Query(None, description=", ".join(requests.STATUSES)),
    limit: int = Query(requests.DEFAULT_LIMIT, ge=1, le=1000),
) -> list[dict[str, Any]]:
    found = await asyncio.to_thread(
        requests.list_requests, endpoint=endpoint, status=status, limit=limit,
        store=_store(request),
    )  # fmt: skip
    return [r.to_dict() for r in found]


@router.post("/requests", status_code=201, summary="Ask for retraining now (joins a live one)")
async def open_request(body: NewRequest, request: Request) -> dict[str, Any]:
    made = await asyncio.to_thread(
        requests.open_request, body.endpoint, trigger="manual", reason=body.reason,
        actor=actor_of(request), store=_store(request),
    )  # fmt: skip
    return made.to_dict()


@router.get("/requests/{request_id}", summary="One request: triggers, steps, candidate, gate")
async def get_request(request_id: int, request: Request) -> dict[str, Any]:
    found = await asyncio.to_thread(requests.get_request, request_id, store=_store(request))
    return found.to_dict()


@router.post(
    "/requests/{request_id}/approve",
    summary="Approve an open request (to run) or one awaiting approval (starts its canary)",
)
async def approve_request(request_id: int, request: Request) -> dict[str, Any]:
    done = await asyncio.to_thread(
        requests.approve, request_id, actor=actor_of(request), store=_store(request)
    )
    return done.to_dict()


@router.post("/requests/{request_id}/cancel", summary="Cancel a request that has not finished")
async def cancel_request(
    request_id: int, request: Request, body: Cancel | None = None
) -> dict[str, Any]:
    body = body or Cancel()
    done = await asyncio.to_thread(
        requests.cancel, request_id, reason=body.reason, force=body.force,
        actor=actor_of(request), store=_store(request),
    )  # fmt: skip
    return done.to_dict()
