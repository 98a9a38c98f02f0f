"""The retraining worker inside ``inprod serve``: every ``tick_s`` seconds, on the leader only,
check the policies' triggers (:func:`.triggers.check`), approve the open requests of enabled
``auto`` policies, and start the oldest approved request when none is running.

It shares the rollout controller's leadership (one advisory lock per store on PostgreSQL), so
with several replicas exactly one opens, approves and runs requests. Ticks run in a worker
thread; a request runs in a thread of its own, one at a time, so a half-hour training never
holds up the event loop or the next tick's triggers. Stopping the server waits a little for the
run; a request still running then stays ``running``, and ``inprod retrain run N`` continues it
from its last finished step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from ..errors import Conflict, InprodError
from ..rollout.background import LeaderLoop
from ..rollout.leader import Leadership
from ..store import Store
from ..store.tables import RetrainingPolicy, RetrainingRequest
from . import requests, triggers
from .requests import RequestInfo

log = logging.getLogger(__name__)

ACTOR = "retraining-worker"
STOP_WAIT_S = 5.0

RunRequest = Callable[..., RequestInfo]


class RetrainingWorker(LeaderLoop):
    """``run`` runs one request (default :func:`inprod.retraining.runner.run_request`)."""

    failure = "retraining worker pass failed"
    task_name = "inprod-retraining-worker"

    def __init__(
        self,
        store: Store,
        *,
        tick_s: float,
        leadership: Leadership,
        run: RunRequest | None = None,
    ) -> None:
        super().__init__(tick_s=tick_s)
        self.store = store
        self.leadership = leadership
        self.running: int | None = None  # the request being run now
        self._run = run
        self._thread: threading.Thread | None = None

    def tick(self, *, now: datetime | None = None, start_runs: bool = True) -> list[RequestInfo]:
        """One pass (nothing when another replica leads); returns the requests the triggers
        opened or joined. ``start_runs=False``: triggers and approvals only."""
        with self._working:
            if not self.leadership.try_acquire():
                return []
            touched = triggers.check(now, store=self.store)
            for r in touched:
                log.info(
                    "retraining request %s of %s: %s", r.id, r.endpoint, r.triggers[-1]["reason"]
                )
            self._approve_auto()
            if start_runs:
                self._start_next()
            self.passes += 1
            return touched

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the request being run, if any; True when none runs now."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _approve_auto(self) -> None:
        with self.store.session(write=False) as s:
            ids = s.scalars(
                select(RetrainingRequest.id)
                .join(RetrainingPolicy, RetrainingPolicy.id == RetrainingRequest.policy_id)
                .where(
                    RetrainingRequest.status == "open",
                    RetrainingPolicy.approve == "auto",
                    RetrainingPolicy.enabled.is_(True),
                )
                .order_by(RetrainingRequest.id)
            ).all()
        for request_id in ids:
            with contextlib.suppress(Conflict):  # a person cancelled or ran it meanwhile
                requests.approve(request_id, actor=ACTOR, store=self.store)

    def _start_next(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self.store.session(write=False) as s:
            request_id = s.scalar(
                select(RetrainingRequest.id)
                .where(RetrainingRequest.status == "approved")
                .order_by(RetrainingRequest.id)
                .limit(1)
            )
        if request_id is None:
            return
        self.running = request_id
        self._thread = threading.Thread(
            target=self._run_one, args=(request_id,), name=f"inprod-retrain-{request_id}",
            daemon=True,  # a server that stops does not wait for a half-hour training
        )  # fmt: skip
        self._thread.start()

    def _run_one(self, request_id: int) -> None:
        run = self._run
        if run is None:
            from .runner import run_request as run
        try:
            done = run(request_id, actor=ACTOR, store=self.store)
            log.info("retraining request %s: %s", request_id, done.status)
        except Conflict as exc:  # someone else ran, cancelled or finished it meanwhile
            log.info("retraining request %s: %s", request_id, exc.message)
        except InprodError as exc:
            log.warning("retraining request %s did not run: %s", request_id, exc.message)
            self._fail_if_approved(request_id, exc.message)
        except Exception as exc:
            log.exception("retraining request %s failed", request_id)
            self._fail_if_approved(request_id, f"{type(exc).__name__}: {exc}")
        finally:
            self.running = None

    def _fail_if_approved(self, request_id: int, message: str) -> None:
        """A request the runner refused before starting fails, rather than being retried (and
        refused) every tick; ``inprod retrain run N`` tries it again once fixed."""
        with self.store.session() as s:
            row = requests.lock_request(s, request_id)
            if row.status == "approved":
                requests.move(s, row, "failed", actor=ACTOR, message=f"did not run: {message}")

    async def stop(self) -> None:
        await super().stop()
        running = self.running
        if not await asyncio.to_thread(self.wait, STOP_WAIT_S):
            log.warning("retraining request %s is still running; 'inprod retrain run %s' "
                        "continues it if this process stops first", running, running)  # fmt: skip
