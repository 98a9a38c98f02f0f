"""The REST data plane: ``POST /v1/endpoints/{name}/predict`` and prediction feedback.

Written against Starlette directly (not FastAPI's dependency layer): this is the hot path, and
every microsecond here is measured in benchmarks/serving.

:func:`data_plane` is the one prediction handler of every protocol: endpoint lookup, body limits,
routing by the endpoint's deployment plan (canary split, degrees of automation, shadow copies
after the response; see routing.py and shadow.py), the batcher with the endpoint's timeout (504),
model failures (500 with an error id), metrics and the prediction log. A protocol is a
:class:`Wire` — how to check, decode and encode — so V1 here and Open Inference Protocol V2
(routes_v2.py) behave the same way by construction.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from ..endpoints import EndpointSettings
from ..errors import Conflict, InprodError, InvalidInput, NotFound, PayloadTooLarge, suggest
from ..flavors import PredictionBatch, Signature
from .codec import (
    check_content_type,
    dumps,
    instances_of,
    parse_json,
    response_rows,
    to_model_input,
)
from .http_errors import error_response, from_exception, internal_error
from .records import log_predictions, new_id
from .routing import client_rows, goes_to_canary
from .shadow import ShadowCopy
from .tap import now

if TYPE_CHECKING:
    from .app import ServerState
    from .runtime import ModelHost, ServedEndpoint

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Wire:
    """One protocol's side of :func:`data_plane`; every step may raise an InprodError (4xx).

    ``check(request, served)`` looks at headers and path before the body is read.
    ``decode(payload, signature, settings)`` returns ``(model input, instances, context)``:
    the batch for the model, one loggable value per instance (its length is the row count) and
    whatever ``encode`` needs later. ``encode(served, host, result, rows, ids, context)`` gives
    the response body; ``rows`` are the per-instance answers for the client, ``ids`` the
    prediction ids. ``reviews``: whether the protocol can say "needs review" (V2's tensors
    cannot, so V2 serves only endpoints whose model decides alone).
    """

    name: str
    check: Callable[[Request, ServedEndpoint], None]
    decode: Callable[[Any, Signature, EndpointSettings], tuple[Any, list[Any], Any]]
    encode: Callable[..., bytes]
    reviews: bool = True


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the body is {int(declared)} bytes; the limit is {limit} "
            "(send fewer instances per request or raise INPROD_MAX_BODY_BYTES)",
            field="body",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def unknown_endpoint(state: ServerState, name: str) -> NotFound:
    known = state.runtime.endpoints.keys()
    return NotFound(f"no endpoint {name!r}; {suggest(name, known, what='endpoints')}")


def unavailable(served: ServedEndpoint) -> Response:
    return error_response(
        503, "Unavailable", f"endpoint {served.name!r} cannot serve: {served.error}"
    )


def _needs_v1(served: ServedEndpoint) -> Conflict:
    return Conflict(
        f"endpoint {served.name!r} runs with automation {served.automation.mode!r}, whose "
        f"answers (suggestions, needs_review) only the REST API can carry; call "
        f"POST /v1/endpoints/{served.name}/predict"
    )


def data_plane(wire: Wire) -> Handler:
    """The request handler for ``wire``: the path must hold ``{name}``, the endpoint's name."""
    check, decode, encode, reviews = wire.check, wire.decode, wire.encode, wire.reviews

    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        state: ServerState = request.app.state.inprod
        name = request.path_params["name"]
        served = state.runtime.endpoints.get(name)
        if served is None:
            return from_exception(unknown_endpoint(state, name))
        host = served.host
        if host is None:
            return unavailable(served)
        settings = served.settings
        metrics = state.metrics
        mode = served.automation.mode
        try:
            if mode != "full" and not reviews:
                raise _needs_v1(served)
            check(request, served)
            request_key, trace_id = _routing_headers(request.headers)
            body = parse_json(await read_body(request, state.max_body_bytes))
            # The plan may have changed while the body arrived: serve with what is loaded now
            # (a version that left the plan is closed once its in-flight count reaches 0, and
            # this request only counts from below, with no await in between).
            served = state.runtime.endpoints.get(name)
            if served is None:
                raise unknown_endpoint(state, name)
            if served.host is None:
                return unavailable(served)
            host, settings, mode = served.host, served.settings, served.automation.mode
            if mode != "full" and not reviews:
                raise _needs_v1(served)
            batch, instances, context = decode(body, host.predictor.signature, settings)
        except InprodError as exc:
            metrics.requests.labels(name, host.ref, str(exc.status)).inc()
            return from_exception(exc)
        role, children = "primary", served.metric_children
        if served.canary_cut and goes_to_canary(served, request_key):
            host, role, children = served.candidate, "canary", served.candidate_children
        if mode == "human":
            return _for_humans(state, served, host, instances, request_key, trace_id, started)
        host.inflight += 1
        try:
            async with asyncio.timeout(settings.timeout_ms / 1000.0):
                result = await host.batcher.submit(batch, len(instances))
        except TimeoutError:
            metrics.requests.labels(name, host.ref, "504").inc()
            return error_response(
                504,
                "Timeout",
                f"the model did not answer within {settings.timeout_ms:g} ms "
                "(the endpoint's timeout_ms)",
            )
        except Exception as exc:
            metrics.requests.labels(name, host.ref, "500").inc()
            metrics.model_errors.labels(name, host.ref).inc()
            error_id, response = internal_error(
                f"model {host.ref} raised {type(exc).__name__}", exc
            )
            log_predictions(
                state.tap, served, host, role, instances, None,
                ids=[new_id() for _ in instances], when=now(),
                latency_ms=1000.0 * (time.perf_counter() - started), request_key=request_key,
                trace_id=trace_id, status="error", error_id=error_id,
            )  # fmt: skip
            return response
        finally:
            host.inflight -= 1
        rows = response_rows(result)
        ids = [new_id() for _ in rows]
        when = now()
        answers = rows if mode == "full" and not served.automation.audit_rate else client_rows(
            state.tap, served, host, instances, rows, ids, when
        )  # fmt: skip
        body = encode(served, host, result, answers, ids, context)
        latency_child, instances_child, ok_child = children
        elapsed = time.perf_counter() - started
        latency_child.observe(elapsed)
        instances_child.inc(len(rows))
        ok_child.inc()
        log_predictions(
            state.tap, served, host, role, instances, rows, ids=ids, when=when,
            latency_ms=1000.0 * elapsed, request_key=request_key, trace_id=trace_id,
        )  # fmt: skip
        response = Response(body, media_type="application/json")
        if (
            served.candidate_role == "shadow"
            and role == "primary"
            and (served.shadow_rate >= 1.0 or random.random() < served.shadow_rate)
        ):
            copy = ShadowCopy(
                served, host, served.candidate, batch, instances, ids, rows, request_key, trace_id
            )
            response.background = BackgroundTask(state.shadow.kick, copy)
        return response

    handle.__name__ = handle.__qualname__ = wire.name
    return handle


def _for_humans(
    state: ServerState,
    served: ServedEndpoint,
    host: ModelHost,
    instances: list[Any],
    request_key: str | None,
    trace_id: str | None,
    started: float,
) -> Response:
    """``human`` automation: the model is not called; every instance waits for a person."""
    ids = [new_id() for _ in instances]
    when = now()
    answers = client_rows(state.tap, served, host, instances, None, ids, when)
    log_predictions(
        state.tap, served, host, "primary", instances, None, ids=ids, when=when,
        latency_ms=1000.0 * (time.perf_counter() - started), request_key=request_key,
        trace_id=trace_id, status="skipped",
    )  # fmt: skip
    body = {"endpoint": served.name, "model_version": None, "predictions": answers,
            "prediction_ids": ids}  # fmt: skip
    return Response(dumps(body), media_type="application/json")


def _check(request: Request, served: ServedEndpoint) -> None:
    check_content_type(request.headers.get("content-type"))


def _decode(
    payload: Any, signature: Signature, settings: EndpointSettings
) -> tuple[Any, list[Any], None]:
    instances = instances_of(payload, max_instances=settings.max_instances)
    return to_model_input(instances, signature), instances, None


def _encode(
    served: ServedEndpoint,
    host: ModelHost,
    result: PredictionBatch,
    rows: list[dict],
    ids: list[str],
    context: None,
) -> bytes:
    return dumps(
        {
            "endpoint": served.name,
            "model_version": host.ref,
            "predictions": rows,
            "prediction_ids": ids,
        }
    )


predict = data_plane(Wire("predict", _check, _decode, _encode))


MAX_REQUEST_KEY_CHARS = 200  # predictions.request_key
MAX_TRACE_ID_CHARS = 64  # predictions.trace_id


def _routing_headers(headers: Any) -> tuple[str | None, str | None]:
    """X-Request-Key and the trace id (X-Trace-Id or traceparent), refused when longer than the
    log keeps: one such row would fail its whole batch in the store."""
    request_key = headers.get("x-request-key")
    trace_id = headers.get("x-trace-id") or _trace_from_traceparent(headers.get("traceparent"))
    for name, value, limit in (
        ("X-Request-Key", request_key, MAX_REQUEST_KEY_CHARS),
        ("X-Trace-Id", trace_id, MAX_TRACE_ID_CHARS),
    ):
        if value is not None and len(value) > limit:
            raise InvalidInput(
                f"{name} is {len(value)} characters; at most {limit} are allowed", field=name
            )
    return request_key, trace_id


def _trace_from_traceparent(value: str | None) -> str | None:
    """W3C traceparent ``00-<trace id>-<span id>-<flags>`` -> the 32-hex trace id."""
    if not value:
        return None
    parts = value.split("-")
    return parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None


async def feedback(request: Request) -> Response:
    state: ServerState = request.app.state.inprod
    prediction_id = request.path_params["prediction_id"]
    try:
        check_content_type(request.headers.get("content-type"))
        payload = parse_json(await read_body(request, state.max_body_bytes))
        from ..review.feedback import record_feedback

        feedback_id = await asyncio.to_thread(
            record_feedback, prediction_id, payload, store=state.store
        )
    except InprodError as exc:
        return from_exception(exc)
    return Response(
        dumps({"feedback_id": feedback_id, "prediction_id": prediction_id}),
        status_code=201,
        media_type="application/json",
    )
