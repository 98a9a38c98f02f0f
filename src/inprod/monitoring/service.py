"""The monitor evaluator inside ``inprod serve``: every ``tick_s`` seconds, on the leader only,
the hour and day rollups that are due, the drift of the hour that closed (stored per window),
one :func:`evaluate` pass, then the due alert actions.

It shares the rollout controller's leadership (one advisory lock per store on PostgreSQL), so
with several replicas exactly one evaluates and acts; on SQLite the one server always does.
Passes run in a worker thread; a webhook that hangs is bounded by its timeout.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ..errors import InprodError
from ..rollout.background import LeaderLoop
from ..rollout.leader import Leadership
from ..store import Store
from ..store.tables import WindowProfileRow
from . import actions
from .evaluator import Evaluation, evaluate
from .rollups import SETTLE_S, roll_up
from .window_drift import drift_windows

log = logging.getLogger(__name__)


class MonitorService(LeaderLoop):
    failure = "monitor evaluation failed"
    task_name = "inprod-monitor-evaluator"

    def __init__(
        self, store: Store, *, tick_s: float, leadership: Leadership, profile_s: int = 60
    ) -> None:
        super().__init__(tick_s=tick_s)
        self.store = store
        self.profile_s = profile_s
        self.leadership = leadership
        self._drift_hour: datetime | None = None  # the last hour tested for drift
        self._drift_skipped: set[str] = set()  # endpoints without a usable reference (logged once)

    def tick(self, *, now: datetime | None = None) -> list[Evaluation]:
        """One pass (nothing when another replica leads): evaluate, then run due actions."""
        with self._working:
            if not self.leadership.try_acquire():
                return []
            now = now or datetime.now(UTC)
            roll_up(now=now, store=self.store)
            self._hourly_drift(now)
            results = evaluate(now=now, profile_s=self.profile_s, store=self.store)
            for r in results:
                if r.change in ("fired", "resolved", "error"):
                    detail = r.error if r.error is not None else f"value {r.value:.4g}"
                    log.warning("monitor %r on %s: %s (%s)", r.name, r.endpoint, r.change, detail)
            actions.run_due(now=now, store=self.store)
            self.passes += 1
            return results

    def _hourly_drift(self, now: datetime) -> None:
        """Once an hour has closed (and settled), test each endpoint's traffic of that hour
        against its reference and store the result (``inprod monitor drift-windows`` shows
        them). Endpoints whose reference cannot be built are skipped, logged once."""
        hour = (now - timedelta(seconds=SETTLE_S)).replace(minute=0, second=0, microsecond=0)
        previous = hour - timedelta(hours=1)
        if self._drift_hour is not None and self._drift_hour >= previous:
            return
        self._drift_hour = previous
        with self.store.session(write=False) as s:
            names = s.scalars(
                select(WindowProfileRow.endpoint)
                .where(
                    WindowProfileRow.window_start >= previous, WindowProfileRow.window_start < hour
                )
                .distinct()
            ).all()
        for endpoint in names:
            try:
                drift_windows(endpoint, since=previous, until=hour, store=self.store)
            except InprodError as exc:
                if endpoint not in self._drift_skipped:
                    self._drift_skipped.add(endpoint)
                    log.info("%s: no hourly drift: %s", endpoint, exc.message)
            except Exception:
                log.exception("%s: hourly drift failed", endpoint)
