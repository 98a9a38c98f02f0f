"""The human review queue under /api/review (reviewer role)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/review", tags=["review"])
