"""Leadership of the rollout controller: one leader per PostgreSQL store (an advisory lock keyed
by schema), always the leader on SQLite."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator

import pytest
from rollout_helpers import ENDPOINT, later, log_predictions, start_canary, two_versions
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from inprod.rollout import actions, controller
from inprod.rollout.controller import RolloutController
from inprod.rollout.judge import judge as real_judge
from inprod.rollout.leader import LOCK_NAME, Leadership
from inprod.store import Store

ON_POSTGRES = pytest.mark.parametrize(
    "store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.fixture
def replica(store: Store) -> Iterator[Store]:
    """A second Store on the same database and schema: what another server replica holds."""
    other = Store(store.url, store.artifacts.root)
    yield other
    other.close()


@pytest.fixture
def leaderships(store: Store, replica: Store) -> Iterator[tuple[Leadership, Leadership]]:
    a, b = Leadership(store), Leadership(replica)
    yield a, b
    a.release()
    b.release()


def schema_url(url: str, schema: str) -> str:
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def lock_holder(store: Store) -> int | None:
    """The backend pid holding this store's controller lock, as pg_locks shows it."""
    with store.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND "
                "((classid::bigint << 32) | objid::bigint) "
                "= hashtext(current_schema() || :suffix)::bigint"
            ),
            {"suffix": ":" + LOCK_NAME},
        ).scalar()


@ON_POSTGRES
def test_exactly_one_of_two_replicas_leads(leaderships: tuple[Leadership, Leadership]) -> None:
    a, b = leaderships

    assert a.try_acquire() is True
    assert b.try_acquire() is False
    assert a.try_acquire() is True  # asking again while leading keeps leading
    assert (a.leading, b.leading) == (True, False)


@ON_POSTGRES
def test_the_other_replica_leads_after_the_leader_releases(
    leaderships: tuple[Leadership, Leadership],
) -> None:
    a, b = leaderships
    assert a.try_acquire()

    a.release()

    assert a.leading is False
    assert b.try_acquire() is True
    assert a.try_acquire() is False
    a.release()  # releasing without leading changes nothing
    assert b.try_acquire() is True


@ON_POSTGRES
def test_a_broken_connection_loses_leadership_to_the_other_replica(
    store: Store, leaderships: tuple[Leadership, Leadership], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = leaderships
    assert a.try_acquire()
    pid = lock_holder(store)
    assert pid is not None
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()

    assert b.try_acquire() is True
    with caplog.at_level(logging.WARNING, logger="inprod.rollout.leader"):
        assert a.try_acquire() is False
    assert "lost rollout leadership" in caplog.text
    assert a.leading is False

    b.release()
    assert a.try_acquire() is True  # on a fresh connection
    assert lock_holder(store) not in (None, pid)


@ON_POSTGRES
def test_a_store_in_another_schema_has_its_own_leader(
    store: Store, leaderships: tuple[Leadership, Leadership]
) -> None:
    a, _ = leaderships
    assert a.try_acquire()
    schema = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(make_url(store.url).set(query={}))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    elsewhere = Store(schema_url(store.url, schema), store.artifacts.root)
    other = Leadership(elsewhere)
    try:
        assert other.try_acquire() is True
        assert a.try_acquire() is True
    finally:
        other.release()
        elsewhere.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@ON_POSTGRES
def test_only_the_leading_replicas_controller_acts(store: Store, replica: Store) -> None:
    two_versions(store)
    first, second = RolloutController(store, tick_s=0), RolloutController(replica, tick_s=0)
    try:
        assert first.tick() == []  # leads; nothing to do yet
        plan = start_canary(store)
        log_predictions(store, n=20, version=2, role="canary")
        due = later(plan, 601)

        assert second.tick(now=due) == []
        assert actions.get_plan(ENDPOINT, store=store).revision == plan.revision

        first.release()
        [decision] = second.tick(now=due)
        assert decision.action == "advance"
        assert first.tick(now=due) == []
    finally:
        first.release()
        second.release()


@ON_POSTGRES
def test_stop_during_a_tick_waits_for_it_then_gives_up_leadership(
    store: Store, replica: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_versions(store)
    start_canary(store)
    judging, go_on = threading.Event(), threading.Event()

    def slow_judge(plan, *, store, now=None):
        judging.set()
        go_on.wait(5)
        return real_judge(plan, store=store, now=now)

    monkeypatch.setattr(controller, "judge", slow_judge)

    async def main() -> None:
        ctl = RolloutController(store, tick_s=0.01)
        await ctl.start()
        assert await asyncio.to_thread(judging.wait, 5)
        stopping = asyncio.ensure_future(ctl.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()  # the tick in its thread still holds leadership
        go_on.set()
        await asyncio.wait_for(stopping, 5)
        assert not ctl.leadership.leading

    asyncio.run(main())

    other = Leadership(replica)
    assert other.try_acquire() is True
    other.release()


@ON_SQLITE
def test_on_sqlite_every_leadership_leads(store: Store, replica: Store) -> None:
    a, b = Leadership(store), Leadership(replica)

    assert a.try_acquire() and b.try_acquire()
    a.release()
    assert a.leading and b.leading
