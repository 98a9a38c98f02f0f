"""The review queue page: the next task for this reviewer with its input (an image shown as an
image), the model's answer and confidence, one-key decisions, and the queue's stats.

Opening the page claims a task with ``review.queue.next_task``, as ``GET /api/review/next``
does, for the viewer: ``token:<id>`` with auth on (the name /api gives the same token, so a
reviewer moving between the dashboard and a script holds one claim), ``ui`` with auth off. Keys
1..9 pick the model version's classes in their order, Enter accepts the model's answer and ``s``
skips (releases the task, which this page then passes over); a decision is committed by
``queue.decide`` before the next task replaces it in place. A refusal (the task is claimed by
someone else, already decided, a label the model does not know) is shown where the task was,
and nothing is stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...data.slices import as_text as label_text
from ...errors import Conflict, InvalidInput, NotFound
from ...registry import models
from ...review import ReviewStats, ReviewTask, queue
from ...store import Store
from ..actions import new_action_id
from ..inputs import InputField, input_fields, input_image
from ..render import off_loop, render
from ..session import Viewer, check_change, viewer_of

MAX_KEYS = 9  # classes 1..9 get a key; more classes are buttons without one
MAX_SKIPPED = 100  # task ids a page remembers having skipped
MAX_PROBABILITIES = 5


@dataclass(frozen=True)
class Filters:
    """Which queue a page works on, and the tasks it skipped; carried by each form, so a
    decision answers with the next task of the same queue."""

    endpoint: str | None = None
    reason: str | None = None
    skipped: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Filters:
        """From query parameters or a form (empty values mean no filter)."""

        def text(key: str) -> str:
            value = values.get(key)
            return value.strip() if isinstance(value, str) else ""

        skipped = tuple(i for i in text("skipped").split(",") if i)
        return cls(text("endpoint") or None, text("reason") or None, skipped[-MAX_SKIPPED:])

    def skipping(self, task_id: str) -> Filters:
        return Filters(self.endpoint, self.reason, (*self.skipped, task_id)[-MAX_SKIPPED:])

    @property
    def query(self) -> str:
        """The filters as a query string (skips left out: a link starts afresh)."""
        pairs = (("endpoint", self.endpoint), ("reason", self.reason))
        return urlencode({k: v for k, v in pairs if v})


@dataclass(frozen=True)
class Choice:
    """A decision button: the class as the form posts it, and its key (None past nine)."""

    value: str
    key: str | None
    is_answer: bool


@dataclass(frozen=True)
class TaskView:
    """A claimed task as the page shows it. ``choices`` is None when any label goes (the model
    version lists no classes, or the task is a dataset's example)."""

    task: ReviewTask
    image: str | None  # the whole input as a data: URL, when it is an image
    fields: list[InputField]
    more_fields: int
    choices: list[Choice] | None
    answer: str | None
    probabilities: list[tuple[str, float]]


def reviewer_of(viewer: Viewer) -> str:
    """The name a viewer's claims and decisions carry (the same as /api gives their token)."""
    return f"token:{viewer.token_id}" if viewer.token_id is not None else "ui"


def claim_next(reviewer: str, filters: Filters, *, lease_s: float, store: Store) -> TaskView | None:
    """Claim (or renew) this reviewer's next task in the filtered queue; None when it is empty.
    Raises NotFound for an unknown endpoint and InvalidInput for an unknown reason."""
    task = queue.next_task(
        reviewer=reviewer,
        endpoint=filters.endpoint,
        reason=filters.reason,
        skip=filters.skipped,
        lease_s=lease_s,
        store=store,
    )
    return None if task is None else task_view(task, store=store)


def task_view(task: ReviewTask, *, store: Store) -> TaskView:
    answer = None if task.answer is None else label_text(task.answer)
    classes = _classes(task, store)
    choices = None
    if classes is not None:
        choices = [
            Choice(label_text(c), str(i + 1) if i < MAX_KEYS else None, label_text(c) == answer)
            for i, c in enumerate(classes)
        ]
    image = input_image(task.inputs)
    fields, more = ([], 0) if image is not None else input_fields(task.inputs)
    outputs = task.outputs if isinstance(task.outputs, dict) else {}
    probabilities = outputs.get("probabilities")
    top = (
        sorted(
            ((label_text(k), float(p)) for k, p in probabilities.items() if _number(p)),
            key=lambda kv: -kv[1],
        )[:MAX_PROBABILITIES]
        if isinstance(probabilities, dict)
        else []
    )
    return TaskView(task, image, fields, more, choices, answer, top)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _classes(task: ReviewTask, store: Store) -> list[Any] | None:
    """The classes a decision must be one of: the model version's, as ``queue.decide`` checks
    them; None for a dataset's example, or a version that lists none."""
    if task.endpoint.startswith(queue.DATASET_QUEUE_PREFIX):
        return None
    try:
        version = models.get(task.model, store=store)
    except NotFound:
        return None
    classes = (version.signature or {}).get("classes")
    return list(classes) if classes else None


def oldest_since(stats: ReviewStats) -> datetime | None:
    """When the oldest waiting task arrived (for "12 min ago")."""
    age = stats.oldest_open_age_s
    return None if age is None else datetime.now(UTC) - timedelta(seconds=age)


# -- handlers ---------------------------------------------------------------------------------


async def review_page(request: Request) -> Response:
    viewer = viewer_of(request, "reviewer")
    filters = Filters.of(request.query_params)
    store = request.app.state.inprod.store
    view = await _claim(request, reviewer_of(viewer), filters)
    stats = await off_loop(queue.stats, endpoint=filters.endpoint, store=store)
    return render(
        request, "review.html", filters=filters, view=view, stats=stats,
        oldest=oldest_since(stats), notice="", error="", new_action_id=new_action_id,
    )  # fmt: skip


async def next_fragment(request: Request) -> Response:
    """The task area alone (the empty queue's "check again")."""
    viewer = viewer_of(request, "reviewer")
    return await _task_area(request, reviewer_of(viewer), Filters.of(request.query_params))


async def stats_fragment(request: Request) -> Response:
    viewer_of(request, "reviewer")
    endpoint = Filters.of(request.query_params).endpoint
    stats = await off_loop(queue.stats, endpoint=endpoint, store=request.app.state.inprod.store)
    return render(request, "_review_stats.html", stats=stats, oldest=oldest_since(stats))


async def decide(request: Request) -> Response:
    """Decide the task with the posted label; answers with the next task (or the refusal)."""
    viewer = await check_change(request, "reviewer")
    reviewer = reviewer_of(viewer)
    form = await request.form()
    filters = Filters.of(form)
    label = form.get("label")
    label = label.strip() if isinstance(label, str) else None
    store = request.app.state.inprod.store

    async def act() -> ReviewTask:
        return await off_loop(
            queue.decide, request.path_params["task_id"], label, reviewer=reviewer, store=store
        )

    try:
        task, _ = await request.app.state.actions.run_once(form.get("action_id"), act)
    except (Conflict, InvalidInput, NotFound) as exc:
        return await _task_area(request, reviewer, filters, error=exc.message, status=exc.status)
    said = {True: ", as the model said", False: f"; the model said {label_text(task.answer)}"}
    notice = f"Decided {label_text(task.decision)}{said.get(task.agrees, '')}."
    response = await _task_area(request, reviewer, filters, notice=notice)
    response.headers["HX-Trigger"] = "review-decided"  # the stats card reloads
    return response


async def skip(request: Request) -> Response:
    """Give the task back to the queue and show the next one, passing over the skipped."""
    viewer = await check_change(request, "reviewer")
    reviewer = reviewer_of(viewer)
    form = await request.form()
    task_id = request.path_params["task_id"]
    store = request.app.state.inprod.store

    async def act() -> ReviewTask:
        return await off_loop(queue.release, task_id, reviewer=reviewer, store=store)

    filters = Filters.of(form)
    passed = filters.skipping(task_id)
    notice = error = ""
    status = 200
    try:
        await request.app.state.actions.run_once(form.get("action_id"), act)
        notice = "Skipped: the task is back in the queue for someone else."
    except Conflict as exc:  # not ours any more (say, the lease ran out): pass it over all the same
        error, status = exc.message, exc.status
    except (InvalidInput, NotFound) as exc:  # no such task, or a form without its action id
        error, status, passed = exc.message, exc.status, filters
    return await _task_area(request, reviewer, passed, notice=notice, error=error, status=status)


async def _claim(request: Request, reviewer: str, filters: Filters) -> TaskView | None:
    state = request.app.state.inprod
    return await off_loop(
        claim_next, reviewer, filters, lease_s=state.settings.review_lease_seconds,
        store=state.store,
    )  # fmt: skip


async def _task_area(
    request: Request,
    reviewer: str,
    filters: Filters,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    view = await _claim(request, reviewer, filters)
    return render(
        request, "_review_task.html", status, filters=filters, view=view, notice=notice,
        error=error, new_action_id=new_action_id,
    )  # fmt: skip


routes: list[BaseRoute] = [
    Route("/review", review_page, methods=["GET"]),
    Route("/review/next", next_fragment, methods=["GET"]),
    Route("/review/stats", stats_fragment, methods=["GET"]),
    Route("/review/{task_id}/decide", decide, methods=["POST"]),
    Route("/review/{task_id}/skip", skip, methods=["POST"]),
]
