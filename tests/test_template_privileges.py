"""A project's template runs as the project's owner role and may create objects only in its
schema (plus security_invoker views in public over its tables), on a real PostgreSQL.

Each attack is a template file a user could put in `templatesDir`. Before issue 10 the
files ran as the superuser the program connects as, and every one of them succeeded.
"""
from __future__ import annotations

import psycopg
import pytest

from components.core import project_description
from components.core import migrations as m
from components.core.naming import ProjectNames
from tests import pg


@pytest.fixture
def victim(db):
    """Project `beta` (blog) exists; the attacker's project is created next to it."""
    pg.bootstrap(db)
    pg.create_project(db, "beta")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("insert into beta.posts (title, published) values ('kept', true)")
    return db


def attack(dsn: str, tmp_path, body: str, project: str = "evil") -> m.MigrationError:
    folder = tmp_path / project
    folder.mkdir(exist_ok=True)
    (folder / "0001_attack.sql.j2").write_text(body)
    names = ProjectNames(project)
    pg.provider_create(dsn, names)
    with pytest.raises(m.MigrationError) as refused:
        m.apply_project(dsn, names, project, m.discover(folder), where=project)
    assert str(refused.value).startswith(f"{project}/0001_attack.sql.j2: ")
    assert str(refused.value).endswith("nothing was applied")
    return refused.value


def scalar(dsn: str, query: str, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params or None).fetchone()[0]


@pytest.mark.parametrize("body, refusal", [
    ("alter role {{ owner | ident }} superuser;", "permission denied to alter role"),
    ("alter role authenticator password 'known';", "permission denied to alter role"),
    ("grant {{ owner | ident }} to authenticator;", "permission denied to grant role"),
    ("create extension hstore;", "permission denied to create extension"),
    ("create extension file_fdw;", "permission denied to create extension"),
    ("copy (select 1) to program 'id';", "permission denied to COPY to or from an external program"),
    ("insert into auth.users (id, email) values (gen_random_uuid(), 'root@example.com');",
     "permission denied for table users"),
    ("select * from beta.posts;", "permission denied for schema beta"),
    ("create table beta.planted (id int);", "permission denied for schema beta"),
    ("drop table beta.posts;", "permission denied for schema beta"),
    ("create view public.beta_leak as select * from beta.users;", "permission denied for schema beta"),
])
def test_the_owner_role_cannot_leave_its_project(victim, tmp_path, body, refusal):
    assert refusal in str(attack(victim, tmp_path, body))
    assert scalar(victim, "select count(*) from beta.posts") == 1
    assert scalar(victim, "select rolsuper from pg_roles where rolname = 'evil_owner'") is False


@pytest.mark.parametrize("escape", [
    "reset role;", "set role postgres;", "set session authorization postgres;", "reset session authorization;",
    "select set_config('role', 'postgres', true);",
    "do $$ begin execute 'reset role'; end $$;",
])
def test_the_template_cannot_switch_back_to_the_superuser(victim, tmp_path, escape):
    refused = attack(victim, tmp_path, escape + "\nalter role {{ owner | ident }} superuser;\n")
    assert "within security-definer function" in str(refused)
    assert "(line 1)" in str(refused)


def test_what_a_template_creates_runs_as_the_owner(victim, tmp_path):
    folder = tmp_path / "owned"
    folder.mkdir()
    (folder / "0001_init.sql.j2").write_text(
        "create table {{ schema | ident }}.who (role text default current_user, session text default session_user);\n"
        "insert into {{ schema | ident }}.who default values;\n")
    pg.create_project(victim, "owned", "owned", template_dir=folder)
    with psycopg.connect(victim) as conn:
        role, session = conn.execute("select role, session from owned.who").fetchone()
    assert role == "owned_owner" and session != "owned_owner"


@pytest.mark.parametrize("body, listed", [
    ("create table public.evil_notes (id int, body text);", "table public.evil_notes: outside schema evil"),
    ("create function public.evil_escalate() returns int language sql security definer as 'select 1';",
     "function public.evil_escalate(): outside schema evil"),
    ("create sequence public.evil_seq;", "sequence public.evil_seq: outside schema evil"),
    ("create type public.evil_mood as enum ('x');", "type public.evil_mood: outside schema evil"),
    ("create table {{ schema | ident }}.t (id int);\n"
     "create view public.evil_t as select * from {{ schema | ident }}.t;",
     "view public.evil_t: a public view must be security_invoker"),
    ("create table {{ schema | ident }}.t (id int);\n"
     "create materialized view public.evil_m as select * from {{ schema | ident }}.t;",
     "materialized view public.evil_m: a public view must be security_invoker"),
    ("create view public.evil_roles with (security_invoker = true) as select rolname from pg_roles;",
     "view public.evil_roles: outside schema evil"),
    ("create temp table evil_tmp (id int);", "outside schema evil"),
    ("select lo_create(0);", "large object"),
])
def test_objects_outside_the_schema_are_refused(victim, tmp_path, body, listed):
    assert listed in str(attack(victim, tmp_path, body))
    assert scalar(victim, "select count(*) from pg_class where relname like 'evil%%'") == 0
    assert scalar(victim, "select count(*) from supabase_multi.projects where name = 'evil'") == 0


def test_a_public_table_or_definer_function_never_reaches_other_keys(victim, tmp_path):
    """The finding: a template's public table and security definer function were open to the
    stack anon key and to every signed-in user. Now the file is refused, so neither exists."""
    attack(victim, tmp_path, "create table public.evil_open (secret text);\n"
                             "insert into public.evil_open values ('s3cret');\n"
                             "create function public.evil_definer() returns text language sql security definer\n"
                             "    as 'select secret from public.evil_open';\n")
    for role in ("anon", "authenticated", "beta_anon", "beta_service"):
        with pytest.raises(psycopg.errors.UndefinedTable):
            with pg.request(victim, role, "public") as conn:
                conn.execute("select * from public.evil_open")
        with pytest.raises(psycopg.errors.UndefinedFunction):
            with pg.request(victim, role, "public") as conn:
                conn.execute("select public.evil_definer()")


def test_declared_public_views_are_allowed_and_owned_by_the_project(victim):
    """blog's public views pass the audit; CREATE on public was only lent for the step."""
    assert scalar(victim, "select pg_get_userbyid(relowner) from pg_class where relname = 'beta_posts'") == "beta_owner"
    assert scalar(victim, "select has_schema_privilege('beta_owner', 'public', 'CREATE')") is False


def test_every_object_is_listed_in_the_outputs(db, tmp_path):
    folder = tmp_path / "listed"
    folder.mkdir()
    (folder / "0001_init.sql.j2").write_text(
        "create table {{ schema | ident }}.notes (id bigint generated always as identity primary key, body text);\n"
        "alter table {{ schema | ident }}.notes enable row level security;\n"
        "create sequence {{ schema | ident }}.tickets;\n"
        "create view {{ schema | ident }}.bodies with (security_invoker = true) as select body from "
        "{{ schema | ident }}.notes;\n"
        "create view public.listed_notes with (security_invoker = true) as select * from {{ schema | ident }}.notes;\n"
        "create function {{ schema | ident }}.note_count(since bigint) returns bigint language sql stable\n"
        "    security definer set search_path = '' as 'select count(*) from {{ schema | ident }}.notes where id > since';\n")
    pg.bootstrap(db)
    pg.create_project(db, "listed", "listed", template_dir=folder)
    described = project_description.describe(db, "listed")
    assert [t["name"] for t in described["tables"]] == ["notes"]
    assert [v["name"] for v in described["views"]] == ["bodies", "public.listed_notes"]
    assert described["functions"] == [{"name": "note_count(since bigint)", "returns": "bigint", "securityDefiner": True}]
    assert [s["name"] for s in described["sequences"]] == ["notes_id_seq", "tickets"]


def apply_template(dsn: str, tmp_path, project: str, body: str) -> ProjectNames:
    """A project whose one template file is `body` plus a table, applied as `pulumi up` does."""
    folder = tmp_path / project
    folder.mkdir()
    (folder / "0001_body.sql.j2").write_text(body + "\ncreate table {{ schema | ident }}.t (id int);\n")
    names = ProjectNames(project)
    pg.provider_create(dsn, names)
    m.apply_project(dsn, names, project, m.discover(folder), where=project)
    return names


@pytest.mark.parametrize("setting, value", [("default_transaction_read_only", "on"), ("statement_timeout", "1ms"),
                                            ("search_path", "evil, pg_catalog")])
def test_session_settings_a_template_makes_die_with_its_step(victim, tmp_path, setting, value):
    """A setting a template makes for the whole session must reach neither the superuser steps
    after it nor, on the reused connection (components/core/migrations.py), the next project's."""
    apply_template(victim, tmp_path, "sticky", f"select pg_catalog.set_config('{setting}', '{value}', false);")
    after = pg.create_project(victim, "after", "empty")  # the next step, on the same pooled connection
    assert scalar(victim, "select count(*) from supabase_multi.projects where schema_name = %s", after.schema) == 1


def test_a_session_advisory_lock_a_template_takes_is_released_with_its_step(victim, tmp_path):
    """The steps serialize on one advisory lock: a template holding it for the session would
    stall every later `pulumi up` that runs on another connection."""
    apply_template(victim, tmp_path, "locker", f"select pg_catalog.pg_advisory_lock({m.LOCK_KEY});")
    with psycopg.connect(victim, autocommit=True) as other:
        assert other.execute("select pg_try_advisory_lock(%s)", (m.LOCK_KEY,)).fetchone()[0]
