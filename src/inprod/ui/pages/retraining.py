"""The retraining pages: every policy with what its triggers last saw and the latest requests
(``/ui/retraining``), and one request's story (``/ui/retraining/{id}``) with Approve and Cancel
buttons for operators.

The list reads what ``inprod retrain policy list`` and ``inprod retrain list`` read, and the
endpoints' names: a few small queries, whatever the number of requests (the latest ``LIMIT``
of the filter, newest first by id). The story is the request's ``details`` as the runner
recorded them (:mod:`inprod.retraining.runner`): triggers, steps, the train step's sweep
table, the gate, the rescore figures.

Approving calls :func:`inprod.retraining.requests.approve`, as ``POST
/api/retraining/requests/{id}/approve`` does: an ``open`` request becomes ``approved`` (the
server's worker runs it), one ``awaiting_approval`` starts its canary
(:func:`inprod.retraining.runner.approve_deploy`). Cancelling calls
:func:`inprod.retraining.requests.cancel` with the reason typed next to the button; a running
request is not offered (``inprod retrain cancel --force`` is for a dead worker's). Each form
carries a fresh action id, so a double click acts once; a refusal (Conflict, NotFound) shows
above the story, with the status code it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import InprodError, InvalidInput, NotFound, suggest
from ...retraining import policies, requests
from ...retraining.policies import PolicyInfo
from ...retraining.requests import FINISHED, STATUSES, RequestInfo
from ...retraining.sweeps import describe
from ...retraining.triggers import parse_trigger
from ...store import Store
from ...store.tables import Endpoint, RetrainingRequest
from ..actions import new_action_id
from ..render import fmt_when, off_loop, render
from ..session import check_change, viewer_of

LIMIT = 200  # requests the list shows: the latest of the filter
STATUS_FILTERS = ("all", *STATUSES)
ACTIONS = ("approve", "cancel")
MAX_REASON = 2000


@dataclass(frozen=True)
class TriggerSeen:
    """One trigger of a policy and what it last saw (its mark in ``policy.marks``)."""

    text: str
    seen: str


@dataclass(frozen=True)
class PolicyRow:
    policy: PolicyInfo
    triggers: list[TriggerSeen]


@dataclass(frozen=True)
class RequestRow:
    """One request in the list: ``joined`` counts the triggers that joined the first."""

    id: int
    endpoint: str
    status: str
    trigger: str
    joined: int
    last_step: str
    candidate: str | None
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class RetrainingList:
    policies: list[PolicyRow]
    requests: list[RequestRow]
    endpoints: list[str]  # for the filter


def retraining_list(*, endpoint: str | None, status: str, store: Store) -> RetrainingList:
    """The policies (of ``endpoint`` when given) and the latest ``LIMIT`` requests of the
    filter. InvalidInput for an endpoint that neither exists nor has requests."""
    with store.session(write=False) as s:
        names = set(s.scalars(select(Endpoint.name)))
        if endpoint is not None and endpoint not in names:
            asked = s.scalar(
                select(RetrainingRequest.id).where(RetrainingRequest.endpoint == endpoint).limit(1)
            )
            if asked is None:
                raise InvalidInput(
                    f"endpoint {endpoint!r} has no retraining requests; "
                    f"{suggest(endpoint, names, what='endpoints')}",
                    field="endpoint",
                )
    found = policies.list_policies(store=store)
    rows = requests.list_requests(
        endpoint=endpoint, status=None if status == "all" else status, limit=LIMIT, store=store
    )
    return RetrainingList(
        policies=[
            PolicyRow(p, [TriggerSeen(t, last_seen(t, p.marks)) for t in p.triggers])
            for p in found
            if endpoint is None or p.endpoint == endpoint
        ],
        requests=[_request_row(r) for r in rows],
        endpoints=sorted(names | {p.endpoint for p in found}),
    )


def last_seen(trigger: str, marks: dict[str, Any]) -> str:
    """What a trigger's mark says, as a sentence (see :mod:`inprod.retraining.triggers`)."""
    parsed = parse_trigger(trigger)
    if parsed.kind == "alert":
        seen = (marks.get(parsed.text) or {}).get("alert_id")
        return f"last fired on alert {seen}" if seen else "no alert seen yet"
    if parsed.kind == "new-labels":
        count = (marks.get("new-labels") or {}).get("count", 0)
        return f"{count} of {parsed.labels} new labels since the last request"
    mark = marks.get("schedule") or {}
    if not mark.get("at"):
        return "not due yet: the period counts from when the policy was made"
    if mark.get("skipped"):
        return f"skipped at {fmt_when(mark['at'])}: {mark['skipped']}"
    return f"last ran at {fmt_when(mark['at'])}"


def _request_row(r: RequestInfo) -> RequestRow:
    steps = r.steps
    return RequestRow(
        id=r.id, endpoint=r.endpoint, status=r.status, trigger=r.trigger,
        joined=max(len(r.triggers) - 1, 0),
        last_step=f"{steps[-1]['name']} {steps[-1]['status']}" if steps else "",
        candidate=r.details.get("candidate"), created_at=r.created_at, updated_at=r.updated_at,
    )  # fmt: skip


# -- one request's story ------------------------------------------------------------------------
@dataclass(frozen=True)
class StepView:
    name: str
    status: str  # running | done | failed | skipped
    started_at: str | None
    took_s: float | None
    message: str


@dataclass(frozen=True)
class SweepPoint:
    params: str
    value: float | None
    candidate: str | None
    run_id: str
    error: str
    chosen: bool  # the sweep's best: the request's candidate

    @property
    def url(self) -> str | None:
        return registry_url(self.candidate) if self.candidate else None


@dataclass(frozen=True)
class AnswerShare:
    answer: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class Button:
    action: str  # approve | cancel
    label: str
    question: str  # what the browser's confirm asks
    action_id: str


@dataclass(frozen=True)
class RequestStory:
    request: RequestInfo
    steps: list[StepView]
    select: str  # the metric that picked the sweep's best
    sweep: list[SweepPoint]
    gate: dict[str, Any] | None  # the evaluate step's headline: passed, summary, failures
    rescore: dict[str, Any] | None  # the rescore step's outputs
    shares: list[AnswerShare]  # each answer's share before and after re-scoring
    buttons: list[Button]

    @property
    def candidate(self) -> str | None:
        return self.request.details.get("candidate")

    @property
    def candidate_url(self) -> str | None:
        return registry_url(self.candidate) if self.candidate else None


def request_story(request_id: int, *, store: Store) -> RequestStory:
    """The request's story (NotFound for an unknown id, naming the latest)."""
    r = requests.get_request(request_id, store=store)
    outputs = {st["name"]: st.get("outputs") or {} for st in r.steps}
    train, rescore = outputs.get("train", {}), outputs.get("rescore")
    before, after = (rescore or {}).get("before") or {}, (rescore or {}).get("after") or {}
    return RequestStory(
        request=r,
        steps=[_step(st) for st in r.steps],
        select=str(train.get("select") or "value"),
        sweep=[_point(p, r.details.get("candidate")) for p in train.get("sweep") or []],
        gate=r.details.get("evaluation"),
        rescore=rescore,
        shares=[
            AnswerShare(a, before.get(a), after.get(a)) for a in sorted(set(before) | set(after))
        ],
        buttons=buttons(r),
    )


def registry_url(ref: str) -> str:
    """A model version's registry page, from its ``NAME@VERSION`` ref."""
    name, _, version = ref.partition("@")
    return f"/ui/models/{quote(name)}/{quote(version or 'latest')}"


def buttons(r: RequestInfo) -> list[Button]:
    """Approve what waits for a person; Cancel what has not started running or finished (a
    running request is cancelled with ``inprod retrain cancel --force`` when its worker died)."""
    found = []
    if r.status == "open":
        found.append(Button("approve", "Approve", f"Approve request {r.id}? The server's "
                            f"worker then retrains {r.endpoint}.", new_action_id()))  # fmt: skip
    elif r.status == "awaiting_approval":
        what = r.details.get("candidate") or "the candidate"
        found.append(Button("approve", f"Approve the canary of {what}", f"Start the canary of "
                            f"{what} on {r.endpoint}?", new_action_id()))  # fmt: skip
    if r.status in ("open", "approved", "awaiting_approval"):
        found.append(Button("cancel", "Cancel", f"Cancel retraining request {r.id}?",
                            new_action_id()))  # fmt: skip
    return found


def _step(step: dict[str, Any]) -> StepView:
    started, finished = step.get("started_at"), step.get("finished_at")
    took = (
        (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
        if started and finished
        else None
    )
    return StepView(step["name"], step["status"], started, took, step.get("message") or "")


def _point(point: dict[str, Any], candidate: str | None) -> SweepPoint:
    return SweepPoint(
        params=describe(point.get("params") or {}), value=point.get("value"),
        candidate=point.get("candidate"), run_id=point.get("run_id") or "",
        error=point.get("error") or "",
        chosen=candidate is not None and point.get("candidate") == candidate,
    )  # fmt: skip


# -- routes -------------------------------------------------------------------------------------
def parse_filters(request: Request) -> tuple[str | None, str]:
    endpoint = request.query_params.get("endpoint") or None
    status = request.query_params.get("status") or "all"
    if status not in STATUS_FILTERS:
        raise InvalidInput(
            f"status {status!r} is not one of {', '.join(STATUS_FILTERS)}", field="status"
        )
    return endpoint, status


async def retraining_page(request: Request) -> Response:
    viewer_of(request)
    endpoint, status = parse_filters(request)
    found = await off_loop(
        retraining_list, endpoint=endpoint, status=status, store=request.app.state.inprod.store
    )
    return render(
        request, "retraining.html", found=found, endpoint=endpoint, shown=status,
        statuses=STATUS_FILTERS, limit=LIMIT,
    )  # fmt: skip


async def story_page(request: Request) -> Response:
    viewer_of(request)
    return await _story(request, notice="", error="")


async def act(request: Request) -> Response:
    """Approve or cancel once per action id; the story again, with what happened (or why it
    was refused) above it."""
    viewer = await check_change(request, "operator")
    request_id, action = request.path_params["request_id"], request.path_params["action"]
    if action not in ACTIONS:
        raise NotFound(f"no retraining action {action!r}; use one of {', '.join(ACTIONS)}")
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    state = request.app.state.inprod
    try:
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"the reason has {len(reason)} characters; at most {MAX_REASON}")

        async def run() -> RequestInfo:
            if action == "cancel":
                return await off_loop(requests.cancel, request_id, reason=reason,
                                      actor=viewer.actor, store=state.store)  # fmt: skip
            done = await off_loop(requests.approve, request_id, actor=viewer.actor,
                                  store=state.store)  # fmt: skip
            if done.status == "deployed":  # the canary started: serve it now, not at a refresh
                await state.runtime.refresh()
            return done

        done, _ = await request.app.state.actions.run_once(form.get("action_id"), run)
    except InprodError as exc:
        return await _story(request, status=exc.status, notice="", error=exc.message)
    notice, error = _outcome(done, viewer.actor)
    return await _story(request, notice=notice, error=error)


def _outcome(done: RequestInfo, actor: str) -> tuple[str, str]:
    """(notice, error) for what an action left the request as."""
    message = done.details.get("message") or ""
    if done.status == "approved":
        return f"Approved by {actor}: the server's worker runs it next.", ""
    if done.status in FINISHED - {"deployed", "cancelled"}:
        return "", f"Request {done.id} is {done.status}: {message}"
    return f"Request {done.id} is {done.status}: {message}", ""


async def _story(request: Request, *, status: int = 200, notice: str, error: str) -> Response:
    story = await off_loop(
        request_story, request.path_params["request_id"], store=request.app.state.inprod.store
    )
    htmx = request.method == "POST" and request.headers.get("hx-request") == "true"
    template = "_retraining_story.html" if htmx else "retraining_request.html"
    return render(request, template, status, story=story, notice=notice, error=error)


routes: list[BaseRoute] = [
    Route("/retraining", retraining_page, methods=["GET"]),
    Route("/retraining/{request_id:int}", story_page, methods=["GET"]),
    Route("/retraining/{request_id:int}/{action}", act, methods=["POST"]),
]
