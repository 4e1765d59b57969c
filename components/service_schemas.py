"""Wait until Storage and Realtime have built their schemas, before a project's SQL step.

Both services create their tables on their own first start (Storage's tenant migrations,
Realtime's tenant migrations from its seed), which may still be running when Pulumi
reaches the first project. The project's storage and realtime SQL needs what they make.
"""
from __future__ import annotations

import time

import psycopg

TIMEOUT_SECONDS = 300
POLL_SECONDS = 2

# What sql/projects/_storage.sql.j2, _realtime.sql.j2 and _drop.sql.j2 rely on, and which
# service makes it (supabase/storage migrations/tenant/0013, 0021; supabase/realtime
# 20240523004032_redefine_authorization_tables.ex; supabase/postgres initial schema).
REQUIRED = {
    "Storage (bucket limits)": "select 1 from pg_attribute where attrelid = to_regclass('storage.buckets') "
                               "and attname = 'allowed_mime_types' and not attisdropped",
    "Storage (multipart uploads)": "select to_regclass('storage.s3_multipart_uploads')",
    "Realtime (realtime.messages)": "select to_regclass('realtime.messages')",
    "Realtime (realtime.topic())": "select to_regprocedure('realtime.topic()')",
    "the supabase_realtime publication": "select 1 from pg_publication where pubname = 'supabase_realtime'",
}


def missing(conn: psycopg.Connection) -> list[str]:
    """The services whose database objects are not there yet."""
    return [what for what, query in REQUIRED.items() if (conn.execute(query).fetchone() or [None])[0] is None]


def wait_until_ready(conn: psycopg.Connection, timeout: float = TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while True:
        lacking = missing(conn)
        if not lacking:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"the database still lacks what {', '.join(lacking)} create(s) after {timeout:.0f} s; "
                "check that the storage and realtime containers are running (docker logs)")
        time.sleep(POLL_SECONDS)
