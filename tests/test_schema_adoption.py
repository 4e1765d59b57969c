"""A project never adopts a schema it did not create (issue 10), on a real PostgreSQL.

Resources run as Pulumi runs them: pulumi-postgresql's Schema create (emulated statement
for statement by tests/pg.py: it ALTERs the owner of an existing schema whatever
`if_not_exists` says), then the project's SQL step.
"""
from __future__ import annotations

import psycopg
import pytest

from components.core import migrations as m
from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import ProjectNames
from tests import pg


def owner_of(dsn: str, schema: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s",
                            (schema,)).fetchone()[0]


@pytest.fixture
def existing(db):
    """Someone's schema `ledger` with data, made before any project of that name."""
    pg.bootstrap(db)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("create role ledger_app nologin")
        conn.execute("create schema ledger authorization ledger_app")
        conn.execute("create table ledger.entries (amount int)")
        conn.execute("insert into ledger.entries values (100)")
    return db


def test_the_schema_resource_cannot_take_over_an_existing_schema(existing):
    names = ProjectNames("ledger")
    with pytest.raises(psycopg.errors.InsufficientPrivilege,
                       match=r"schema ledger exists and is not recorded as project 'ledger' in supabase_multi.projects "
                             r"\(it already holds objects\); refusing to hand it to role ledger_owner"):
        pg.provider_create(existing, names)
    assert owner_of(existing, "ledger") == "ledger_app"


def test_an_existing_user_pool_schema_is_not_taken_over_either(existing):
    """Project `ledger` (auth mode own) also gets `ledger_auth`, through ProjectAuth's Schema."""
    with psycopg.connect(existing, autocommit=True) as conn:
        conn.execute("create schema ledger_auth authorization ledger_app")
        conn.execute("create table ledger_auth.users (id uuid)")
        conn.execute("create role ledger_auth_admin login")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema ledger_auth exists .* already holds objects"):
        pg.provider_create_schema(existing, "ledger_auth", "ledger_auth_admin", if_not_exists=True)
    assert owner_of(existing, "ledger_auth") == "ledger_app"


def test_an_existing_empty_schema_with_foreign_grants_is_refused(db):
    pg.bootstrap(db)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("create schema ledger")
        conn.execute("grant create on schema ledger to anon")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="grants privileges to roles of other projects"):
        pg.provider_create(db, ProjectNames("ledger"))


def test_the_sql_step_refuses_too(existing):
    """Defence in depth: with the event trigger out of the way (say, dropped by an operator),
    the migration step still refuses an unrecorded schema that holds objects."""
    names = ProjectNames("ledger")
    with psycopg.connect(existing, autocommit=True) as conn:
        conn.execute("drop event trigger supabase_multi_refuse_schema_adoption")
    pg.provider_create(existing, names)  # the provider's ALTER SCHEMA ... OWNER TO ledger_owner
    with pytest.raises(m.MigrationError, match=r"project 'ledger': schema 'ledger' exists and is not recorded as "
                                               r"this project's in supabase_multi.projects \(it already holds objects\)"):
        m.apply_project(existing, names, "blog", m.discover(BUILTIN_TEMPLATES / "blog"))
    with psycopg.connect(existing) as conn:
        assert conn.execute("select count(*) from supabase_multi.projects").fetchone() == (0,)
        assert conn.execute("select to_regclass('ledger.posts')").fetchone() == (None,)


def test_a_fresh_schema_and_a_retry_after_a_failed_create_are_accepted(db, tmp_path):
    pg.bootstrap(db)
    names = ProjectNames("fresh")
    pg.provider_create(db, names)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "0001_init.sql.j2").write_text("create table {{ schema | ident }}.t (id int);\nselect 1/0;\n")
    with pytest.raises(m.MigrationError, match="division by zero"):
        m.apply_project(db, names, "blog", m.discover(broken))
    assert m.apply_project(db, names, "blog", m.discover(BUILTIN_TEMPLATES / "blog"))[0] == "0001_users_and_posts.sql.j2"


def test_a_recorded_project_keeps_updating_and_recreates_after_archive(db):
    pg.bootstrap(db)
    names = pg.create_project(db, "kept")
    assert m.apply_project(db, names, "blog", m.discover(BUILTIN_TEMPLATES / "blog")) == []
    pg.remove_project(db, names)
    pg.create_project(db, "kept")
    assert owner_of(db, "kept") == "kept_owner"
