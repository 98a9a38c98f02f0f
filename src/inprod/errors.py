"""Every error a user can cause, in one tree.

    InprodError                      400  base class; carries an HTTP status and an optional field
    ├── InvalidInput (ValueError)    400  bad argument, file, URL, metric spec, malformed request
    │   ├── Unprocessable            422  well-formed request that does not fit (field, shape, type)
    │   ├── UnsafeContent            422  a model file would run code we were not allowed to trust
    │   ├── PayloadTooLarge          413  body or instance count over the limit
    │   └── UnsupportedMediaType     415  not JSON
    ├── Unauthorized                 401  no bearer token, a malformed one, or unknown / revoked
    ├── Forbidden                    403  a valid token whose role is too low for the request
    ├── NotFound (LookupError)       404  unknown project / dataset / run / model / version / alias
    ├── Conflict                     409  a name already taken, an immutable thing changed
    ├── IntegrityFailure             500  stored bytes no longer match their hash
    └── StoreUnavailable             503  store unreachable, or its schema is newer than ours

The CLI prints ``error: <message>`` and exits 1; the server answers
``{"error": {"type", "message", "field"}}`` with ``status``. Only bugs give tracebacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InprodError(Exception):
    """Base of every error a user can cause and fix."""

    status: int = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return {"type": type(self).__name__, "message": self.message, "field": self.field}


class InvalidInput(InprodError, ValueError):
    status = 400


class UnsafeContent(InvalidInput):
    status = 422


class Unprocessable(InvalidInput):
    status = 422


class PayloadTooLarge(InvalidInput):
    status = 413


class UnsupportedMediaType(InvalidInput):
    status = 415


class Unauthorized(InprodError):
    status = 401


class Forbidden(InprodError):
    status = 403


class NotFound(InprodError, LookupError):
    status = 404


class Conflict(InprodError):
    status = 409


class IntegrityFailure(InprodError):
    status = 500


class StoreUnavailable(InprodError):
    status = 503


def suggest(name: str, known: Iterable[str], *, what: str) -> str:
    """A hint naming the closest known names, for "not found" messages."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    if not known:
        return f"there are no {what} yet"
    shown = ", ".join(repr(k) for k in known[:8])
    more = f" (and {len(known) - 8} more)" if len(known) > 8 else ""
    return f"known {what}: {shown}{more}"
