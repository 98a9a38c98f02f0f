"""Leader election for the rollout controller: one server per store judges and moves canaries.

Every server replica runs a controller, but only the leader acts, so that two replicas never
both advance (or one advances while the other rolls back) the same canary in the same tick.
Plan changes also check the plan's revision, so a second actor would get a Conflict, not a
double step; leadership keeps the log and the audit trail to one voice.

PostgreSQL: the leader holds a session-level advisory lock on a connection of its own, kept open
while it leads. The lock's key mixes in the current schema, because advisory locks are
database-wide and several stores may live as schemas of one database (the tests do this). When
that connection breaks, PostgreSQL drops the lock with the session and another replica takes
over at its next try; this one tries again on a fresh connection at its own next try.

SQLite: always the leader. A SQLite store is a file that one server process serves (replicas
need PostgreSQL), so there is no one to elect against.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ..config import mask_url
from ..store import Store

log = logging.getLogger(__name__)

LOCK_NAME = "inprod-rollout-controller"
_KEY = "hashtext(coalesce(current_schema(), '') || :suffix)"
_SUFFIX = {"suffix": ":" + LOCK_NAME}
_TRY_LOCK = text(f"SELECT pg_try_advisory_lock({_KEY})")
_UNLOCK = text(f"SELECT pg_advisory_unlock({_KEY})")
_PING = text("SELECT 1")


class Leadership:
    """Whether this process leads the rollout controller of ``store``.

    Call :meth:`try_acquire` before each round of work (it is cheap when already leading) and
    :meth:`release` when shutting down. Safe to call from several threads.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._unreachable = False

    @property
    def always_leads(self) -> bool:
        """True on SQLite, where the single server leads without an election."""
        return self.store.dialect != "postgresql"

    @property
    def leading(self) -> bool:
        """Whether this process led at its last :meth:`try_acquire` (a broken connection is
        noticed at the next try)."""
        return self.always_leads or self._conn is not None

    def try_acquire(self) -> bool:
        """Lead if no one else does; True when this process leads now.

        Never raises for an unreachable store: it logs and answers False, and the next try
        starts over on a new connection.
        """
        if self.always_leads:
            return True
        with self._lock:
            if self._conn is not None:
                if self._alive(self._conn):
                    return True
                log.warning("lost rollout leadership: the connection to the store broke")
                self._discard()
            return self._acquire()

    def release(self) -> None:
        """Stop leading (another replica takes over at its next try); no-op when not leading."""
        if self.always_leads:
            return
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            self._conn = None
            try:
                conn.execute(_UNLOCK, _SUFFIX)
                conn.commit()
            except DBAPIError:
                # The session may still hold the lock: close it for good rather than return it
                # to the pool with the lock inside.
                conn.invalidate()
            conn.close()
            log.info("released rollout leadership of %s", mask_url(self.store.url))

    def _acquire(self) -> bool:
        try:
            conn = self.store.engine.connect()
        except DBAPIError as exc:
            self._log_unreachable(exc)
            return False
        try:
            got = bool(conn.execute(_TRY_LOCK, _SUFFIX).scalar())
            conn.commit()  # end the transaction; a session-level lock outlives it
        except BaseException as exc:
            # never hand a connection that may hold the lock back to the pool
            conn.invalidate()
            conn.close()
            if isinstance(exc, DBAPIError):
                self._log_unreachable(exc)
                return False
            raise
        self._unreachable = False
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("this process leads the rollout controller of %s", mask_url(self.store.url))
        return True

    @staticmethod
    def _alive(conn: Connection) -> bool:
        try:
            conn.execute(_PING)
            conn.commit()
        except DBAPIError:
            return False
        return True

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()
            conn.close()

    def _log_unreachable(self, exc: DBAPIError) -> None:
        # Once per outage: a controller ticking every 2 s would otherwise fill the log.
        if not self._unreachable:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            log.warning("cannot take rollout leadership, the store is unreachable: %s", reason)
        self._unreachable = True
