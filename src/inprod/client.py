"""A Python client for an ``inprod serve`` server: predictions, feedback, health.

    with inprod.Client("http://localhost:8000", token="...") as client:
        result = client.predict("phone-inspector", [{"brightness": 0.4, "blur": 0.1}])
        client.feedback(result.prediction_ids[0], label="scratch", source="inspector-7")

Errors come back as the server raised them: the ``{"error": {"type", "message", "field"}}``
body becomes the class of that name from :mod:`inprod.errors` (InvalidInput, NotFound, ...),
so code written against the library catches the same exceptions against a server. A body
without a known type falls back on the status (400/422 InvalidInput, 404 NotFound,
409 Conflict, 503 StoreUnavailable, anything else InprodError); ``.status`` is always the
server's status. A server that cannot be reached raises StoreUnavailable naming the URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from . import __version__, errors
from .errors import (
    Conflict,
    Forbidden,
    InprodError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)

__all__ = ["DEFAULT_TIMEOUT", "Client", "PredictResult"]

DEFAULT_TIMEOUT = 10.0
# the class for an error body whose "type" this version does not know (a newer server)
_BY_STATUS: dict[int, type[InprodError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    503: StoreUnavailable,
}


@dataclass(frozen=True)
class PredictResult:
    """One ``predict`` answer: a prediction per instance, in the order they were sent."""

    predictions: list[dict[str, Any]]
    prediction_ids: list[str]
    model_version: str  # "phone-inspector@3"
    raw: dict[str, Any] = field(repr=False)

    @property
    def outputs(self) -> list[Any]:
        """Just the model outputs (``prediction["output"]`` of each instance)."""
        return [p.get("output") for p in self.predictions]


class Client:
    """Talks to one server. Thread-safe (one pooled httpx client); close it, or use ``with``.

    ``token`` is sent as ``Authorization: Bearer <token>``. ``timeout`` (seconds) bounds each
    request. ``transport`` replaces the network (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = _check_url(url)
        headers = {"Accept": "application/json", "User-Agent": f"inprod-client/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def predict(
        self,
        endpoint: str,
        instances: Any,
        *,
        request_key: str | None = None,
        trace_id: str | None = None,
    ) -> PredictResult:
        """Predictions for ``instances``: a list of rows (``{"feature": value}`` or lists).

        A pandas DataFrame (records) or a 2-D numpy array is accepted too. ``request_key``
        keeps a caller on the same canary arm; ``trace_id`` joins pipeline stages.
        """
        rows = _rows(instances)
        headers = {}
        if request_key is not None:
            headers["X-Request-Key"] = str(request_key)
        if trace_id is not None:
            headers["X-Trace-Id"] = str(trace_id)
        body = self._call(
            "POST",
            f"/v1/endpoints/{_segment(endpoint, 'endpoint')}/predict",
            json_body={"instances": rows},
            headers=headers,
        )
        try:
            return PredictResult(
                predictions=list(body["predictions"]),
                prediction_ids=[str(i) for i in body.get("prediction_ids") or []],
                model_version=str(body.get("model_version", "")),
                raw=body,
            )
        except (KeyError, TypeError):
            raise InprodError(
                f"the server at {self.url} answered predict without 'predictions'; is it an "
                "inprod server of a matching version?"
            ) from None

    def feedback(
        self,
        prediction_id: str,
        *,
        label: Any = None,
        event: str | None = None,
        source: str = "",
    ) -> dict[str, Any]:
        """Join ground truth (``label``) or a user ``event`` ("redo", ...) to a prediction.

        Returns the server's record (``{"feedback_id", "prediction_id"}``); the server commits
        it before answering, so a returned call is stored.
        """
        if label is None and event is None:
            raise InvalidInput(
                "feedback needs a label or an event; e.g. feedback(id, label='scratch') or "
                "feedback(id, event='redo')",
                field="label",
            )
        body: dict[str, Any] = {"source": source}
        if label is not None:
            body["label"] = label
        if event is not None:
            body["event"] = event
        path = f"/v1/predictions/{_segment(prediction_id, 'prediction_id')}/feedback"
        return self._call("POST", path, json_body=body)

    def health(self) -> bool:
        """Whether the server process answers (``/healthz``); False when it cannot be reached."""
        return self._probe("/healthz")

    def ready(self) -> bool:
        """Whether the server can serve (``/readyz``: models loaded, store reachable)."""
        return self._probe("/readyz")

    # -- plumbing ------------------------------------------------------------------------------

    def _probe(self, path: str) -> bool:
        try:
            response = self._http.get(path)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        content = None
        send_headers = dict(headers or {})
        if json_body is not None:
            content = _dumps(json_body)
            send_headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(method, path, content=content, headers=send_headers)
        except httpx.TimeoutException:
            raise StoreUnavailable(
                f"inprod server at {self.url} did not answer {method} {path} within "
                f"{self._http.timeout.read} s; check the server, or give Client(timeout=...)"
            ) from None
        except httpx.TransportError as exc:
            raise StoreUnavailable(
                f"cannot reach inprod server at {self.url}: {_reason(exc)}; is `inprod serve` "
                "running there?"
            ) from None
        if response.status_code >= 400:
            raise self._error(response)
        try:
            body = response.json()
        except ValueError:
            raise InprodError(
                f"the server at {self.url} answered {method} {path} with a body that is not "
                f"JSON ({response.text[:80]!r})"
            ) from None
        if not isinstance(body, dict):
            raise InprodError(f"the server at {self.url} answered {method} {path} with {body!r}")
        return body

    def _error(self, response: httpx.Response) -> InprodError:
        """The server's error as the matching class of inprod.errors, with ``.status`` set."""
        status = response.status_code
        try:
            detail = response.json().get("error")
        except (ValueError, AttributeError):
            detail = None
        if isinstance(detail, dict) and detail.get("message"):
            cls = _class_named(detail.get("type")) or _BY_STATUS.get(status, InprodError)
            field_name = detail.get("field")
            error = cls(
                str(detail["message"]), field=None if field_name is None else str(field_name)
            )
        else:
            reason = response.reason_phrase or "error"
            text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
            error = _BY_STATUS.get(status, InprodError)(
                f"inprod server at {self.url} answered {status} {reason}"
                + (f": {text}" if text else "")
            )
        error.status = status
        return error


def _class_named(name: Any) -> type[InprodError] | None:
    cls = getattr(errors, name, None) if isinstance(name, str) else None
    if isinstance(cls, type) and issubclass(cls, InprodError):
        return cls
    return None


def _check_url(url: str) -> str:
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"server URL {url!r} is not an http(s) URL; give e.g. http://localhost:8000",
            field="url",
        )
    return str(url).strip().rstrip("/")


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}", field=what)
    return quote(value, safe="")


def _rows(instances: Any) -> list[Any]:
    """A JSON-able list of rows from a list, a DataFrame (records) or a 2-D array."""
    if hasattr(instances, "to_dict") and hasattr(instances, "columns"):
        return instances.to_dict(orient="records")
    if hasattr(instances, "tolist") and getattr(instances, "ndim", 0) == 2:
        return instances.tolist()
    if isinstance(instances, Mapping | str | bytes):
        raise InvalidInput(
            "instances must be a list of rows, e.g. [{'brightness': 0.4}]; wrap a single row in "
            "a list",
            field="instances",
        )
    if not isinstance(instances, Sequence) or not instances:
        raise InvalidInput(
            f"instances must be a non-empty list of rows, not {type(instances).__name__}"
            + (" (it is empty)" if isinstance(instances, Sequence) else ""),
            field="instances",
        )
    return list(instances)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise InvalidInput(f"cannot send the request as JSON: {exc}", field="instances") from None


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).strip()
    if isinstance(exc, httpx.ConnectError) and (not text or "refused" in text.lower()):
        return "connection refused"
    return text.splitlines()[0] if text else type(exc).__name__
