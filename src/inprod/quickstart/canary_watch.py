"""Watching a canary from the story's side: send traffic, narrate each step the rollout
controller takes, and wait for this server to serve a version. Parts 3 and 5 both ship a
model this way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from ..store import Store
from .live import ENDPOINT

CANARY_TIMEOUT_S = 120.0  # a canary of a few 2 s steps; generous for a loaded machine
APPLY_TIMEOUT_S = 10.0

Say = Callable[[str], None]


def ramp(send: Callable[[], object], *, store: Store, say: Say) -> tuple[str, list[str]]:
    """Call ``send`` (a batch of traffic) until the controller promotes or rolls back the
    canary, narrating each event; returns the outcome and the narrated lines. A canary still
    ramping after ``CANARY_TIMEOUT_S`` is aborted with the controller's last reason to wait."""
    from .. import deploy
    from ..rollout.judge import judge

    seen = max((e.id for e in deploy.history(ENDPOINT, store=store)), default=0)
    deadline = time.monotonic() + CANARY_TIMEOUT_S
    lines: list[str] = []
    while True:
        send()
        time.sleep(0.1)  # a steady camera station, not a flood: steps are timed, not counted
        for event in deploy.history(ENDPOINT, store=store):
            if event.id > seen:
                lines.append(narrate(event))
                say("  " + lines[-1])
                seen = event.id
        plan = deploy.get_plan(ENDPOINT, store=store)
        if plan.state in ("promoted", "rolled_back"):
            return plan.state, lines
        if time.monotonic() > deadline:
            why = judge(plan, store=store).reason
            deploy.abort(ENDPOINT, reason=f"quickstart: the canary took too long ({why})",
                         store=store)  # fmt: skip
            lines.append(f"the canary did not finish in time ({why}); aborted")
            say("  " + lines[-1])
            return "aborted", lines


def narrate(event: Any) -> str:
    """One deployment event as a sentence, with the gates' values where it has them."""
    gates = event.details.get("gates") or []
    values = ", ".join(
        f"{g['gate'].split('<')[0].split('>')[0]} {g['value']:.3g}"
        for g in gates
        if g.get("value") is not None
    )
    cand = (event.details.get("to") or {}).get("candidate") or {}
    if event.action == "advance" and event.to_state == "ramping":
        return f"step passed ({values}); the canary now takes {cand.get('weight', 0):.0%}"
    if event.action == "advance":
        return f"last step passed ({values}); the candidate is promoted"
    if event.action == "rollback":
        return f"rolled back by the {event.actor}: {event.reason}"
    return f"{event.action}: {event.from_state} → {event.to_state}"


def live(client: httpx.Client) -> dict:
    """What this server serves on the endpoint now (read from /api: no prediction is sent)."""
    return client.get(f"/api/endpoints/{ENDPOINT}").json().get("live") or {}


def wait_for_version(client: httpx.Client, ok: Callable[[str], bool]) -> str:
    """The primary version this server serves once ``ok`` accepts it."""
    found: list[str] = []

    def check() -> bool:
        found.append(live(client).get("primary") or "")
        return ok(found[-1])

    wait(check, "the version to change")
    return found[-1]


def wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"quickstart: timed out waiting for {what}")
        time.sleep(0.02)
