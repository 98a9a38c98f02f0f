"""Hour and day rollups stand in for the minutes they cover, with the same totals."""

from __future__ import annotations

from datetime import timedelta

from monitor_helpers import ENDPOINT, MODEL, T0, write_minute
from sqlalchemy import select

from inprod.monitoring.rollups import roll_up
from inprod.monitoring.windows import ROLLUP_REPLICA, covering_profiles, read_profiles
from inprod.store import Store
from inprod.store.tables import WindowProfileRow

DAY0 = T0.replace(hour=0)


def _rollup_rows(store: Store) -> list[tuple[int, str]]:
    with store.session(write=False) as s:
        rows = s.execute(
            select(WindowProfileRow.window_s, WindowProfileRow.window_start)
            .where(WindowProfileRow.replica == ROLLUP_REPLICA)
            .order_by(WindowProfileRow.window_s, WindowProfileRow.window_start)
        ).all()
    return [(w, start.isoformat()[:13]) for w, start in rows]


def test_closed_hours_and_days_roll_up_once_and_reads_match(store: Store) -> None:
    # two minutes in each of 26 hours, from two replicas
    for hour in range(26):
        for m, replica in ((5, "a"), (30, "b")):
            write_minute(store, DAY0 + timedelta(hours=hour, minutes=m), n=10, replica=replica)
    span = {"since": DAY0, "until": DAY0 + timedelta(hours=26)}
    before = read_profiles(ENDPOINT, store=store, **span)[(MODEL, 1, "primary")]
    now = DAY0 + timedelta(hours=26, minutes=1)  # hour 25 (01:00-02:00, day 2) not settled yet
    assert roll_up(now=now, store=store) == 25 + 1
    rows = _rollup_rows(store)
    assert rows.count((86400, DAY0.isoformat()[:13])) == 1
    assert len([r for r in rows if r[0] == 3600]) == 25
    assert roll_up(now=now, store=store) == 0  # nothing new to do
    after = read_profiles(ENDPOINT, store=store, **span)[(MODEL, 1, "primary")]
    assert (after.requests, after.instances) == (before.requests, before.instances) == (520, 520)
    assert after.features["brightness"].count == before.features["brightness"].count
    # a span that cuts a rollup reads the minutes instead
    part = read_profiles(ENDPOINT, since=DAY0 + timedelta(minutes=10),
                         until=DAY0 + timedelta(hours=2), store=store)  # fmt: skip
    assert part[(MODEL, 1, "primary")].requests == 10 + 20  # 00:30, then hour 1 rolled up


def test_a_reader_never_takes_a_rollup_longer_than_its_step(store: Store) -> None:
    """Hourly points over a rolled-up day read the hour rollups, not the day row (which would put
    the whole day into its first hour's bucket)."""
    for hour in range(26):
        write_minute(store, DAY0 + timedelta(hours=hour, minutes=5), n=10)
    roll_up(now=DAY0 + timedelta(hours=26, minutes=5), store=store)
    until = DAY0 + timedelta(hours=24)
    hourly = covering_profiles(ENDPOINT, DAY0, until, max_seconds=3600, store=store)
    assert sorted(p.key.seconds for p in hourly) == [3600.0] * 24
    daily = covering_profiles(ENDPOINT, DAY0, until, max_seconds=86400, store=store)
    assert [p.key.seconds for p in daily] == [86400.0]
    minutes = covering_profiles(ENDPOINT, DAY0, until, max_seconds=60, store=store)
    assert len(minutes) == 24 and sum(p.requests for p in minutes) == 240
