"""Projects for the backup tests, made as `pulumi up` makes them on a real PostgreSQL
(tests/pg.py), with their own users by default (`auth.mode: own`: a user pool `<p>_auth`
written by `<p>_auth_admin`, as GoTrue writes it); their rows, and the probes that prove what
changed or who is denied. The fixtures `stack` and `backup_of_alpha` are imported by the test
modules that use them.
"""
from __future__ import annotations


from pathlib import Path
from typing import Optional

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from backup import dump
from components.core.naming import ProjectNames
from tests import pg

def new_project(dsn: str, name: str, auth_mode: str = "own", **options) -> ProjectNames:
    """A project as `pulumi up` makes it; with its own users, their pool as its GoTrue makes it."""
    names = pg.create_project(dsn, name, auth_mode=auth_mode, **options)
    if names.own_auth:
        pg.gotrue_pool_stand_in(dsn, names)
    return names


def seed(dsn: str, project: str, posts: int = 30) -> list[str]:
    """Authors and posts with NULLs, drafts, quotes and non-ASCII text, as the service role writes
    them; with the project's own users, each author is also a user of its pool (same id, as
    GoTrue's sign-up and the profile default auth.uid() make it). Returns the authors' ids."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        pool = conn.execute("select to_regclass(%s)", (f"{project}_auth.users",)).fetchone()[0]
        authors = [pg.new_user_id() for _ in range(3)]
        for i, author in enumerate(authors):
            if pool:
                conn.execute(sql.SQL("insert into {}.users (id, email, role, aud) values (%s, %s, %s, %s)").format(
                    sql.Identifier(f"{project}_auth")), (author, f"{author}@example.com", f"{project}_authenticated",
                                                          "authenticated"))
            conn.execute(sql.SQL("insert into {}.users (id, email, name, avatar_url) values (%s, %s, %s, %s)").format(
                sql.Identifier(project)), (author, f"{author}@example.com", f"Ada \"{i}\" Łukasiewicz", None if i else "a.png"))
        for i in range(posts):
            conn.execute(sql.SQL("insert into {}.posts (title, content, slug, published, user_id) "
                                 "values (%s, %s, %s, %s, %s)").format(sql.Identifier(project)),
                         (f"Post {i}", None if i % 7 == 0 else f"body\n\t'{i}' ✓", f"post-{i}", i % 3 != 0,
                          authors[i % 3]))
    return authors


def rows(dsn: str, schema: str) -> dict[str, list[str]]:
    """Every row of every table of `schema`, as JSON text, in a stable order."""
    with psycopg.connect(dsn) as conn:
        tables = [t for (t,) in conn.execute(
            "select relname from pg_class where relnamespace = %s::regnamespace and relkind = 'r' order by 1", (schema,))]
        return {t: [r for (r,) in conn.execute(sql.SQL("select to_jsonb(x)::text from {}.{} x order by 1").format(
            sql.Identifier(schema), sql.Identifier(t)))] for t in tables}


def database_state(dsn: str) -> dict:
    """Schemas, roles (and who may log in), grants, policies, registry and every row of every
    project and user pool: proof that nothing changed."""
    with psycopg.connect(dsn) as conn:
        q = lambda text: conn.execute(text).fetchall()  # noqa: E731
        state = {
            "schemas": q("select nspname, nspowner::regrole::text, nspacl::text from pg_namespace order by 1"),
            "relations": q("select c.oid::regclass::text, c.relowner::regrole::text, c.relacl::text from pg_class c "
                           "join pg_namespace n on n.oid = c.relnamespace where n.nspname not like 'pg_%%' "
                           "and n.nspname <> 'information_schema' order by 1"),
            "roles": q("select rolname, rolcanlogin from pg_roles order by 1"),
            "policies": q("select polrelid::regclass::text, polname, polroles::text from pg_policy order by 1, 2"),
            "registry": q("select schema_name, name, template, status, auth_mode from supabase_multi.projects order by 1"),
            "migrations": q("select scope, version, checksum from supabase_multi.migrations order by 1, 2"),
        }
        schemas = [n for (n,) in q("select n.nspname from supabase_multi.projects p join pg_namespace n "
                                   "on n.nspname in (p.schema_name, p.schema_name || '_auth')")]
    return state | {s: rows(dsn, s) for s in schemas}


def denied(dsn: str, role: str, schema: str, query: str, claims: Optional[dict] = None) -> bool:
    """`query` as a PostgREST request of `role` (with a signed-in user's claims) is refused."""
    try:
        with pg.request(dsn, role, schema, claims) as conn:
            conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def denied_to_login(dsn: str, role: str, query: str) -> bool:
    """`query` over a connection of LOGIN role `role` (a project's GoTrue) is refused."""
    try:
        with psycopg.connect(pg.with_database(dsn, conninfo_to_dict(dsn)["dbname"], user=role)) as conn:
            conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def user(project: str, user_id: str) -> dict:
    """The claims of a token the project's GoTrue issues to one of its users."""
    return {"sub": user_id, "email": f"{user_id}@example.com", "role": f"{project}_authenticated"}


# A later migration of the blog template, run as the project's owner (it records who ran it).
PINNED = ("alter table {{ schema | ident }}.posts add column pinned boolean not null default false;\n"
          "create table {{ schema | ident }}.applied_by (who text default current_user);\n"
          "insert into {{ schema | ident }}.applied_by default values;\n")


@pytest.fixture
def stack(db):
    """A stack with projects alpha (the one backed up) and beta (a bystander), both seeded."""
    pg.bootstrap(db)
    for name in ("alpha", "beta"):
        new_project(db, name)
        seed(db, name)
    return db


@pytest.fixture
def backup_of_alpha(stack, pg_tools, tmp_path) -> Path:
    return dump.dump(stack, "alpha", tmp_path / "backups", tools=pg_tools)
