"""Open Inference Protocol V2 (KServe / Triton / MLServer compatible) under /v2."""

from __future__ import annotations

from starlette.routing import Route

routes: list[Route] = []
