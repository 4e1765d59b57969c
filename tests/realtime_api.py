"""Realtime's database side, as supabase/realtime v2.78.15 runs it for the one tenant.

Realtime connects as the tenant's database user (supabase_admin in the stack, the
server's superuser here) and verifies the socket's token with its tenant row: an HS256
token with the row's `jwt_secret` (API_JWT_SECRET, the stack JWT secret), an ES256/RS256
token with the key of the row's `jwt_jwks` that has the token's kid (`verify`).

* Channel authorization (lib/realtime/tenants/authorization.ex): for a private channel it
  inserts one realtime.messages row per extension, sets `role`, `realtime.topic` and the
  claims locally (set_conn_config), selects those rows as the role (may listen), inserts
  as the role in a savepoint (may send), and rolls everything back.
* Postgres changes (lib/extensions/postgres_cdc_rls/subscriptions.ex): a subscription is a
  realtime.subscription row for each published table the request names; each change read
  from the replication slot (wal2json) goes through realtime.apply_rls, whose result names
  the subscriptions that may receive it.
* Joining a channel (lib/realtime_web/channels/realtime_channel.ex): the tenant row of
  `_realtime.tenants` decides whether public channels exist at all (`private_only`); only a
  private channel goes on to the authorization above.
"""
from __future__ import annotations

import json
import re
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

import jwt
import psycopg
import psycopg.rows
from psycopg import sql

from tests.storage_api import JWT_SECRET, payload  # the same stack JWT secret and verification

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


def can_listen(dsn: str, token: Optional[str], topic: str, claims: Optional[dict] = None) -> dict[str, bool]:
    """get_read_authorizations: may the token's role receive broadcast / presence on `topic`?
    `claims` are the token's as the socket verified them (default: an HS256 token's)."""
    claims = payload(token) if claims is None else claims
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


def can_send(dsn: str, token: Optional[str], topic: str, claims: Optional[dict] = None) -> dict[str, bool]:
    """get_write_authorizations: may the token's role send broadcast / track presence on `topic`?"""
    claims = payload(token) if claims is None else claims
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


# -- the tenant: Realtime's own tables and its channel join decision ---------------------------
#
# Realtime keeps its tenants in `_realtime.tenants` (priv/repo/migrations/*.exs, created by
# tests/sql/realtime_tenants.sql). With SEED_SELF_HOST=true, run.sh runs priv/repo/seeds.exs at
# every container start: in one transaction it deletes the tenant `SELF_HOST_TENANT_NAME`
# (default realtime-dev) and inserts it again from Realtime.Api.Tenant's changeset.

TENANT = "realtime-dev"
TENANTS_SQL = Path(__file__).parent / "sql" / "realtime_tenants.sql"


def migrate_realtime(dsn: str) -> None:
    """bin/migrate at a container start: Ecto.Migrator makes sure schema_migrations exists, then
    runs each migration it has not recorded, each in its own transaction."""
    prologue, *blocks = re.split(r"^(?=-- \d{14}_)", TENANTS_SQL.read_text(), flags=re.M)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(prologue)
        done = {v for (v,) in conn.execute("select version from _realtime.schema_migrations")}
        for block in blocks:
            if int(block[3:17]) not in done:
                conn.execute(block)


def seed_self_host(dsn: str, tenant: str = TENANT) -> None:
    """priv/repo/seeds.exs as Ecto runs it: Repo.get_by, Repo.delete! (the has_many
    `on_delete: :delete_all` extensions first), then Repo.insert! of the changeset. Ecto sends
    every field of the struct that is not nil, so `private_only` goes in as its schema default,
    false (lib/realtime/api/tenant.ex); the limits are maybe_set_default's config values."""
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("set local search_path to _realtime")  # DB_AFTER_CONNECT_QUERY
        found = conn.execute("select id from tenants where external_id = %s", (tenant,)).fetchone()
        if found:
            conn.execute("delete from extensions where tenant_external_id = %s", (tenant,))
            conn.execute("delete from tenants where id = %s", found)
        conn.execute(
            "insert into tenants (id, name, external_id, jwt_secret, max_presence_events_per_second,"
            " max_payload_size_in_kb, suspend, private_only, migrations_ran, broadcast_adapter, presence_enabled,"
            " max_bytes_per_second, max_channels_per_client, max_concurrent_users, max_events_per_second,"
            " max_joins_per_second, inserted_at, updated_at)"
            " values (%s, %s, %s, %s, 1000, 3000, false, false, 0, 'gen_rpc', false, 100000, 100, 200, 100, 100, %s, %s)",
            (uuid.uuid4(), tenant, tenant, "<API_JWT_SECRET encrypted with DB_ENC_KEY>", now, now))
        conn.execute(
            "insert into extensions (id, type, settings, tenant_external_id, inserted_at, updated_at)"
            " values (%s, 'postgres_cdc_rls', %s, %s, %s, %s)",
            (uuid.uuid4(), json.dumps({"db_name": "postgres", "db_host": "db", "db_user": "supabase_admin",
                                       "db_port": "5432", "region": "us-east-1", "poll_interval_ms": 100,
                                       "poll_max_record_bytes": 1_048_576, "ssl_enforced": False}),
             tenant, now, now))


def update_tenant(dsn: str, tenant: str = TENANT, **changes) -> None:
    """Realtime.Api.update_tenant_by_external_id (the tenant API's PUT, the migrations_ran
    bookkeeping): Repo.update sends the changed fields and updated_at."""
    columns = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v))
                                 for k, v in (changes | {"updated_at": datetime.now(timezone.utc)}).items())
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("update _realtime.tenants set {} where external_id = {}").format(
            columns, sql.Literal(tenant)))


def tenant_row(dsn: str, tenant: str = TENANT) -> Optional[dict]:
    """Tenants.Cache.get_tenant_by_external_id on a cache miss: the row as Realtime reads it."""
    with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("select * from _realtime.tenants where external_id = %s", (tenant,)).fetchone()


_SIGNED = {"HS": "oct", "RS": "RSA", "ES": "EC"}


def verify(token: str, jwt_secret: str, jwt_jwks: Optional[dict]) -> dict:
    """RealtimeWeb.JwtVerification.verify (lib/realtime_web/channels/auth/jwt_verification.ex):
    generate_signer/3 picks the key from the header: with a kid and a `keys` list, an RS/ES
    token takes the RSA/EC key with that kid (none: error_generating_signer) and an HS token
    the `oct` key with that kid, else `jwt_secret`; an HS token without kid `jwt_secret`;
    anything else has no signer. Then Joken checks the signature and `exp`."""
    header = jwt.get_unverified_header(token)
    alg, kid = header.get("alg"), header.get("kid")
    kind = _SIGNED.get(str(alg)[:2]) if alg in ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                                                "ES256", "ES384", "ES512") else None
    keys = jwt_jwks.get("keys") if isinstance(jwt_jwks, dict) else None
    key: object = None
    if isinstance(kid, str) and isinstance(keys, list) and kind in ("RSA", "EC"):
        found = next((k for k in keys if k.get("kty") == kind and k.get("kid") == kid), None)
        key = jwt.PyJWK(found).key if found else None
    elif kind == "oct":
        found = next((k for k in keys if k.get("kty") == "oct" and k.get("kid") == kid
                      and isinstance(k.get("k"), str)), None) if isinstance(kid, str) and isinstance(keys, list) else None
        key = jwt.utils.base64url_decode(found["k"]) if found else jwt_secret
    if key is None:
        raise jwt.InvalidKeyError("error_generating_signer")
    return jwt.decode(token, key, algorithms=[alg], options={"verify_aud": False})


def socket_claims(dsn: str, token: Optional[str], tenant: str = TENANT) -> Optional[dict]:
    """UserSocket.connect: the tenant row from the cache, its secret decrypted (the stack JWT
    secret: API_JWT_SECRET), the token verified with it and the row's `jwt_jwks`."""
    found = tenant_row(dsn, tenant)
    return verify(token, JWT_SECRET, found.get("jwt_jwks")) if token and found else None


def join(dsn: str, token: Optional[str], topic: str, private: bool, tenant: str = TENANT) -> Optional[str]:
    """RealtimeChannel.join("realtime:" <> topic) up to the point where the channel is joined
    (lib/realtime_web/channels/realtime_channel.ex): None when it joins, else the error code
    the client gets. In its order: the tenant from the cache (TenantNotFound), only_private?
    (PrivateOnly), confirm_token (the token verified as `verify` does, with `role` and `exp`),
    and for a private channel maybe_assign_policies (Unauthorized without broadcast read). A
    public channel is checked no further: whoever joins it reads and sends there."""
    found = tenant_row(dsn, tenant)
    if found is None:
        return "TenantNotFound"
    if found.get("private_only") and not private:
        return "PrivateOnly"
    try:
        claims = socket_claims(dsn, token, tenant)
    except jwt.PyJWTError:
        return "JwtSignatureError"
    if not claims or not {"role", "exp"} <= set(claims):
        return "InvalidJWTToken"
    if private and not can_listen(dsn, token, topic, claims)["broadcast"]:
        return "Unauthorized"
    return None


def can_broadcast(dsn: str, token: Optional[str], topic: str, private: bool, tenant: str = TENANT) -> bool:
    """A broadcast sent on a channel it joined: BroadcastHandler.handle sends on a public channel
    unchecked, and on a private one only with the write policy."""
    if join(dsn, token, topic, private, tenant) is not None:
        return False
    return not private or can_send(dsn, token, topic, socket_claims(dsn, token, tenant))["broadcast"]
