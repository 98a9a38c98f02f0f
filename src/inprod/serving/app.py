"""The ASGI app: data plane, control plane, /metrics, /healthz, /readyz (``inprod serve``).

One process holds a :class:`ServingRuntime` (loaded models), a :class:`PredictionLog` (the tap and
its writer thread) and a :class:`ServerMetrics` registry. Shutdown order matters: uvicorn first
stops accepting and lets in-flight requests finish, then the lifespan closes the models and
flushes the log, so every prediction answered is also stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import __version__
from ..config import Settings, load_settings
from ..errors import InprodError
from ..monitoring.service import MonitorService
from ..monitoring.windows import FeatureFunctions, WindowAggregator
from ..retraining.worker import RetrainingWorker
from ..rollout.controller import RolloutController
from ..store import Store
from ..ui import create_ui
from .auth import DOCS_STATIC, guard_of
from .auth import wrap as require_tokens
from .codec import dumps
from .http_errors import (
    inprod_error_handler,
    internal_error,
    unhandled_error_handler,
    validation_error_handler,
)
from .metrics import ServerMetrics
from .plan_watch import PlanWatcher
from .routes_api import router as api_router
from .routes_monitoring import router as monitoring_router
from .routes_pipelines import router as pipelines_router
from .routes_retraining import router as retraining_router
from .routes_review import router as review_router
from .routes_rollout import router as rollout_router
from .routes_tokens import router as tokens_router
from .routes_v1 import feedback, predict
from .routes_v2 import routes as v2_routes
from .runtime import ServingRuntime
from .shadow import ShadowRunner
from .tap import PredictionLog

log = logging.getLogger(__name__)


# How long a thread may hold the GIL before another may take it. Python's default, 5 ms, lets the
# log writer's batch work hold up the event loop in 5 ms slices; 0.5 ms brought the p99 at 32
# clients from 1.41x to 1.20x the bare ceiling's (benchmarks/serving/README.md).
GIL_SWITCH_INTERVAL_S = 0.0005


@dataclass
class ServerState:
    store: Store
    settings: Settings
    runtime: ServingRuntime
    tap: PredictionLog
    metrics: ServerMetrics
    max_body_bytes: int
    controller: RolloutController
    shadow: ShadowRunner
    plan_watch: PlanWatcher
    monitors: MonitorService
    retraining: RetrainingWorker


STATIC = Path(__file__).parent / "static"


async def _swagger() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="inprod API",
        swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
        swagger_favicon_url="data:,",
    )


async def _to_dashboard() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


def create_app(
    store: Store | None = None, *, settings: Settings | None = None, auth: bool = False
) -> FastAPI:
    """Build the app for ``store`` (default: the one the settings name); ``auth``: bearer tokens."""
    settings = settings or load_settings()
    store = store or Store.from_settings(settings)
    metrics = ServerMetrics()
    tap = PredictionLog(
        store,
        capacity=settings.log_buffer_capacity,
        on_flush=metrics.log_written.inc,
        on_drop=metrics.log_dropped.inc,
        windows=WindowAggregator(
            window_s=settings.profile_seconds, features=FeatureFunctions(store)
        )
        if settings.profile_seconds > 0
        else None,
    )
    metrics.log_capacity.set(settings.log_buffer_capacity)
    metrics.log_buffer.set_function(lambda: len(tap))
    runtime = ServingRuntime(store, metrics, refresh_s=settings.refresh_seconds)
    controller = RolloutController(
        store, tick_s=settings.rollout_tick_seconds, on_change=runtime.refresh
    )
    state = ServerState(
        store, settings, runtime, tap, metrics, settings.max_body_bytes, controller,
        ShadowRunner(tap, metrics), PlanWatcher(store, runtime.refresh),
        MonitorService(
            store,
            tick_s=settings.monitor_tick_seconds,
            leadership=controller.leadership,
            profile_s=settings.profile_seconds or 60,
        ),
        RetrainingWorker(
            store, tick_s=settings.retrain_tick_seconds, leadership=controller.leadership
        ),
    )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.ensure_schema)
        previous_switch = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        tap.start()
        await runtime.start()
        await state.plan_watch.start()
        await controller.start()
        await state.monitors.start()
        await state.retraining.start()
        log.info("serving %d endpoint(s)", len(runtime.endpoints))
        try:
            yield
        finally:
            await state.retraining.stop()
            await state.monitors.stop()
            await controller.stop()
            await state.plan_watch.stop()
            await state.shadow.stop()
            await runtime.stop()
            await asyncio.to_thread(tap.close)
            sys.setswitchinterval(previous_switch)
            log.info("stopped; %d prediction(s) written, %d dropped", tap.written, tap.dropped)

    app = FastAPI(
        title="inprod",
        version=__version__,
        summary="Prediction server and control plane",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below from the vendored Swagger UI: no CDN, works offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.inprod = state
    app.add_exception_handler(InprodError, inprod_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.router.routes.extend(
        [
            Route("/v1/endpoints/{name}/predict", predict, methods=["POST"]),
            Route("/v1/predictions/{prediction_id}/feedback", feedback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
            *v2_routes,
        ]
    )
    app.mount(DOCS_STATIC, StaticFiles(directory=STATIC / "swagger"), name="docs-static")
    app.add_api_route("/api/docs", _swagger, include_in_schema=False)
    app.include_router(api_router)
    app.include_router(tokens_router)
    app.include_router(rollout_router)
    app.include_router(review_router)
    app.include_router(monitoring_router)
    app.include_router(pipelines_router)
    app.include_router(retraining_router)
    ui = create_ui(state)
    app.mount("/ui", ui)
    app.add_api_route("/ui", _to_dashboard, include_in_schema=False)
    app = require_tokens(app, store=store, enabled=auth, refresh_s=settings.auth_refresh_seconds)
    ui.state.guard = guard_of(app)  # the dashboard logs people in against the same tokens
    return PredictFastPath(app)  # type: ignore[return-value]


_PREDICT_PREFIX = "/v1/endpoints/"
_PREDICT_SUFFIX = "/predict"


class PredictFastPath:
    """Sends ``POST /v1/endpoints/{name}/predict`` straight to its handler.

    Why: FastAPI's middleware stack and router cost ~14% of a prediction's server time
    (benchmarks/serving); the handler needs none of it — it answers every error itself. Every
    other request goes through the full app. Attributes are forwarded so the wrapper stays
    transparent (``.state``, ``.router``, ``.openapi()``).
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.guard = guard_of(app)  # the same token check as the app's middleware, when auth is on

    def __getattr__(self, name: str) -> object:
        return getattr(self.app, name)

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and path.startswith(_PREDICT_PREFIX)
            and path.endswith(_PREDICT_SUFFIX)
        ):
            name = path[len(_PREDICT_PREFIX) : -len(_PREDICT_SUFFIX)]
            if name and "/" not in name:
                if self.guard is not None:
                    refusal = self.guard.check("POST", path, scope["headers"])
                    if refusal is not None:
                        await refusal(scope, receive, send)  # type: ignore[arg-type]
                        return
                scope["app"] = self.app
                scope["path_params"] = {"name": name}
                request = Request(scope, receive)  # type: ignore[arg-type]
                try:
                    response = await predict(request)
                except Exception as exc:  # a bug, not the model: still a JSON 500 with an id
                    response = internal_error(f"POST {path} failed", exc)[1]
                await response(scope, receive, send)  # type: ignore[arg-type]
                return
        await self.app(scope, receive, send)  # type: ignore[arg-type]


def _json(value: object, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: ServerState = request.app.state.inprod
    problems = {n: e.error for n, e in state.runtime.endpoints.items() if e.host is None}
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, state.store), timeout=3)
    except Exception as exc:
        problems["store"] = f"store unreachable: {exc}"
    endpoints = {
        n: (e.host.ref if e.host is not None else None) for n, e in state.runtime.endpoints.items()
    }
    if problems:
        return _json({"status": "not ready", "problems": problems, "endpoints": endpoints}, 503)
    return _json({"status": "ready", "endpoints": endpoints})


def _ping(store: Store) -> None:
    with store.session(write=False) as s:
        s.execute(text("SELECT 1"))


async def metrics_route(request: Request) -> Response:
    state: ServerState = request.app.state.inprod
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def app_from_settings() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``inprod serve --workers N``)."""
    return create_app()


def app_with_auth_from_settings() -> FastAPI:
    """Factory for ``inprod serve --workers N`` with auth on."""
    return create_app(auth=True)
