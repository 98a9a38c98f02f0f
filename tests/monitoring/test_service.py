"""The evaluator loop of the server: rollups, hourly drift, evaluation and actions, leader only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from monitor_helpers import ENDPOINT, T0, minute, two_versions, write_minutes
from sqlalchemy import func, select

from inprod.monitoring import monitors
from inprod.monitoring.service import MonitorService
from inprod.rollout.leader import Leadership
from inprod.store import Store
from inprod.store.tables import WindowProfileRow


class _Follower(Leadership):
    def try_acquire(self) -> bool:  # another replica leads
        return False


def test_a_tick_rolls_up_evaluates_and_skips_drift_without_a_reference(store: Store) -> None:
    two_versions(store)  # registered without a run: no training data to compare with
    write_minutes(store, T0, 70, errors=10)
    monitors.add(ENDPOINT, "error_rate", above=0.2, window="5m", store=store)
    service = MonitorService(store, tick_s=0, leadership=Leadership(store))
    [result] = service.tick(now=minute(70) + timedelta(minutes=3))
    assert result.change == "fired"
    with store.session(write=False) as s:
        hours = s.scalar(
            select(func.count()).where(WindowProfileRow.window_s == 3600)
        )  # fmt: skip
    assert hours == 1  # 08:00-09:00 closed and settled; 09:00-09:10 not yet
    assert service._drift_skipped == {ENDPOINT}  # no reference: skipped, said once
    assert service.tick(now=minute(71) + timedelta(minutes=3))[0].change is None


def test_a_follower_does_nothing(store: Store) -> None:
    two_versions(store)
    write_minutes(store, T0, 3, errors=10)
    monitors.add(ENDPOINT, "error_rate", above=0.2, window="1m", store=store)
    follower = MonitorService(store, tick_s=0, leadership=_Follower(store))
    assert follower.tick(now=minute(3)) == []
    assert monitors.list_monitors(store=store)[0].state == "no_data"


def test_the_loop_starts_and_stops(store: Store) -> None:
    two_versions(store)
    service = MonitorService(store, tick_s=0.05, leadership=Leadership(store))

    async def run() -> None:
        await service.start()
        await asyncio.sleep(0.3)
        await service.stop()

    asyncio.run(run())
    assert service.passes >= 2
