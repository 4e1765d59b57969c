"""A project's user pool stores only the project's own roles (sql/projects/_auth_roles.sql.j2).

GoTrue signs a user's `role` column into every token, and its admin API lets the project's
service key set it (supabase/auth v2.186.0 internal/api/admin.go). The pool here is made by
GoTrue's own first migration (migrations/00_init_auth_schema.up.sql at that tag: the
`users` columns this test needs), as the project's GoTrue login; the real GoTrue's answer
through its admin API is in tests/test_project_auth.py.
"""
from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests import pg

AUTH_PASSWORD = "auth-admin-password-for-tests"
USERS = """create table if not exists {schema}.users (
    instance_id uuid null, id uuid not null unique, aud varchar(255) null, "role" varchar(255) null,
    email varchar(255) null unique, created_at timestamptz null, constraint users_pkey primary key (id))"""


def as_pool(db: str, names, statement: str, *params) -> None:
    """`statement` as the project's GoTrue runs it: logged in as `<p>_auth_admin`."""
    with psycopg.connect(db) as conn, conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(names.auth_admin)))
        conn.execute(statement.replace("{schema}", sql.Identifier(names.auth_schema).as_string(conn)), params)


@pytest.fixture
def pools(db):
    pg.bootstrap(db)
    found = {p: pg.create_project(db, p, auth_password=AUTH_PASSWORD) for p in ("alpha", "beta")}
    for names in found.values():  # GoTrue's first start, then the SQL step that follows it in `pulumi up`
        as_pool(db, names, USERS)
        pg.apply(db, names)
    return found


def insert(db, names, role) -> None:
    as_pool(db, names, "insert into {schema}.users (id, email, role) values (gen_random_uuid(), %s, %s)",
            f"{role or 'none'}@example.com", role)


@pytest.mark.parametrize("role", ["alpha_authenticated", "alpha_service", "alpha_anon", "", None])
def test_the_pool_takes_its_own_roles(db, pools, role):
    insert(db, pools["alpha"], role)


@pytest.mark.parametrize("role", ["beta_service", "beta_authenticated", "service_role", "authenticated",
                                  "postgres", "supabase_admin", "authenticator"])
def test_the_pool_refuses_any_other_role_on_insert_and_update(db, pools, role):
    with pytest.raises(psycopg.errors.CheckViolation, match="supabase_multi_project_roles"):
        insert(db, pools["alpha"], role)
    insert(db, pools["alpha"], "alpha_authenticated")
    with pytest.raises(psycopg.errors.CheckViolation):
        as_pool(db, pools["alpha"], "update {schema}.users set role = %s", role)


def test_the_step_is_idempotent_and_leaves_a_pool_without_users_alone(db, pools):
    pg.apply(db, pools["alpha"])  # a second update finds the constraint and keeps it
    with psycopg.connect(db) as conn:
        count = conn.execute("select count(*) from pg_constraint where conname = 'supabase_multi_project_roles'")
        assert count.fetchone() == (2,)
    fresh = pg.create_project(db, "gamma", auth_password=AUTH_PASSWORD)  # GoTrue has not started yet
    with psycopg.connect(db) as conn:
        assert conn.execute("select to_regclass('gamma_auth.users')").fetchone() == (None,)
    assert fresh.own_auth
