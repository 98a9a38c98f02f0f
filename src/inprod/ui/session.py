"""Who is looking at the dashboard, and what they may do.

The dashboard uses the same tokens and roles as /api (``predict < reviewer < operator < admin``;
the ``predict`` role is the viewer: it may look at every page). With auth on, a person logs in
once with a token: it is kept in an HttpOnly, SameSite=Strict cookie scoped to /ui, and checked on
every request against the server's in-memory token map (a revoked token stops working within
``auth_refresh_seconds``). A script may send ``Authorization: Bearer …`` instead. With auth off
(a loopback server, as for /api) everyone may do everything, and actions are audited as ``ui``.

Changes (rollback, decide, acknowledge) are POSTs that must carry the page's CSRF token in the
``X-CSRF-Token`` header (htmx sends it from ``<body hx-headers>``) or a ``csrf`` form field, and
come from the same origin. Another site can make a browser send a form to a loopback server, but
it cannot read the page to learn the token, nor set the header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request

from ..tokens import Grant, hash_secret, looks_like_secret, role_allows

COOKIE = "inprod_ui_token"
COOKIE_PATH = "/ui"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
ROLE_NAMES = {"predict": "viewer", "reviewer": "reviewer", "operator": "operator", "admin": "admin"}


@dataclass(frozen=True)
class Viewer:
    """The person (or script) behind a request: their role, and how actions are audited."""

    role: str  # predict | reviewer | operator | admin
    actor: str  # "ui:token:<id>" with auth on, "ui" with auth off
    token_id: int | None
    csrf: str  # the token this viewer's POSTs must carry

    def may(self, role: str) -> bool:
        return role_allows(self.role, role)

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)


class LoginRequired(Exception):
    """No valid token: a page sends the person to the login form (an htmx call is told to)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """A valid token whose role is too low for the page or the action."""

    def __init__(self, viewer: Viewer, needed: str, what: str) -> None:
        super().__init__(what)
        self.viewer, self.needed, self.what = viewer, needed, what


class BadCsrf(Exception):
    """A change without this page's CSRF token, or from another origin."""


def guard(request: Request) -> Any:
    """The server's token guard (None when auth is off)."""
    return getattr(request.app.state, "guard", None)


def secret_of(request: Request) -> str | None:
    """The token a request carries: the bearer header first, else the login cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE)


def grant_for(request: Request, secret: str | None) -> Grant | None:
    token_guard = guard(request)
    if token_guard is None or not secret or not looks_like_secret(secret):
        return None
    return token_guard.grants.get(hash_secret(secret))


def viewer_of(request: Request, need: str = "predict") -> Viewer:
    """The request's viewer; :class:`LoginRequired` or :class:`Forbidden` when it may not
    ``need``. Cached on the request, so a page and its template ask once."""
    viewer = request.scope.get("inprod.ui.viewer")
    if viewer is None:
        viewer = _resolve(request)
        request.scope["inprod.ui.viewer"] = viewer
    if not viewer.may(need):
        raise Forbidden(viewer, need, f"{request.method} {request.url.path}")
    return viewer


def _resolve(request: Request) -> Viewer:
    key: bytes = request.app.state.csrf_key
    if guard(request) is None:
        return Viewer("admin", "ui", None, _csrf(key, "open"))
    secret = secret_of(request)
    grant = grant_for(request, secret)
    if grant is None:
        raise LoginRequired("the token is unknown or revoked" if secret else "")
    return Viewer(grant.role, f"ui:token:{grant.token_id}", grant.token_id, _csrf(key, secret))


def _csrf(key: bytes, secret: str | None) -> str:
    return hmac.new(key, (secret or "").encode(), hashlib.sha256).hexdigest()[:32]


def new_csrf_key() -> bytes:
    return secrets.token_bytes(32)


async def check_change(request: Request, need: str) -> Viewer:
    """For a POST that changes something: the viewer (with role ``need``), after checking the
    CSRF token and the origin. Reads the form only when the header is absent."""
    viewer = viewer_of(request, need)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, viewer.csrf):
        raise BadCsrf("this form is stale or came from another page; reload the page and retry")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise BadCsrf(f"a change from origin {origin!r} is refused; use the dashboard itself")
    return viewer


def login_url(next_path: str) -> str:
    return f"/ui/login?next={quote(safe_next(next_path))}"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: only a path of this dashboard (never another site)."""
    if not value or not value.startswith("/ui") or value.startswith("//") or "\\" in value:
        return "/ui/"
    return value
