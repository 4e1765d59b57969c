"""Realtime per project, on a real PostgreSQL with the realtime schema of realtime v2.78.15.

Policies come from the project's own SQL step; channel authorization and postgres changes
run as Realtime runs them (tests/realtime_api.py, from the pinned source).
"""
from __future__ import annotations

import psycopg
import pytest

from components.core import project_description
from components.core import migrations as m
from tests import pg
from tests import realtime_api as realtime
from tests import storage_api as storage

BOTH = {"broadcast": True, "presence": True}
NEITHER = {"broadcast": False, "presence": False}


@pytest.fixture
def stack(db):
    pg.bootstrap(db)
    return db, pg.create_project(db, "alpha"), pg.create_project(db, "beta")


def project_tokens(names) -> list[str]:
    return [storage.key(names.anon), storage.key(names.service),
            storage.user_token(names.authenticated, pg.new_user_id())]


# -- broadcast and presence ---------------------------------------------------------------


def test_project_keys_and_users_use_their_own_topics(stack):
    dsn, a, _ = stack
    for token in project_tokens(a):
        assert realtime.can_listen(dsn, token, "alpha:room-1") == BOTH
        assert realtime.can_send(dsn, token, "alpha:room-1") == BOTH


@pytest.mark.parametrize("topic", ["beta:room-1", "beta:alpha:room-1", "room-1", "alpha", "alphabeta:x"])
def test_project_keys_and_users_are_refused_other_topics(stack, topic):
    dsn, a, _ = stack
    for token in project_tokens(a):
        assert realtime.can_listen(dsn, token, topic) == NEITHER
        assert realtime.can_send(dsn, token, topic) == NEITHER


def test_a_project_name_that_prefixes_another_gets_none_of_its_topics(db):
    pg.bootstrap(db)
    a = pg.create_project(db, "a", "empty")
    pg.create_project(db, "a_b", "empty")
    assert realtime.can_listen(db, storage.key(a.service), "a_b:room") == NEITHER
    assert realtime.can_send(db, storage.key("a_b_anon"), "a:room") == NEITHER


def test_stack_keys_without_project_get_no_private_channel(stack):
    dsn, *_ = stack
    for token in (storage.key("anon"), storage.user_token("authenticated", pg.new_user_id())):
        assert realtime.can_listen(dsn, token, "alpha:room-1") == NEITHER
        assert realtime.can_send(dsn, token, "beta:room-1") == NEITHER


def test_a_template_policy_cannot_open_another_projects_topics(db, tmp_path):
    """Template SQL runs as the project's owner, which owns no realtime table: a policy that would
    open every topic is refused outright, and the other project's topics stay closed."""
    (tmp_path / "0001_open.sql.j2").write_text(
        "create policy {{ (project ~ '_hears_everything') | ident }} on realtime.messages\n"
        "    for select to {{ anon | ident }} using (true);\n")
    pg.bootstrap(db)
    pg.create_project(db, "beta", "empty")
    a = pg.ProjectNames("alpha")
    pg.provider_create(db, a)
    with pytest.raises(m.MigrationError, match="0001_open.sql.j2: permission denied"):
        pg.apply(db, a, "open", tmp_path)
    pg.apply(db, a, "empty")
    pg.provider_grant(db, a)
    assert realtime.can_listen(db, storage.key(a.anon), "beta:room") == NEITHER


def test_archived_projects_keys_lose_their_topics(stack):
    dsn, a, _ = stack
    tokens = project_tokens(a)
    pg.remove_project(dsn, a, "archive")
    pg.create_project(dsn, "gamma", "empty")  # the roles are gone; a token naming them is refused
    for token in tokens:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            realtime.can_listen(dsn, token, "alpha:room-1")


# -- postgres changes ---------------------------------------------------------------------


def add_posts(dsn: str, project: str) -> dict[str, str]:
    author = pg.new_user_id()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'insert into "{project}".users (id, email, name) values (%s, %s, %s)',
                     (author, f"{author}@example.com", "Ada"))
        ids = dict(conn.execute(
            f'insert into "{project}".posts (title, published, user_id) values '
            "('Hello', true, %s), ('Draft', false, %s) returning title, id::text", (author, author)).fetchall())
    return {"author": author, **ids}


def test_blog_publishes_its_tables(stack):
    dsn, a, _ = stack
    assert project_description.describe(dsn, a.schema)["published"] == ["posts", "users"]


def test_changes_reach_a_subscriber_only_through_row_level_security(stack):
    dsn, a, _ = stack
    anon = realtime.subscribe(dsn, storage.key(a.anon), "alpha", "posts")
    service = realtime.subscribe(dsn, storage.key(a.service), "alpha", "posts")
    posts = add_posts(dsn, "alpha")
    published = realtime.deliver(dsn, realtime.wal_record(dsn, "alpha", "posts", {"id": posts["Hello"]}))
    draft = realtime.deliver(dsn, realtime.wal_record(dsn, "alpha", "posts", {"id": posts["Draft"]}))
    assert published[anon]["record"]["title"] == "Hello" and published[anon]["errors"] == []
    assert anon not in draft  # RLS: anon reads published posts only
    assert draft[service]["record"]["title"] == "Draft"  # the service key's policy: every row


def test_columns_a_role_cannot_select_never_leave(stack):
    dsn, a, _ = stack
    anon = realtime.subscribe(dsn, storage.key(a.anon), "alpha", "users")
    author = add_posts(dsn, "alpha")["author"]
    change = realtime.deliver(dsn, realtime.wal_record(dsn, "alpha", "users", {"id": author}))
    assert change[anon]["record"]["name"] == "Ada" and "email" not in change[anon]["record"]


def test_another_projects_subscriber_receives_nothing(stack):
    dsn, a, b = stack
    spies = [realtime.subscribe(dsn, token, schema, "*") for token in project_tokens(b) for schema in ("alpha", "*")]
    posts = add_posts(dsn, "alpha")
    change = realtime.deliver(dsn, realtime.wal_record(dsn, "alpha", "posts", {"id": posts["Hello"]}))
    # Realtime takes the subscriptions (the tables are published); apply_rls refuses every change.
    assert None not in spies
    for spy in spies:
        assert change[spy] == {"record": None, "errors": ["Error 401: Unauthorized"]}


def test_a_published_table_without_row_level_security_is_refused(db, tmp_path):
    (tmp_path / "0001_open.sql.j2").write_text("create table {{ schema | ident }}.feed (id int primary key);\n")
    (tmp_path / "realtime.json").write_text('{"publish": ["feed"]}')
    pg.bootstrap(db)
    names = pg.ProjectNames("leaky")
    pg.provider_create(db, names)
    with pytest.raises(m.MigrationError, match=r"table leaky\.feed is published to Realtime but has no row level "
                                               r"security"):
        pg.apply(db, names, "leaky", tmp_path)


def test_archive_stops_publishing_the_projects_tables(stack):
    dsn, a, _ = stack
    archived = pg.remove_project(dsn, a, "archive")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pg_publication_tables where schemaname = %s",
                            (archived,)).fetchone() == (0,)
        assert conn.execute("select count(*) from pg_publication_tables where schemaname = 'beta'").fetchone() == (2,)
