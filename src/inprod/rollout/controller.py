"""The rollout controller: judges every ramping canary and advances or rolls it back.

Each server runs one; only the leader of the store acts (:mod:`inprod.rollout.leader`). Every
``tick_s`` seconds it reads the plans, judges each ramping canary (:func:`judge`, the same
decision ``deploy status`` shows) and acts through :mod:`inprod.rollout.actions` like a person
would, as actor ``controller``, so the audit trail says why each step was taken or undone.

Acting passes the revision that was judged: a person who paused, promoted or rolled back the
plan meanwhile wins, and the controller leaves that endpoint alone this tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from ..errors import Conflict
from ..store import Store
from . import actions
from .judge import judge
from .leader import Leadership
from .plan import DeploymentPlan

log = logging.getLogger(__name__)

ACTOR = "controller"


@dataclass(frozen=True)
class Decision:
    """One change the controller made: ``action`` is ``advance`` or ``rollback``;
    ``from_revision`` the plan revision it judged (the change made the next one)."""

    endpoint: str
    action: str
    reason: str
    from_revision: int


class RolloutController:
    """Runs :meth:`tick` every ``tick_s`` seconds in a background task (``tick_s <= 0``: never;
    :meth:`tick` may still be called by hand). After a tick that changed a plan it awaits
    ``on_change``, so this server applies the change at once instead of at its next refresh."""

    def __init__(
        self,
        store: Store,
        *,
        tick_s: float,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.tick_s = tick_s
        self.on_change = on_change
        self.leadership = Leadership(store)
        self._task: asyncio.Task[None] | None = None
        # a tick and the release of leadership never overlap, even when stop() cancels the
        # task while a tick still runs (or is about to start) in its thread
        self._working = threading.RLock()
        self._closing = False

    # -- one round ---------------------------------------------------------------------------
    def tick(self, *, now: datetime | None = None) -> list[Decision]:
        """Judge every ramping canary once and act; the changes made (none when not leading).

        ``now`` judges as of that time (tests, replays); a failure on one endpoint is logged and
        the others are still judged.
        """
        with self._working:
            if not self.leadership.try_acquire():
                return []
            decisions: list[Decision] = []
            for plan in actions.list_plans(store=self.store):
                if plan.state != "ramping":
                    continue
                try:
                    decision = self._act(plan, now)
                except Conflict as exc:
                    log.info("%s: left alone this tick: %s", plan.endpoint, exc.message)
                    continue
                except Exception:
                    log.exception("%s: judging the canary failed", plan.endpoint)
                    continue
                if decision is not None:
                    decisions.append(decision)
            return decisions

    def _act(self, plan: DeploymentPlan, now: datetime | None) -> Decision | None:
        j = judge(plan, store=self.store, now=now)
        if j.action == "advance":
            actions.advance(
                plan.endpoint, expected_revision=plan.revision, results=j.results, store=self.store
            )
        elif j.action == "rollback":
            actions.rollback(
                plan.endpoint,
                actor=ACTOR,
                reason=j.reason,
                expected_revision=plan.revision,
                details={"automatic": True, "gates": [r.to_dict() for r in j.results]},
                store=self.store,
            )
        else:
            log.debug("%s: %s: %s", plan.endpoint, j.action, j.reason)
            return None
        log.info("%s: %s: %s", plan.endpoint, j.action, j.reason)
        return Decision(plan.endpoint, j.action, j.reason, plan.revision)

    # -- the loop ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start ticking in the background (only when ``tick_s > 0``; idempotent)."""
        if self.tick_s > 0 and self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(
                self._forever(), name="inprod-rollout-controller"
            )

    async def stop(self) -> None:
        """Stop ticking and give up leadership, so another replica takes over at once."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.release)

    def release(self) -> None:
        """Give up leadership: what :meth:`stop` ends with, and what a caller of :meth:`tick`
        by hand does when done (on PostgreSQL leadership holds a connection open)."""
        with self._working:  # waits for a tick still running in its thread
            self.leadership.release()

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                decisions = await asyncio.to_thread(self._loop_tick)
                if decisions and self.on_change is not None:
                    await self.on_change()
            except Exception:
                log.exception("rollout controller tick failed; trying again in %g s", self.tick_s)

    def _loop_tick(self) -> list[Decision]:
        with self._working:
            if self._closing:  # stop() was called before this thread got going
                return []
            return self.tick()
