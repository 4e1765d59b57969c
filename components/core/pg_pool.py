"""A few idle connections per DSN, reused across the steps of one provider process.

Why: the dynamic provider process runs hundreds of SQL steps per `pulumi up` (one per
project resource and its finishing steps), each a transaction under the registry's advisory
lock; a new connection per step is most of a small step's time. A connection goes back
only in a clean session (DISCARD ALL), so nothing one project's template set can reach the
next project's step.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

import psycopg

_IDLE: dict[str, list[psycopg.Connection]] = {}
_IDLE_LOCK = threading.Lock()
_IDLE_PER_DSN = 4


@contextmanager
def connect(dsn: str) -> Iterator[psycopg.Connection]:
    """A connection, reused across steps: the provider process runs hundreds of them per `up`."""
    conn = _checkout(dsn) or psycopg.connect(
        dsn, autocommit=True, connect_timeout=10, application_name="supabase-multi-instance")
    try:
        yield conn
    finally:
        _checkin(dsn, conn)


def _checkout(dsn: str) -> Optional[psycopg.Connection]:
    while True:
        with _IDLE_LOCK:
            conn = _IDLE.get(dsn, []).pop() if _IDLE.get(dsn) else None
        if conn is None:
            return None
        try:
            conn.execute("select 1")  # the server may have restarted since
            return conn
        except psycopg.Error:
            conn.close()


def _checkin(dsn: str, conn: psycopg.Connection) -> None:
    """Back to the pool with a clean session: a template's session-wide settings (a read-only
    default, a tiny statement timeout), advisory locks, prepared statements or LISTENs must
    not reach the next project's superuser steps (psycopg forgets its prepared statements on
    DISCARD ALL)."""
    healthy = not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if healthy:
        try:
            conn.execute("discard all")
        except psycopg.Error:
            healthy = False
    with _IDLE_LOCK:
        idle = _IDLE.setdefault(dsn, [])
        if healthy and len(idle) < _IDLE_PER_DSN:
            idle.append(conn)
            return
    conn.close()
