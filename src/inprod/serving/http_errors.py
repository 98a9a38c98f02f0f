"""Errors as HTTP responses: ``{"error": {"type", "message", "field"}}`` with the right status."""

from __future__ import annotations

import logging
import uuid

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import InprodError
from .codec import dumps

log = logging.getLogger(__name__)


def error_response(
    status: int, type_: str, message: str, field: str | None = None, **extra: object
) -> Response:
    body = {"error": {"type": type_, "message": message, "field": field, **extra}}
    return Response(dumps(body), status_code=status, media_type="application/json")


def from_exception(exc: InprodError) -> Response:
    return error_response(exc.status, type(exc).__name__, exc.message, exc.field)


def internal_error(what: str, exc: BaseException) -> tuple[str, Response]:
    """A bug or a model that raised: log it with an id the client also gets, answer 500."""
    error_id = uuid.uuid4().hex[:16]
    log.error("error id %s: %s", error_id, what, exc_info=exc)
    return error_id, error_response(
        500,
        "InternalError",
        f"{what}; the server logged it with error id {error_id}",
        error_id=error_id,
    )


async def inprod_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InprodError)
    return from_exception(exc)


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    return internal_error(f"{request.method} {request.url.path} failed", exc)[1]


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's body/query validation, in our error shape: the first problem, named."""
    errors = getattr(exc, "errors", lambda: [])()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    message = first.get("msg", "invalid request")
    return error_response(422, "InvalidInput", f"{where or 'request'}: {message}", where)


def as_v2_error(response: Response) -> Response:
    """Our error body in the Open Inference Protocol's shape, ``{"error": "<message>", ...}``:
    tritonclient and KServe clients read ``error`` as a string."""
    error = orjson.loads(response.body)["error"]
    body = {"error": error.pop("message"), **error}
    v2 = Response(dumps(body), status_code=response.status_code, media_type="application/json")
    for key, value in response.headers.items():
        if key.lower() == "www-authenticate":
            v2.headers[key] = value
    return v2
