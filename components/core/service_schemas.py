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
# One query, one round trip: it runs before every project step.
MISSING_QUERY = """
    select array_remove(array[
        case when not exists (select from pg_attribute where attrelid = to_regclass('storage.buckets')
                                 and attname = 'allowed_mime_types' and not attisdropped)
             then 'Storage (storage.buckets with limits)' end,
        case when to_regclass('storage.s3_multipart_uploads') is null then 'Storage (multipart uploads)' end,
        case when to_regclass('realtime.messages') is null then 'Realtime (realtime.messages)' end,
        case when to_regprocedure('realtime.topic()') is null then 'Realtime (realtime.topic())' end,
        case when not exists (select from pg_publication where pubname = 'supabase_realtime')
             then 'the supabase_realtime publication' end], null)"""


def missing(conn: psycopg.Connection) -> list[str]:
    """The services whose database objects are not there yet."""
    return list(conn.execute(MISSING_QUERY).fetchone()[0])


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
