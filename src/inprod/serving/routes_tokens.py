"""/api/tokens: create, list and revoke bearer tokens (role ``admin`` when auth is on).

After a change the server re-reads its tokens at once, so a token made here works on the next
request and one revoked here is refused on the next request; other replicas and ``--workers``
processes follow within their refresh interval (``auth_refresh_seconds``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from .. import tokens
from .auth import guard_of

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="predict, reviewer, operator or admin")
    name: str = Field("", description="Who or what uses the token, e.g. camera-station-3")


async def _refresh(request: Request) -> None:
    guard = guard_of(request.app)
    if guard is not None:
        await guard.refresh()


@router.get("", summary="List tokens (never their secrets)")
async def list_tokens(request: Request) -> list[dict[str, Any]]:
    store = request.app.state.inprod.store
    items = await asyncio.to_thread(tokens.list_tokens, store=store)
    return [t.to_dict() for t in items]


@router.post("", status_code=201, summary="Create a token; the answer holds its secret, once")
async def create_token(body: TokenCreate, request: Request) -> dict[str, Any]:
    store = request.app.state.inprod.store
    created = await asyncio.to_thread(tokens.create, body.role, name=body.name, store=store)
    await _refresh(request)
    return created.to_dict()


@router.delete("/{token}", summary="Revoke a token by id or prefix")
async def revoke_token(token: str, request: Request) -> dict[str, Any]:
    store = request.app.state.inprod.store
    info = await asyncio.to_thread(tokens.revoke, token, store=store)
    await _refresh(request)
    return info.to_dict()
