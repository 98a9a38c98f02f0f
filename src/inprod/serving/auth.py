"""Bearer-token authentication and roles for /v1, /v2 and /api.

A pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` would add a task and a copy per
request). A request costs one sha256 and one dict lookup: the store is never read on the request
path. :class:`TokenGuard` keeps ``sha256(secret) -> role`` in memory and re-reads the active tokens
every ``auth_refresh_seconds`` (default 2 s) in a background task, and at once after a token is
created or revoked through this server's /api/tokens. A token revoked elsewhere (the CLI, another
replica) is therefore refused at most that many seconds later. If the store cannot be read, the
last known tokens stay in force: an outage must not lock every client out.

What each request needs, first match wins (``predict < reviewer < operator < admin``; a higher
role may do what a lower one may):

    /healthz /readyz /metrics /v2/health/* /api/docs /api/docs/static/*
    /api/openapi.json                                                    open
    /ui, /ui/* (the dashboard checks its own login: a cookie or a bearer
    token, with the same roles; see inprod.ui.session)                   open here
    /api/tokens, /api/tokens/*                                           admin
    /api/review, /api/review/* (the human review queue, GET and POST)    reviewer
    /v1/*, /v2/* (predict, feedback, inference)                          predict
    GET, HEAD, OPTIONS on anything else (/api/...)                       predict
    POST, PUT, PATCH, DELETE on anything else (/api/...)                 operator
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidInput
from ..store import Store
from ..tokens import Grant, active_grants, hash_secret, looks_like_secret, role_allows
from .http_errors import as_v2_error, error_response
from .periodic import Periodic

log = logging.getLogger(__name__)

AUTH_MODES = ("on", "off", "auto")
DEFAULT_REFRESH_S = 2.0
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/docs",
        "/api/openapi.json",
    }
)
_V2_HEALTH = "/v2/health/"
DOCS_STATIC = "/api/docs/static"  # the vendored Swagger UI files
_REVIEW = "/api/review"
_UI = "/ui/"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HOW_TO = "send 'Authorization: Bearer inp_…'; an admin creates one with 'inprod tokens create'"
GRANT_KEY = "inprod.grant"  # where an allowed request's token grant is kept in the ASGI scope

AppT = TypeVar("AppT", bound=Starlette)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def resolve_mode(mode: str, host: str) -> bool:
    """Whether auth is on for ``--auth MODE`` and ``--host HOST`` (auto: on unless loopback)."""
    if mode not in AUTH_MODES:
        raise InvalidInput(f"--auth {mode!r} is not one of on, off, auto", field="auth")
    if mode == "auto":
        return not is_loopback(host)
    return mode == "on"


def required_role(method: str, path: str) -> str | None:
    """The least role a request needs; None when the path is open to everyone."""
    if path in OPEN_PATHS or path.startswith((DOCS_STATIC + "/", _UI)) or path == "/ui":
        return None
    if path.startswith(_V2_HEALTH) and "/" not in path[len(_V2_HEALTH) :]:
        return None
    if path.startswith("/api/tokens"):
        return "admin"
    if path == _REVIEW or path.startswith(_REVIEW + "/"):
        return "reviewer"
    if path.startswith(("/v1/", "/v2/")) or method in _SAFE_METHODS:
        return "predict"
    return "operator"


class TokenGuard:
    """The in-memory map of active tokens, refreshed from the store in the background."""

    def __init__(self, store: Store, *, refresh_s: float = DEFAULT_REFRESH_S) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.grants: dict[str, Grant] = {}
        self._lock = asyncio.Lock()
        self._periodic = Periodic(
            self.refresh,
            refresh_s,
            failure="re-reading tokens from the store failed; keeping the known ones",
        )

    async def refresh(self) -> None:
        """Re-read the active tokens (one read at a time, so an older read never wins)."""
        async with self._lock:
            self.grants = await asyncio.to_thread(active_grants, store=self.store)

    async def start(self) -> None:
        """Load the tokens, then keep them fresh. Until a first read succeeds, all are refused."""
        try:
            await self.refresh()
        except Exception:
            log.exception("reading tokens at start-up failed; retrying every %gs", self.refresh_s)
        else:
            if not self.grants:
                log.warning(
                    "auth is on and there are no tokens: every request to /v1, /v2 and /api will "
                    "be refused; create one with 'inprod tokens create --role admin'"
                )
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    def check(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        scope: dict[str, Any] | None = None,
    ) -> Response | None:
        """None when the request may go on (the grant is then kept in ``scope``, for
        :func:`actor_of`); else the 401 or 403 response to send."""
        needed = required_role(method, path)
        if needed is None:
            return None
        values = [v for k, v in headers if k == b"authorization"]
        if not values:
            return _unauthorized(f"{method} {path} needs a bearer token; {_HOW_TO}", None)
        scheme, _, secret = values[0].decode("latin-1").strip().partition(" ")
        secret = secret.strip()
        if len(values) > 1 or scheme.lower() != "bearer" or not looks_like_secret(secret):
            return _unauthorized(
                "the Authorization header is not 'Bearer inp_' followed by 43 characters; "
                + _HOW_TO,
                "invalid_request",
            )
        grant = self.grants.get(hash_secret(secret))
        if grant is None:
            return _unauthorized(
                "the bearer token is unknown or revoked; ask an admin for a new one "
                "('inprod tokens create')",
                "invalid_token",
            )
        if not role_allows(grant.role, needed):
            return error_response(
                403,
                "Forbidden",
                f"token {grant.token_id} has role {grant.role!r}, which may not {method} {path}; "
                f"that needs role {needed!r} or higher (predict < reviewer < operator < admin)",
            )
        if scope is not None:
            scope[GRANT_KEY] = grant
        return None


def _unauthorized(message: str, error: str | None) -> Response:
    response = error_response(401, "Unauthorized", message)
    challenge = 'Bearer realm="inprod"' + (f', error="{error}"' if error else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


class BearerAuth:
    """ASGI middleware: refuse requests whose token is missing, unknown or of too low a role.

    It also starts the guard's refresher once the app's own startup is complete (the schema then
    exists) and stops it at shutdown, so it needs no hook in the app's lifespan. Run without a
    lifespan (``uvicorn --lifespan off``), no token is ever loaded and every request is refused.
    """

    def __init__(self, app: ASGIApp, *, guard: TokenGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        refusal = self.guard.check(method, scope["path"], scope["headers"], scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            log.debug("refused %s %s: %s", method, scope["path"], refusal.status_code)
            if scope["path"].startswith("/v2/"):
                refusal = as_v2_error(refusal)  # V2 clients read "error" as a string
            await refusal(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_hooked() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.guard.stop()
            return message

        async def send_hooked(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self.guard.start()
            await send(message)

        await self.app(scope, receive_hooked, send_hooked)


def wrap(app: AppT, *, store: Store, enabled: bool, refresh_s: float = DEFAULT_REFRESH_S) -> AppT:
    """The app with token checks in front of it when ``enabled``.

    The guard is kept at ``app.state.token_guard`` so that /api/tokens can refresh it at once.
    """
    if not enabled:
        return app
    guard = TokenGuard(store, refresh_s=refresh_s)
    app.state.token_guard = guard
    app.add_middleware(BearerAuth, guard=guard)
    return app


def actor_of(request: Any) -> str:
    """Who made ``request``, for audit events: ``token:<id>`` when auth is on, else ``api``."""
    grant = request.scope.get(GRANT_KEY)
    return f"token:{grant.token_id}" if grant is not None else "api"


def guard_of(app: Any) -> TokenGuard | None:
    """The app's token guard, or None when auth is off."""
    return getattr(app.state, "token_guard", None)
