"""Rotating postgresPassword on a real PostgreSQL that checks passwords.

After a rotation every login role of the stack logs in with the new password and is refused
with the old one; a failed step changes nothing; no cleartext password reaches the SQL;
Supavisor's tenant (which holds the old password) is reset only by a real change.
"""
from __future__ import annotations

import psycopg
import pytest

from components.core import role_passwords
from components.providers.database_passwords import DatabasePasswordsProvider
from components.core.role_passwords import STACK_PASSWORD_ROLES, PasswordError
from tests import pg

OLD = "old-stack-password-0123456789"
NEW = "new-stack-password-9876543210"
# What the image creates with LOGIN among upstream's list (tests/sql/supabase_login_roles.sql).
LOGIN_ROLES = ["authenticator", "pgbouncer", "postgres", "supabase_admin", "supabase_auth_admin",
               "supabase_functions_admin", "supabase_replication_admin", "supabase_storage_admin"]


@pytest.fixture(scope="module")
def password_server(tmp_path_factory) -> str:
    with pg.password_checking_server(tmp_path_factory.mktemp("pgpw"), OLD) as conninfo:
        yield conninfo


@pytest.fixture
def server(password_server) -> str:
    """The password-checking server, back to OLD on every login role and without Supavisor's tables."""
    yield password_server
    role_passwords.apply(password_server, OLD, NEW)
    with psycopg.connect(password_server, dbname="_supabase", password=OLD, autocommit=True) as conn:
        conn.execute("drop schema if exists _supavisor cascade")


def logs_in(conninfo: str, role: str, password: str) -> bool:
    try:
        psycopg.connect(conninfo, user=role, password=password, connect_timeout=5).close()
        return True
    except psycopg.OperationalError as err:
        assert "password authentication failed" in str(err), err
        return False


def accepted(conninfo: str, password: str) -> list[str]:
    return [role for role in LOGIN_ROLES if logs_in(conninfo, role, password)]


def admin(conninfo: str, password: str) -> psycopg.Connection:
    return psycopg.connect(conninfo, password=password, autocommit=True)


def test_the_server_really_checks_passwords(server):
    """Not vacuous: before rotation OLD works for every role and NEW for none."""
    assert accepted(server, OLD) == LOGIN_ROLES
    assert accepted(server, NEW) == []


def test_rotation_moves_every_login_role_to_the_new_password(server):
    changed = role_passwords.apply(server, NEW, OLD)
    assert changed == LOGIN_ROLES
    assert accepted(server, NEW) == LOGIN_ROLES
    assert accepted(server, OLD) == []
    assert set(LOGIN_ROLES) <= set(STACK_PASSWORD_ROLES)


def test_roles_that_do_not_log_in_with_the_stack_password_are_left_alone(server):
    role_passwords.apply(server, NEW, OLD)
    with admin(server, NEW) as conn:
        passwords = dict(conn.execute(
            "select rolname, rolpassword from pg_authid where rolname in "
            "('anon', 'authenticated', 'service_role', 'dashboard_user', 'supabase_read_only_user')").fetchall())
    assert passwords == {r: None for r in ("anon", "authenticated", "service_role", "dashboard_user",
                                           "supabase_read_only_user")}


def test_a_rotation_that_already_happened_converges(server):
    """An `up` interrupted after the database step: the state still has OLD, the database NEW."""
    role_passwords.apply(server, NEW, OLD)
    assert role_passwords.apply(server, NEW, OLD) == LOGIN_ROLES
    assert accepted(server, NEW) == LOGIN_ROLES


def test_unknown_passwords_are_refused_with_a_clear_message_and_change_nothing(server):
    with pytest.raises(PasswordError, match="accepted neither the new postgresPassword nor the previous one"):
        role_passwords.apply(server, NEW, "not-the-password-either")
    assert accepted(server, OLD) == LOGIN_ROLES


def test_a_first_up_on_a_database_with_another_password_says_so(server):
    with pytest.raises(PasswordError, match="refused postgresPassword for supabase_admin"):
        role_passwords.apply(server, NEW)
    assert accepted(server, OLD) == LOGIN_ROLES


def test_a_database_that_is_not_there_is_named(server):
    unreachable = psycopg.conninfo.make_conninfo(server, host="/nonexistent-socket-dir")
    with pytest.raises(PasswordError, match="cannot reach Postgres"):
        role_passwords.apply(unreachable, NEW, OLD)


def test_a_failing_rotation_changes_no_role(server, monkeypatch):
    real = role_passwords.render_named

    def failing(name, **context):
        return real(name, **context) + "\nselect 1/0;"

    monkeypatch.setattr(role_passwords, "render_named", failing)
    with pytest.raises(psycopg.errors.DivisionByZero):
        role_passwords.apply(server, NEW, OLD)
    assert accepted(server, OLD) == LOGIN_ROLES and accepted(server, NEW) == []


def test_no_cleartext_password_reaches_the_sql(server, monkeypatch):
    sent: list[str] = []
    real = role_passwords.render_named

    def spy(name, **context):
        text = real(name, **context)
        sent.append(text)
        return text

    monkeypatch.setattr(role_passwords, "render_named", spy)
    role_passwords.apply(server, NEW, OLD)
    (statements,) = sent
    assert NEW not in statements and OLD not in statements
    assert statements.count("SCRAM-SHA-256$") == len(LOGIN_ROLES)
    assert "set local log_statement = 'none'" in statements


def supavisor_tenants(conninfo: str, password: str) -> bool:
    with psycopg.connect(conninfo, dbname="_supabase", password=password) as conn:
        return conn.execute("select to_regclass('_supavisor.tenants') is not null").fetchone()[0]


def add_supavisor_tenant(conninfo: str, password: str) -> None:
    with psycopg.connect(conninfo, dbname="_supabase", password=password, autocommit=True) as conn:
        conn.execute("create schema _supavisor authorization supabase_admin")
        conn.execute("create table _supavisor.tenants (external_id text primary key)")
        conn.execute("insert into _supavisor.tenants values ('dev')")


def test_a_changed_password_resets_supavisors_tenant(server):
    add_supavisor_tenant(server, OLD)
    role_passwords.apply(server, NEW, OLD, internal_database="_supabase")
    assert not supavisor_tenants(server, NEW)
    with psycopg.connect(server, dbname="_supabase", password=NEW) as conn:
        owner = conn.execute("select nspowner::regrole::text from pg_namespace where nspname = '_supavisor'").fetchone()
    assert owner == ("supabase_admin",)  # empty, ready for Supavisor's own migrations


def test_the_first_up_and_an_unchanged_password_keep_supavisors_tenant(server):
    add_supavisor_tenant(server, OLD)
    role_passwords.apply(server, OLD, None, internal_database="_supabase")
    role_passwords.apply(server, OLD, OLD, internal_database="_supabase")
    assert supavisor_tenants(server, OLD)


def test_the_dynamic_provider_rotates_with_the_password_in_its_state(server):
    """The code path of `pulumi up`: create records the password, update reads it from olds."""
    params = psycopg.conninfo.conninfo_to_dict(server)
    props = {"host": params["host"], "port": int(params.get("port", 5432)), "user": "supabase_admin",
             "database": "postgres", "internal_database": "_supabase", "password": OLD}
    provider = DatabasePasswordsProvider()
    created = provider.create(props)
    assert created.outs["password"] == OLD
    updated = provider.update(created.id, created.outs, props | {"password": NEW})
    assert updated.outs["password"] == NEW
    assert accepted(server, NEW) == LOGIN_ROLES and accepted(server, OLD) == []
    assert provider.diff(created.id, created.outs, props | {"password": NEW}).replaces == []
