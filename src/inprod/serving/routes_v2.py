"""Open Inference Protocol V2 (KServe / Triton / MLServer compatible) under /v2.

``{name}`` is the endpoint's name, the name clients call; the version is the model version the
endpoint serves now (a ``versions/{version}`` path for another one is a 404 naming the served
version). Inference goes through :func:`routes_v1.data_plane`, so a V2 request is batched,
timed out, counted on /metrics and written to the prediction log exactly as a V1 request.

Not-ready answers are 503 (as KServe's server and our /readyz do); V2 clients read any non-200
as "not ready". Errors follow the protocol, ``{"error": "<message>"}`` (tritonclient fails on
anything else), with the server's usual ``type`` and ``field`` (and ``error_id`` for a 500) as
sibling keys: ``{"error": "...", "type": "Unprocessable", "field": "inputs[0].shape"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__
from ..endpoints import EndpointSettings
from ..errors import NotFound, UnsupportedMediaType
from ..flavors import PredictionBatch, Signature
from .codec import check_content_type, dumps
from .codec_v2 import InferRequest, decode_request, encode_response, input_specs, output_specs
from .http_errors import as_v2_error, from_exception
from .records import new_id
from .routes_v1 import Wire, data_plane, unavailable, unknown_endpoint

if TYPE_CHECKING:
    from .app import ServerState
    from .runtime import ModelHost, ServedEndpoint

SERVER_NAME = "inprod"


def _json(value: object, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


def _check_version(request: Request, served: ServedEndpoint) -> None:
    version = request.path_params.get("version")
    host = served.host
    if version is not None and host is not None and version != str(host.version):
        base = f"/v2/models/{served.name}"
        raise NotFound(
            f"endpoint {served.name!r} serves version {host.version} ({host.ref}), not "
            f"version {version!r}; call {base} or {base}/versions/{host.version}",
            field="version",
        )


def _find(request: Request) -> ServedEndpoint:
    """The endpoint in the path; NotFound when unknown or the path names another version."""
    state: ServerState = request.app.state.inprod
    name = request.path_params["name"]
    served = state.runtime.endpoints.get(name)
    if served is None:
        raise unknown_endpoint(state, name)
    _check_version(request, served)
    return served


async def server_metadata(request: Request) -> Response:
    return _json({"name": SERVER_NAME, "version": __version__, "extensions": []})


async def live(request: Request) -> Response:
    return _json({"live": True})


async def ready(request: Request) -> Response:
    """Ready when every endpoint has its model loaded (the store is not needed to predict)."""
    state: ServerState = request.app.state.inprod
    problems = {n: e.error for n, e in state.runtime.endpoints.items() if e.host is None}
    if problems:
        return _json({"ready": False, "problems": problems}, 503)
    return _json({"ready": True})


async def model_metadata(request: Request) -> Response:
    try:
        served = _find(request)
    except NotFound as exc:
        return as_v2_error(from_exception(exc))
    host = served.host
    if host is None:
        return as_v2_error(unavailable(served))
    signature = host.predictor.signature
    return _json(
        {
            "name": served.name,
            "versions": [str(host.version)],
            "platform": host.predictor.flavor,
            "inputs": [spec.to_dict() for spec in input_specs(signature)],
            "outputs": [spec.to_dict() for spec in output_specs(signature)],
        }
    )


async def model_ready(request: Request) -> Response:
    try:
        served = _find(request)
    except NotFound as exc:
        return as_v2_error(from_exception(exc))
    if served.host is None:
        return _json({"name": served.name, "ready": False, "error": served.error}, 503)
    return _json({"name": served.name, "ready": True})


def _check(request: Request, served: ServedEndpoint) -> None:
    headers = request.headers
    if "inference-header-content-length" in headers:
        raise UnsupportedMediaType(
            "the binary tensor extension is not supported; send the request as JSON "
            "(tritonclient: binary_data=False)",
            field="inference-header-content-length",
        )
    content_type = headers.get("content-type")
    if content_type is not None:  # V2 clients (tritonclient) may send none: the body is JSON
        check_content_type(content_type)
    _check_version(request, served)


def _decode(
    payload: Any, signature: Signature, settings: EndpointSettings
) -> tuple[Any, list[Any], InferRequest]:
    return decode_request(payload, signature, max_instances=settings.max_instances)


def _encode(
    served: ServedEndpoint,
    host: ModelHost,
    result: PredictionBatch,
    rows: list[dict],
    ids: list[str],
    request: InferRequest,
) -> bytes:
    response_id = request.id if request.id is not None else new_id()
    return dumps(encode_response(served.name, str(host.version), request, result, ids, response_id))


_infer = data_plane(Wire("infer", _check, _decode, _encode, reviews=False))


async def infer(request: Request) -> Response:
    response = await _infer(request)
    return response if response.status_code == 200 else as_v2_error(response)


_MODEL = "/v2/models/{name}"
_VERSION = "/v2/models/{name}/versions/{version}"

# infer first: Starlette tries routes in order, and every route tried costs the hot path
routes: list[Route] = [
    Route(_MODEL + "/infer", infer, methods=["POST"]),
    Route(_VERSION + "/infer", infer, methods=["POST"]),
    Route("/v2", server_metadata, methods=["GET"]),
    Route("/v2/health/live", live, methods=["GET"]),
    Route("/v2/health/ready", ready, methods=["GET"]),
    Route(_MODEL, model_metadata, methods=["GET"]),
    Route(_MODEL + "/ready", model_ready, methods=["GET"]),
    Route(_VERSION, model_metadata, methods=["GET"]),
    Route(_VERSION + "/ready", model_ready, methods=["GET"]),
]
