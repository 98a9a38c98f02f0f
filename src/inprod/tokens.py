"""Bearer tokens with roles, for servers started with auth on.

A token's secret (``inp_`` + 43 url-safe characters, 256 random bits) is shown once, when it is
created; the store keeps only its sha256 and a short prefix to tell tokens apart in lists. Roles
are ordered ``predict < reviewer < operator < admin``: a token may do whatever a lower role may
(``reviewer`` takes and decides review tasks; ``operator`` changes endpoints and deployments).

Looking tokens up by ``sha256(secret)`` rather than by the secret is what makes the comparison
safe: an attacker timing the lookup learns bits of a hash, which does not help to guess a secret.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Conflict, InvalidInput, NotFound, Unauthorized, suggest
from .store import Store, get_store
from .store.tables import ApiToken, utcnow

ROLES = ("predict", "reviewer", "operator", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
SECRET_PREFIX = "inp_"
DISPLAY_PREFIX_CHARS = 12  # "inp_" and 8 random characters: 48 bits, enough to tell tokens apart
MAX_NAME_CHARS = 200
_SECRET_RE = re.compile(r"^inp_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class TokenInfo:
    """What is known about a token after it was created; never its secret."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def label(self) -> str:
        """``3 (inp_AbCdEfGh, ci-bot)``, for messages."""
        return f"{self.id} ({self.prefix}{', ' + self.name if self.name else ''})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class CreatedToken:
    """A new token with its secret: the only time the secret exists outside the client."""

    info: TokenInfo
    secret: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.info.to_dict(), "secret": self.secret}


@dataclass(frozen=True)
class Grant:
    """What an active token may do, as a server's in-memory map holds it."""

    token_id: int
    role: str


def hash_secret(secret: str) -> str:
    """The sha256 hex digest stored for ``secret``."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_secret(value: str) -> bool:
    """True for ``inp_`` followed by 43 url-safe characters (the format :func:`create` makes)."""
    return _SECRET_RE.match(value) is not None


def role_allows(role: str, needed: str) -> bool:
    """Whether a token of ``role`` may do what ``needed`` may (``admin`` may do everything)."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise InvalidInput(
            f"role {role!r} is not one of {', '.join(ROLES)}; {suggest(role, ROLES, what='roles')}",
            field="role",
        )
    return role


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create(role: str, *, name: str = "", store: Store | None = None) -> CreatedToken:
    """Make a token of ``role``; the returned secret is not stored and cannot be shown again."""
    check_role(role)
    name = name.strip()
    if len(name) > MAX_NAME_CHARS or any(not c.isprintable() for c in name):
        raise InvalidInput(
            f"token name {name[:40]!r} is too long or holds control characters; "
            f"use at most {MAX_NAME_CHARS} printable characters",
            field="name",
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    store = get_store(store)
    with store.session() as s:
        row = ApiToken(
            name=name,
            role=role,
            token_hash=hash_secret(secret),
            prefix=secret[:DISPLAY_PREFIX_CHARS],
            created_at=utcnow(),
            revoked_at=None,
        )
        s.add(row)
        s.flush()
        return CreatedToken(_info(row), secret)


def list_tokens(*, include_revoked: bool = True, store: Store | None = None) -> list[TokenInfo]:
    """Tokens, oldest first."""
    store = get_store(store)
    query = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    with store.session(write=False) as s:
        return [_info(r) for r in s.scalars(query)]


def revoke(id_or_prefix: str | int, *, store: Store | None = None) -> TokenInfo:
    """Revoke the token with this id, display prefix (or its start) or full secret.

    Servers stop accepting it within their token refresh interval (``auth_refresh_seconds``).
    """
    store = get_store(store)
    with store.session() as s:
        row = _find(s, str(id_or_prefix).strip())
        if row.revoked_at is not None:
            raise Conflict(
                f"token {_info(row).label()} was already revoked at "
                f"{row.revoked_at:%Y-%m-%d %H:%M:%S} UTC; nothing to do"
            )
        row.revoked_at = utcnow()
        s.flush()
        return _info(row)


def _find(s: Session, ref: str) -> ApiToken:
    hint = "see the tokens with 'inprod tokens list'"
    if ref.isascii() and ref.isdigit():
        row = s.get(ApiToken, int(ref)) if int(ref) < 2**31 else None
        if row is None:
            raise NotFound(f"no token with id {ref}; {hint}")
        return row
    if looks_like_secret(ref):
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(ref)))
        if row is None:
            raise NotFound(f"no token matches the secret {ref[:DISPLAY_PREFIX_CHARS]}…; {hint}")
        return row
    if not ref.startswith(SECRET_PREFIX) or len(ref) <= len(SECRET_PREFIX):
        raise InvalidInput(
            f"{ref!r} is neither a token id (a number) nor a token prefix such as 'inp_AbCdEfGh'; "
            f"{hint}",
            field="token",
        )
    # Compared in Python rather than with LIKE, which would take the '_' that url-safe secrets
    # contain for a wildcard; a longer ref that is not a whole secret is a typo, not a match.
    rows = []
    if len(ref) <= DISPLAY_PREFIX_CHARS:
        rows = [r for r in s.scalars(select(ApiToken)) if r.prefix.startswith(ref)]
    if not rows:
        raise NotFound(f"no token with prefix {ref!r}; {hint}")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise InvalidInput(
            f"prefix {ref!r} matches tokens {ids}; give the id or a longer prefix", field="token"
        )
    return rows[0]


def verify(secret: str, *, store: Store | None = None) -> TokenInfo:
    """The active token whose secret this is; :class:`Unauthorized` when unknown or revoked.

    Reads the store: servers use :func:`active_grants` once every few seconds instead.
    """
    if not looks_like_secret(secret):
        raise Unauthorized("that is not an inprod token: expected 'inp_' and 43 characters")
    store = get_store(store)
    with store.session(write=False) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
        if row is None or row.revoked_at is not None:
            raise Unauthorized(
                "the token is unknown or revoked; create one with 'inprod tokens create'"
            )
        return _info(row)


def active_grants(*, store: Store | None = None) -> dict[str, Grant]:
    """``sha256 hex -> Grant`` for every token not revoked: what a server keeps in memory."""
    store = get_store(store)
    query = select(ApiToken.token_hash, ApiToken.id, ApiToken.role).where(
        ApiToken.revoked_at.is_(None)
    )
    with store.session(write=False) as s:
        return {h: Grant(token_id, role) for h, token_id, role in s.execute(query)}
