"""The dashboard as an ASGI app, mounted by ``inprod serve`` at /ui.

Pages are server-rendered (Jinja2) and read the store in a worker thread; htmx swaps fragments
for live parts and actions; uPlot draws the charts. Every static file is in the package: the
dashboard works on a machine with no internet. Errors are HTML pages that say what went wrong
and link back, never a JSON body in a browser tab.
"""

from __future__ import annotations

import logging
import uuid
from importlib import import_module
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import InprodError, NotFound
from ..tokens import hash_secret, looks_like_secret
from .actions import ActionLog
from .render import render, render_bare
from .session import (
    COOKIE,
    COOKIE_PATH,
    BadCsrf,
    Forbidden,
    LoginRequired,
    guard,
    login_url,
    new_csrf_key,
    safe_next,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# One module a page (or a group of pages); each lists its routes in ``routes``.
PAGES = (
    "overview", "endpoint", "drift", "pipelines", "rollout", "review", "registry", "alerts",
    "retraining",
)  # fmt: skip
COOKIE_MAX_AGE_S = 12 * 3600


def create_ui(state: Any) -> Starlette:
    """The dashboard for one server's ``state`` (store, runtime, settings). The token guard is set
    on ``app.state.guard`` by the server once auth is wired (None: auth off)."""
    routes: list[BaseRoute] = [
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
    for name in PAGES:
        routes.extend(import_module(f"{__package__}.pages.{name}").routes)
    app = Starlette(
        routes=routes,
        exception_handlers={
            LoginRequired: _to_login,
            Forbidden: _forbidden,
            BadCsrf: _bad_csrf,
            InprodError: _inprod_error,
            404: _not_found,
            Exception: _server_error,
        },
    )
    app.state.inprod = state
    app.state.guard = None
    app.state.csrf_key = new_csrf_key()
    app.state.actions = ActionLog()
    return app


async def login_form(request: Request) -> Response:
    if guard(request) is None:
        return RedirectResponse("/ui/", status_code=303)
    return render_bare("login.html", next=safe_next(request.query_params.get("next")), error="")


async def login(request: Request) -> Response:
    """Check the token against the server's active tokens; remember it in a cookie."""
    form = await request.form()
    secret = str(form.get("token") or "").strip()
    target = safe_next(str(form.get("next") or ""))
    token_guard = guard(request)
    if token_guard is None:
        return RedirectResponse(target, status_code=303)
    error = ""
    if not looks_like_secret(secret):
        error = "That is not a token: it starts with inp_ and has 43 more characters."
    elif hash_secret(secret) not in token_guard.grants:
        error = "That token is unknown or revoked. Ask an admin for one ('inprod tokens create')."
    if error:
        return render_bare("login.html", status=401, next=target, error=error)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        max_age=COOKIE_MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = login_url(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if is_htmx(request) or request.method != "GET":
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    message = (
        f"Your token's role is {exc.viewer.role_name}; this needs {exc.needed} or higher "
        "(viewer < reviewer < operator < admin). Log in with another token to do it."
    )
    return _error_page(request, 403, "Not allowed", message)


async def _bad_csrf(request: Request, exc: Exception) -> Response:
    return _error_page(request, 403, "Refused", str(exc))


async def _inprod_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InprodError)
    title = "Not found" if isinstance(exc, NotFound) else "Cannot do that"
    return _error_page(request, exc.status, title, exc.message)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error_page(request, 404, "Not found", f"There is no page at {request.url.path}.")


async def _server_error(request: Request, exc: Exception) -> Response:
    error_id = uuid.uuid4().hex[:16]
    log.error("error id %s: %s %s failed", error_id, request.method, request.url.path, exc_info=exc)
    return _error_page(
        request, 500, "Something broke", f"The server logged it with error id {error_id}."
    )


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    if is_htmx(request):  # a fragment's failure shows where the fragment would have gone
        return render_bare("_error.html", status=status, title=title, message=message)
    try:
        return render(request, "error.html", status=status, title=title, message=message)
    except (LoginRequired, Forbidden):
        return render_bare("error.html", status=status, title=title, message=message)
