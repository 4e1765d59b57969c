"""The running database follows postgresPassword: rotation of the stack's login roles.

The image sets role passwords only when it initialises an empty volume, so a new
postgresPassword must be set in the live database before any service is given it. The
dynamic resource in `database_passwords.py` wraps `apply`; the tests run it against a
real PostgreSQL that checks passwords.
"""
from __future__ import annotations

from typing import Optional, Sequence

import psycopg

from components.core.sql_templates import render_named

# supabase/supabase docker/utils/db-passwd.sh: every role upstream gives the stack password.
# Only the ones that exist and can log in are changed (anon, authenticated, service_role and
# dashboard_user are NOLOGIN in supabase/postgres; supabase_read_only_user has no password).
STACK_PASSWORD_ROLES = (
    "anon", "authenticated", "authenticator", "dashboard_user", "pgbouncer", "postgres", "service_role",
    "supabase_admin", "supabase_auth_admin", "supabase_functions_admin", "supabase_replication_admin",
    "supabase_storage_admin",
)
CONNECT_TIMEOUT_S = 10


class PasswordError(Exception):
    """The database accepted neither the new nor the previous password."""


def apply(conninfo: str, new: str, previous: Optional[str] = None, *, internal_database: Optional[str] = None,
          roles: Sequence[str] = STACK_PASSWORD_ROLES) -> list[str]:
    """Set `new` on every login role of `roles`; returns the roles changed.

    `conninfo` names the admin role and database but no password. The login tries `new`
    first (a previous run may have rotated already), then `previous`. With
    `internal_database`, a changed password also resets Supavisor's tenant there.
    """
    with _login(conninfo, new, previous) as conn:
        changed = _set_passwords(conn, new, roles)
        reset = bool(internal_database) and previous is not None and previous != new and _has_database(
            conn, internal_database)
    if reset:
        reset_pooler(conninfo, new, internal_database)
    return changed


def _login(conninfo: str, new: str, previous: Optional[str]) -> psycopg.Connection:
    candidates = [new] + ([previous] if previous and previous != new else [])
    for password in candidates:
        try:
            return psycopg.connect(conninfo, password=password, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as err:
            if not _is_auth_failure(err):
                raise PasswordError(f"cannot reach Postgres to set the role passwords: {_first_line(err)}") from None
    if len(candidates) == 1:
        raise PasswordError(
            "Postgres refused postgresPassword for supabase_admin; if its data volume was initialised with "
            "another password, set postgresPassword to that one (`pulumi config set --secret postgresPassword`)")
    raise PasswordError(
        "Postgres accepted neither the new postgresPassword nor the previous one recorded in the state; "
        "set postgresPassword back to the password the database has, run `pulumi up`, then change it again"
    )


def _is_auth_failure(err: psycopg.OperationalError) -> bool:
    sqlstate = getattr(err, "sqlstate", None)
    return sqlstate == "28P01" or "password authentication failed" in str(err)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _set_passwords(conn: psycopg.Connection, password: str, roles: Sequence[str]) -> list[str]:
    """One transaction: every role gets the new password, or none does."""
    found = [r for (r,) in conn.execute(
        "select rolname from pg_roles where rolcanlogin and rolname = any(%s) order by rolname", (list(roles),))]
    verifiers = [(role, _verifier(conn, password, role)) for role in found]
    with conn.transaction():
        conn.execute(render_named("stack/role_passwords.sql.j2", passwords=verifiers))
    return found


def _verifier(conn: psycopg.Connection, password: str, role: str) -> str:
    """What the server stores (SCRAM-SHA-256 under password_encryption's default), computed client-side."""
    return conn.pgconn.encrypt_password(password.encode(), role.encode()).decode()


def reset_pooler(conninfo: str, password: str, internal_database: str, admin_role: str = "supabase_admin") -> bool:
    """Empty `_supavisor` if Supavisor has run (its tenant holds the old password); True if it did."""
    with psycopg.connect(conninfo, dbname=internal_database, password=password, autocommit=True,
                         connect_timeout=CONNECT_TIMEOUT_S) as conn, conn.transaction():
        if conn.execute("select to_regclass('_supavisor.tenants') is null").fetchone()[0]:
            return False
        conn.execute(render_named("stack/pooler_reset.sql.j2", admin_role=admin_role))
    return True


def _has_database(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None
