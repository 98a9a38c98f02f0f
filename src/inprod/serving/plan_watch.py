"""Noticing plan changes made elsewhere (the CLI, another replica) within a second.

PostgreSQL: a thread holds a connection that ``LISTEN``s on the channel every plan change
notifies in its own transaction (rollout/actions.py), so a replica hears of a commit within
milliseconds. Both stores also poll a cheap fingerprint of the endpoints table (count, sum of
revisions, last update) — on SQLite that is how a server notices a change made by the CLI in
another process, on PostgreSQL it is the fallback while the listening connection is down.
Either way the runtime refreshes; refreshes asked for while one runs are folded into one more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from ..rollout.actions import NOTIFY_CHANNEL
from ..store import Store
from ..store.tables import Endpoint

log = logging.getLogger(__name__)

SQLITE_POLL_S = 0.25
POSTGRES_POLL_S = 1.0
_RECONNECT_S = 1.0


class PlanWatcher:
    def __init__(
        self,
        store: Store,
        refresh: Callable[[], Awaitable[None]],
        *,
        poll_s: float | None = None,
    ) -> None:
        self.store = store
        self._refresh = refresh
        postgres = store.dialect == "postgresql"
        self.poll_s = (
            poll_s if poll_s is not None else (POSTGRES_POLL_S if postgres else SQLITE_POLL_S)
        )
        self._listen = postgres
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fingerprint: Any = None
        self.listening = False
        self.notifications = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._fingerprint = await asyncio.to_thread(self._read_fingerprint)
        self._poller = self._loop.create_task(self._poll())
        if self._listen:
            self._thread = threading.Thread(
                target=self._listen_forever, name="inprod-plan-listener", daemon=True
            )
            self._thread.start()

    def changed(self) -> None:
        """Ask for a refresh (from the event loop); folded with one already running."""
        self._dirty = True
        if self._refresher is None or self._refresher.done():
            assert self._loop is not None
            self._refresher = self._loop.create_task(self._refresh_while_dirty())

    async def _refresh_while_dirty(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self._refresh()
            except Exception:
                log.exception("applying a plan change failed; the next change or poll retries")
                return

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                fingerprint = await asyncio.to_thread(self._read_fingerprint)
            except Exception:
                log.warning("polling the store for plan changes failed", exc_info=True)
                continue
            if fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                self.changed()

    def _read_fingerprint(self) -> Any:
        with self.store.session(write=False) as s:
            return tuple(
                s.execute(
                    select(
                        func.count(Endpoint.id),
                        func.coalesce(func.sum(Endpoint.revision), 0),
                        func.max(Endpoint.updated_at),
                    )
                ).one()
            )

    def _listen_forever(self) -> None:
        import psycopg

        conninfo = self.store.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening = True
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.notifications += 1
                            self._wake()
            except Exception:
                if not self._stop.is_set():
                    log.warning("listening for plan changes failed; polling until it reconnects",
                                exc_info=True)  # fmt: skip
            finally:
                self.listening = False
            self._stop.wait(_RECONNECT_S)

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.changed)

    async def stop(self) -> None:
        self._stop.set()
        for task in (self._poller, self._refresher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
