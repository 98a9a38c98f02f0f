"""The registry pages: every model, a model's versions, and one version with its signature, metrics
per slice, run and lineage graph.

A registry may hold thousands of versions, so the lists are read a page at a time (``?page=``,
``PAGE_SIZE`` rows) with bounded queries on the ``(model_id, version)`` index, never every row.
Which endpoints serve a model comes from the deployment plans, resolved against the aliases
already read for the page, so it costs one query however many endpoints there are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import InvalidInput
from ...refs import parse_ref
from ...registry import models
from ...registry._lookup import aliases_by_version, find_model, version_info
from ...registry.lineage import lineage
from ...rollout.actions import list_plans
from ...rollout.plan import DeploymentPlan
from ...store import Store
from ...store.tables import Model, ModelVersion
from ...tracking.queries import get_run
from ..lineage_svg import lineage_svg
from ..render import off_loop, render
from ..session import viewer_of

PAGE_SIZE = 50
MAX_SIGNATURE_ROWS = 200
KEY_METRICS = 4


@dataclass(frozen=True)
class Pager:
    """Where a paged list is: ``page`` counts from 1; ``pages`` is at least 1."""

    page: int
    total: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def check(self) -> Pager:
        if self.page > self.pages:
            raise InvalidInput(
                f"page {self.page} is past the last page ({self.pages}); "
                f"use ?page=1 to ?page={self.pages}",
                field="page",
            )
        return self


@dataclass(frozen=True)
class Serving:
    """One endpoint serving a model version, and in which role."""

    endpoint: str
    role: str  # primary | shadow | canary | green | previous
    version: int | None  # None: the plan names an alias or version that no longer exists
    share: float | None = None  # a canary's share of the traffic (0..1)


def page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"page {text!r} must be a whole number >= 1, e.g. ?page=2", field="page")
    return int(text)


# -- reading the store (each runs in a worker thread) -------------------------------------------


def models_page(store: Store, page: int, *, size: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of models by name, with versions count, latest, aliases and serving endpoints."""
    with store.session(write=False) as s:
        total = s.scalar(select(func.count()).select_from(Model)) or 0
        pager = Pager(page, total, size).check()
        rows = s.scalars(
            select(Model).order_by(Model.name).offset(pager.offset).limit(pager.size)
        ).all()
        infos = models.model_infos(s, rows)
    serving = serving_of(list_plans(store=store), infos)
    return {"models": infos, "serving": serving, "pager": pager}


def versions_page(store: Store, name: str, page: int, *, size: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of a model's versions, newest first; raises NotFound for an unknown model."""
    with store.session(write=False) as s:
        model = find_model(s, name)
        [info] = models.model_infos(s, [model])
        pager = Pager(page, info.versions, size).check()
        rows = s.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(ModelVersion.version.desc())
            .offset(pager.offset)
            .limit(pager.size)
        ).all()
        aliases = aliases_by_version(s, model.id)
        versions = [version_info(s, model, v, aliases) for v in rows]
    serving = serving_of(list_plans(store=store), [info]).get(name, [])
    return {"model": info, "versions": versions, "serving": serving, "pager": pager}


def version_page(store: Store, name: str, selector: str) -> dict[str, Any]:
    """One version (``selector`` is a number or an alias) with its run and lineage.

    Raises InvalidInput for a malformed selector (``x@y``), NotFound for an unknown one.
    """
    info = models.get(f"{name}@{selector}", store=store)
    tree = lineage(info.ref, store=store)
    run = get_run(info.run_id, store=store) if info.run_id else None
    with store.session(write=False) as s:
        [model] = models.model_infos(s, [find_model(s, name)])
    on_endpoints = serving_of(list_plans(store=store), [model]).get(name, [])
    serving = [x for x in on_endpoints if x.version == info.version]
    return {
        "info": info,
        "model": model,
        "run": run,
        "serving": serving,
        "signature": signature_rows(info.signature),
        "slices": slice_table(run.slice_metrics if run else {}, info.metrics),
        "lineage": lineage_svg(tree),
    }


def serving_of(
    plans: list[DeploymentPlan], infos: list[models.ModelInfo], now: datetime | None = None
) -> dict[str, list[Serving]]:
    """model name -> the endpoints serving one of its versions, for the models in ``infos``."""
    known = {i.name: i for i in infos}
    now = now or datetime.now(UTC)
    out: dict[str, list[Serving]] = {}

    def add(ref: str, endpoint: str, role: str, share: float | None = None) -> None:
        parsed = parse_ref(ref, what="model reference")
        info = known.get(parsed.name)
        if info is None:
            return
        if parsed.alias is not None:
            version = info.aliases.get(parsed.alias)
        else:
            version = parsed.version or info.latest_version or None
        out.setdefault(parsed.name, []).append(Serving(endpoint, role, version, share))

    for plan in plans:
        add(plan.primary_ref, plan.endpoint, "primary")
        if plan.candidate is not None:
            cand = plan.candidate
            share = cand.weight if cand.role == "canary" else None
            add(cand.ref, plan.endpoint, cand.role, share)
        previous = plan.previous_live(now)
        if previous is not None:
            add(previous.ref, plan.endpoint, "previous")
    return out


def signature_rows(signature: dict[str, Any]) -> dict[str, Any]:
    """The signature as table rows (part, name, dtype, shape), cut at ``MAX_SIGNATURE_ROWS``."""
    rows: list[dict[str, str]] = []
    for part in ("inputs", "outputs"):
        schema = signature.get(part)
        if not schema:
            rows.append({"part": part, "name": "–", "dtype": "unknown", "shape": ""})
        elif schema.get("kind") == "columns":
            rows.extend(
                {"part": part, "name": c["name"], "dtype": c.get("dtype") or "any", "shape": ""}
                for c in schema["columns"]
            )
        else:
            dims = ["N" if i == 0 else str(d) for i, d in enumerate(schema.get("shape") or [])]
            dtype = schema.get("dtype") or "any"
            rows.append(
                {"part": part, "name": "(tensor)", "dtype": dtype, "shape": f"[{', '.join(dims)}]"}
            )
    classes = signature.get("classes")
    return {
        "rows": rows[:MAX_SIGNATURE_ROWS],
        "hidden": max(0, len(rows) - MAX_SIGNATURE_ROWS),
        "classes": None if classes is None else [str(c) for c in classes],
    }


def slice_table(slices: dict[str, dict[str, float]], overall: dict[str, float]) -> dict[str, Any]:
    """Slices as rows and their metric keys as columns, each value with its difference from the
    version's overall metric of the same name (where there is one)."""
    keys = sorted({k for metrics in slices.values() for k in metrics})
    rows = [
        {
            "slice": name,
            "cells": [
                {
                    "value": metrics.get(key),
                    "delta": None
                    if metrics.get(key) is None or key not in overall
                    else metrics[key] - overall[key],
                }
                for key in keys
            ],
        }
        for name, metrics in sorted(slices.items())
    ]
    return {"keys": keys, "rows": rows}


def key_metrics(metrics: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(metrics.items())[:KEY_METRICS]


# -- pages ---------------------------------------------------------------------------------------


async def models_list(request: Request) -> Response:
    viewer_of(request)
    page = page_number(request)
    data = await off_loop(models_page, request.app.state.inprod.store, page)
    return render(request, "models.html", **data)


async def model_versions(request: Request) -> Response:
    viewer_of(request)
    page = page_number(request)
    name = request.path_params["name"]
    data = await off_loop(versions_page, request.app.state.inprod.store, name, page)
    return render(request, "model.html", key_metrics=key_metrics, **data)


async def model_version(request: Request) -> Response:
    viewer_of(request)
    name, selector = request.path_params["name"], request.path_params["version"]
    data = await off_loop(version_page, request.app.state.inprod.store, name, selector)
    return render(request, "model_version.html", **data)


routes: list[BaseRoute] = [
    Route("/models", models_list, methods=["GET"]),
    Route("/models/{name}", model_versions, methods=["GET"]),
    Route("/models/{name}/{version}", model_version, methods=["GET"]),
]
