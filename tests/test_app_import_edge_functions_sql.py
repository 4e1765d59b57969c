"""Supabase's examples/edge-functions app (tests/fixtures/apps/supabase_edge_functions) deployed as
a project on the real PostgreSQL, next to a `blog` project, through the program's SQL step: its
migrations (less the one PostgreSQL cannot parse, tests/apps.py) land in its schema, its sign-up
trigger fills its `users`, and its `todos` policy keeps each user to their own rows."""
from __future__ import annotations

import psycopg
import pytest

from components.core.naming import ProjectNames
from tests import apps, pg
from tests.test_app_import_sql import apply_app, rows, sign_up, tables_of, user_pool

TABLES = {"users", "discord_promise_challenge", "todos"}


@pytest.fixture
def deployed(db, tmp_path):
    pg.bootstrap(db)
    folder = apps.deployable(apps.EDGE_FUNCTIONS, tmp_path, (apps.EDGE_FUNCTIONS_UNPARSABLE,))
    names = ProjectNames("tasks")
    pg.provider_create(db, names)
    user_pool(db, names)
    apply_app(db, names, folder)
    return db, names, pg.create_project(db, "blog")


def test_the_apps_tables_land_in_its_schema(deployed):
    dsn, tasks, _blog = deployed
    assert tables_of(dsn, tasks.schema) == TABLES
    assert rows(dsn, "select count(*) from pg_class where relnamespace = 'public'::regnamespace and relname "
                     "in ('users', 'todos', 'discord_promise_challenge')") == [(0,)]


def test_sign_up_fills_users_and_todos_stay_their_owners(deployed):
    dsn, tasks, blog = deployed
    ada, bob = sign_up(dsn, tasks, "Ada"), sign_up(dsn, tasks, "Bob")
    assert sorted(rows(dsn, "select full_name from tasks.users")) == [("Ada",), ("Bob",)]
    with pg.request(dsn, tasks.authenticated, tasks.schema, {"sub": ada}) as conn:
        conn.execute("insert into todos (title) values ('ship functions')")  # user_id defaults to auth.uid()
        assert conn.execute("select title, user_id::text from todos").fetchall() == [("ship functions", ada)]
    with pg.request(dsn, tasks.authenticated, tasks.schema, {"sub": bob}) as conn:
        assert conn.execute("select count(*) from todos").fetchall() == [(0,)]
    for role in blog.api_roles():
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with pg.request(dsn, role, blog.schema) as conn:
                conn.execute("select * from tasks.todos")
