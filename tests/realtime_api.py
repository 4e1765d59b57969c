"""Realtime's database side, as supabase/realtime v2.78.15 runs it for the one tenant.

Realtime connects as the tenant's database user (supabase_admin in the stack, the
server's superuser here) and verifies the socket's token with the stack JWT secret.

* Channel authorization (lib/realtime/tenants/authorization.ex): for a private channel it
  inserts one realtime.messages row per extension, sets `role`, `realtime.topic` and the
  claims locally (set_conn_config), selects those rows as the role (may listen), inserts
  as the role in a savepoint (may send), and rolls everything back.
* Postgres changes (lib/extensions/postgres_cdc_rls/subscriptions.ex): a subscription is a
  realtime.subscription row for each published table the request names; each change read
  from the replication slot (wal2json) goes through realtime.apply_rls, whose result names
  the subscriptions that may receive it.
"""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from typing import Iterator, Optional

import psycopg
from psycopg import sql

from tests.storage_api import payload  # the same stack JWT secret and verification

PUBLICATION = "supabase_realtime"  # the tenant's postgres_cdc_rls setting (priv/repo/seeds.exs)
EXTENSIONS = ("broadcast", "presence")


@contextmanager
def _tenant(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn) as conn:
        yield conn


def _set_conn_config(conn: psycopg.Connection, topic: str, claims: dict) -> None:
    role = claims.get("role")
    conn.execute(
        "select set_config('role', %s, true), set_config('realtime.topic', %s, true),"
        " set_config('request.jwt.claims', %s, true), set_config('request.jwt.claim.sub', %s, true),"
        " set_config('request.jwt.claim.role', %s, true), set_config('request.headers', %s, true)",
        (role, topic, json.dumps(claims), claims.get("sub"), role, "{}"))


def can_listen(dsn: str, token: Optional[str], topic: str) -> dict[str, bool]:
    """get_read_authorizations: may the token's role receive broadcast / presence on `topic`?"""
    claims = payload(token)
    with _tenant(dsn) as conn:
        with conn.transaction(force_rollback=True):
            ids = {ext: conn.execute(
                "insert into realtime.messages (topic, extension, inserted_at, updated_at)"
                " values (%s, %s, now() at time zone 'utc', now() at time zone 'utc') returning id",
                (topic, ext)).fetchone()[0] for ext in EXTENSIONS}
            _set_conn_config(conn, topic, claims)
            try:
                seen = {i for (i,) in conn.execute("select id from realtime.messages where topic = %s and id = any(%s)",
                                                   (topic, list(ids.values())))}
            except psycopg.errors.InsufficientPrivilege:
                seen = set()
    return {ext: ids[ext] in seen for ext in EXTENSIONS}


def can_send(dsn: str, token: Optional[str], topic: str) -> dict[str, bool]:
    """get_write_authorizations: may the token's role send broadcast / track presence on `topic`?"""
    claims = payload(token)
    allowed = {}
    with _tenant(dsn) as conn:
        with conn.transaction(force_rollback=True):
            _set_conn_config(conn, topic, claims)
            for ext in EXTENSIONS:
                try:
                    with conn.transaction():  # Repo.insert(..., mode: :savepoint)
                        conn.execute("insert into realtime.messages (topic, extension, inserted_at, updated_at)"
                                     " values (%s, %s, now() at time zone 'utc', now() at time zone 'utc')",
                                     (topic, ext))
                    allowed[ext] = True
                except psycopg.errors.InsufficientPrivilege:
                    allowed[ext] = False
    return allowed


def subscribe(dsn: str, token: Optional[str], schema: str, table: str, event: str = "*") -> Optional[str]:
    """Subscriptions.create for one `postgres_changes` binding: the subscription id, or None
    when no published table matches (Realtime answers "Unable to subscribe to changes")."""
    subscription_id = str(uuid.uuid4())
    with _tenant(dsn) as conn:
        rows = conn.execute(
            """with sub_tables as (
                   select rr.entity
                     from pg_publication_tables pub,
                          lateral (select format('%%I.%%I', pub.schemaname, pub.tablename)::regclass entity) rr
                    where pub.pubname = %(publication)s
                      and pub.schemaname like (case %(schema)s when '*' then '%%' else %(schema)s end)
                      and pub.tablename like (case %(table)s when '*' then '%%' else %(table)s end))
               insert into realtime.subscription as x (subscription_id, entity, filters, claims, action_filter)
               select %(id)s::text::uuid, sub_tables.entity, '{}', %(claims)s, %(event)s from sub_tables
               on conflict (subscription_id, entity, filters, action_filter)
               do update set claims = excluded.claims, created_at = now()
               returning id""",
            {"publication": PUBLICATION, "schema": schema, "table": table, "id": subscription_id,
             "claims": json.dumps(payload(token)), "event": event}).fetchall()
    return subscription_id if rows else None


def wal_record(dsn: str, schema: str, table: str, key: dict, action: str = "I") -> dict:
    """The wal2json (format 2) record of the row with primary key `key`, as the slot would give it."""
    query = sql.SQL("""select jsonb_build_object(
               'action', %(action)s::text, 'schema', %(schema)s::text, 'table', %(table)s::text, 'timestamp', now(),
               'columns', (select jsonb_agg(jsonb_build_object(
                               'name', a.attname, 'type', format_type(a.atttypid, null), 'typeoid', a.atttypid,
                               'value', to_jsonb(t) -> a.attname) order by a.attnum)
                             from pg_attribute a where a.attrelid = {rel}::regclass and a.attnum > 0
                              and not a.attisdropped),
               'pk', (select jsonb_agg(jsonb_build_object('name', a.attname, 'type', format_type(a.atttypid, null),
                                                          'typeoid', a.atttypid))
                        from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                       where i.indrelid = {rel}::regclass and i.indisprimary))
             from {table} t
            where to_jsonb(t) @> %(key)s::jsonb""").format(
        rel=sql.Literal(sql.Identifier(schema, table).as_string(None)), table=sql.Identifier(schema, table))
    with _tenant(dsn) as conn:
        (record,) = conn.execute(query, {"action": action, "schema": schema, "table": table,
                                         "key": json.dumps(key)}).fetchone()
    return record


def deliver(dsn: str, wal: dict) -> dict[str, dict]:
    """realtime.apply_rls for one change: subscription id -> {"record", "errors"} it would receive."""
    received: dict[str, dict] = {}
    with _tenant(dsn) as conn:
        with conn.transaction():
            for out, _rls, subscription_ids, errors in conn.execute(
                    "select wal, is_rls_enabled, subscription_ids, errors from realtime.apply_rls(%s::jsonb)",
                    (json.dumps(wal),)):
                for sid in subscription_ids or []:
                    received[str(sid)] = {"record": out.get("record"), "errors": list(errors or [])}
    return received
