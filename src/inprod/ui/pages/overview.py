"""The overview: every endpoint at a glance (placeholder until the page lands)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..render import render
from ..session import viewer_of


async def overview(request: Request) -> Response:
    viewer_of(request)
    return render(request, "overview.html")


routes: list[BaseRoute] = [Route("/", overview, methods=["GET"])]
