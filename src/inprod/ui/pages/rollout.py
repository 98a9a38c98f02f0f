"""The rollout page: an endpoint's deployment plan, what the rollout controller judges now (each
gate's live value against its limit), the plan's history, and the buttons that steer it.

The page reads what ``inprod deploy status`` and ``deploy history`` read: ``deploy.status`` runs
the controller's own judgement, so what a person sees is what the controller will do next. The
live part re-renders every few seconds. A button calls the same ``inprod.deploy`` function as
``POST /api/endpoints/{name}/plan/{action}``, audited with the viewer as actor and the reason
they typed, and shows only where the plan's state machine allows its action. Each form carries
a fresh action id, so a double click or a re-sent form acts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ... import deploy
from ...errors import Conflict, InvalidInput, NotFound
from ...rollout.actions import PlanEvent
from ...store import Store
from ..actions import new_action_id
from ..render import off_loop, render
from ..session import check_change, viewer_of

STEER = ("promote", "pause", "resume", "abort", "rollback")
HISTORY_LIMIT = 50
LIVE_REFRESH_S = 3
MODES = {"shadow": "shadow", "canary": "canary", "green": "blue-green"}
DONE = {
    "promote": "Promoted",
    "pause": "Paused",
    "resume": "Resumed",
    "abort": "Stopped",
    "rollback": "Rolled back",
}
DOING = {
    "promote": "promoting",
    "pause": "pausing",
    "resume": "resuming",
    "abort": "stopping",
    "rollback": "rolling back",
}


@dataclass(frozen=True)
class Button:
    """One steering button: the action it posts, its label, the question its prompt asks (the
    answer is the reason kept in the history) and a fresh action id for its form."""

    action: str
    label: str
    prompt: str
    action_id: str
    danger: bool = False


@dataclass(frozen=True)
class Step:
    percent: float
    status: str  # done | current | next


@dataclass(frozen=True)
class RolloutView:
    """Everything the page shows about one endpoint's rollout; ``status`` is ``deploy.status``
    (the plan's dict with ``primary_version`` and the controller's ``judgement``)."""

    endpoint: str
    status: dict[str, Any]
    history: list[PlanEvent]  # newest first
    buttons: list[Button]

    @property
    def candidate(self) -> dict[str, Any] | None:
        return self.status["candidate"]

    @property
    def mode(self) -> str | None:
        """shadow, canary or blue-green while a candidate is tried; None otherwise."""
        return None if self.candidate is None else MODES.get(self.candidate["role"])

    @property
    def steps(self) -> list[Step]:
        cand = self.candidate
        if cand is None or cand["role"] != "canary":
            return []
        return [
            Step(p, "done" if i < cand["step"] else "current" if i == cand["step"] else "next")
            for i, p in enumerate(cand["steps"])
        ]

    @property
    def step_ends(self) -> datetime | None:
        """The earliest time the current canary step may end (its interval is over)."""
        cand = self.candidate
        if cand is None or cand["role"] != "canary" or not cand.get("step_started_at"):
            return None
        started = datetime.fromisoformat(cand["step_started_at"])
        return started + timedelta(seconds=cand["interval_s"])

    @property
    def primary_share(self) -> float:
        cand = self.candidate
        return 1.0 - (cand["weight"] if cand is not None else 0.0)


def rollout_view(endpoint: str, *, store: Store) -> RolloutView:
    """The plan, the controller's judgement and the last ``HISTORY_LIMIT`` changes (raises
    NotFound for an unknown endpoint). Gates are judged as the controller judges them: over the
    current step's window of logged answers, which is minutes of one version's traffic."""
    status = deploy.status(endpoint, store=store)
    events = deploy.history(endpoint, limit=HISTORY_LIMIT, store=store)
    return RolloutView(endpoint, status, events[::-1], buttons(endpoint, status))


def buttons(endpoint: str, status: dict[str, Any]) -> list[Button]:
    """The steering buttons that apply to the plan's state, in a stable order."""
    allowed = set(status["allowed_actions"])
    cand, previous = status["candidate"], status["previous"]
    if cand is None and previous is None:  # "promoted" by hand, with nothing to go back to
        allowed.discard("rollback")
    if "rollback" in allowed:  # a canary's rollback stops it too; one red button is enough
        allowed.discard("abort")
    what = cand["ref"] if cand is not None else "the candidate"
    share = f"{cand['weight']:.0%}" if cand is not None else ""
    back = previous["ref"] if previous is not None else ""
    offers = {
        "promote": (f"Promote {what}", f"Promote {what} to serve all of {endpoint}'s traffic?"),
        "pause": (f"Pause at {share}", f"Hold {what} at {share} of {endpoint}'s traffic?"),
        "resume": ("Resume", f"Go on ramping {what} on {endpoint}?"),
        "abort": (f"Stop {what}", f"Stop trying {what}? The primary keeps serving {endpoint}."),
        "rollback": (f"Roll back {what}", f"Take {what} out of {endpoint}'s traffic?")
        if cand is not None
        else (f"Roll back to {back}", f"Serve {back} again on {endpoint}?"),
    }
    return [
        Button(
            action,
            label,
            f"{question} Reason for {DOING[action]}:",
            new_action_id(),
            danger=action == "rollback",
        )
        for action in STEER
        if action in allowed
        for label, question in [offers[action]]
    ]


async def rollout_page(request: Request) -> Response:
    viewer_of(request)
    view = await _view(request)
    return render(
        request,
        "rollout.html",
        view=view,
        refresh_s=LIVE_REFRESH_S,
        steered=False,
        notice="",
        error="",
    )


async def rollout_live(request: Request) -> Response:
    """The live part alone: what the page polls, and what an action answers with."""
    viewer_of(request)
    return render(request, "_rollout_live.html", view=await _view(request), steered=False)


async def steer(request: Request) -> Response:
    """promote / pause / resume / abort / rollback with the reason from the page's prompt;
    answers the live part re-rendered, with the refusal in place when the state machine says
    no."""
    viewer = await check_change(request, "operator")
    name, action = request.path_params["name"], request.path_params["action"]
    if action not in STEER:
        raise NotFound(f"no rollout action {action!r}; use one of {', '.join(STEER)}")
    form = await request.form()
    state = request.app.state.inprod
    notice = error = ""
    status = 200
    try:
        reason = reason_of(request, form.get("reason"))

        async def act() -> deploy.DeploymentPlan:
            plan = await off_loop(
                getattr(deploy, action), name, reason=reason, actor=viewer.actor, store=state.store
            )
            await state.runtime.refresh()
            return plan

        await request.app.state.actions.run_once(form.get("action_id"), act)
        notice = f"{DONE[action]} by {viewer.actor}: {reason}"
    except (Conflict, InvalidInput) as exc:
        error, status = exc.message, exc.status
    view = await _view(request)
    return render(
        request, "_rollout_live.html", status, view=view, steered=True, notice=notice, error=error
    )


def reason_of(request: Request, field: Any) -> str:
    """The reason typed into the button's prompt (htmx sends it as the ``HX-Prompt`` header,
    URI-encoded when it is not Latin-1), else a ``reason`` form field; an empty one is refused."""
    prompt = request.headers.get("hx-prompt")
    if prompt is not None and request.headers.get("hx-prompt-uri-autoencoded") == "true":
        prompt = unquote(prompt)
    text = (prompt if prompt is not None else field if isinstance(field, str) else "").strip()
    if not text:
        raise InvalidInput(
            "give a reason: it is kept in the plan's history for whoever looks next",
            field="reason",
        )
    return text


async def _view(request: Request) -> RolloutView:
    store = request.app.state.inprod.store
    return await off_loop(rollout_view, request.path_params["name"], store=store)


routes: list[BaseRoute] = [
    Route("/endpoints/{name}/rollout", rollout_page, methods=["GET"]),
    Route("/endpoints/{name}/rollout/live", rollout_live, methods=["GET"]),
    Route("/endpoints/{name}/rollout/{action}", steer, methods=["POST"]),
]
