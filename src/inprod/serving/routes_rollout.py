"""Control plane for deployment plans and automation under /api (operator role to change)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api", tags=["deployment"])
