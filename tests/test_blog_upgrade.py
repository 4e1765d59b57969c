"""A stack made before projects had their own users upgrades by a NEW migration (blog 0002),
with no row lost, on a real PostgreSQL, in the order `pulumi up` runs the new resources:
the project's signed-in role and user pool first, then the migration, then the grants."""
from __future__ import annotations

import shutil

import psycopg
import pytest

from components.core import migrations as m
from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import ProjectNames
from tests import pg


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {t: conn.execute(f"select * from blog.{t} order by id").fetchall() for t in ("users", "posts")}


@pytest.fixture
def old_blog(db, tmp_path):
    """`blog` as the first release made it: 0001 only, signed-in users from the shared pool."""
    first = tmp_path / "blog"
    first.mkdir()
    shutil.copy(BUILTIN_TEMPLATES / "blog" / "0001_users_and_posts.sql.j2", first)
    pg.bootstrap(db)
    old = pg.create_project(db, "blog", template_dir=first, auth_mode="shared")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("update supabase_multi.projects set auth_mode = null")  # written before auth modes existed
    authors = [pg.new_user_id() for _ in range(3)]
    for n, author in enumerate(authors):
        claims = {"sub": author, "role": "authenticated"}
        with pg.request(db, "authenticated", "blog", claims) as conn:
            conn.execute("insert into users (id, email, name) values (%s, %s, %s)", (author, f"a{n}@example.com", f"A{n}"))
            conn.execute("insert into posts (title, slug, published, user_id) values (%s, %s, %s, %s)",
                         (f"post {n}", f"slug-{n}", n % 2 == 0, author))
    with psycopg.connect(db) as conn:
        before = snapshot(conn)
    return db, old, authors, before


def upgrade(dsn: str) -> ProjectNames:
    new = ProjectNames("blog")  # auth.mode: own, the default
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create role blog_authenticated nologin")
    pg.provider_create_auth(dsn, new)
    applied = m.apply_project(dsn, new, "blog", m.discover(BUILTIN_TEMPLATES / "blog"))
    assert applied == ["0002_project_users.sql.j2"]  # only the new migration runs
    pg.provider_grant(dsn, new)
    return new


def test_upgrade_keeps_every_row(old_blog):
    dsn, _, _, before = old_blog
    upgrade(dsn)
    with psycopg.connect(dsn) as conn:
        assert snapshot(conn) == before
        assert conn.execute("select auth_mode from supabase_multi.projects").fetchall() == [("own",)]


def test_after_upgrade_only_the_projects_own_users_write(old_blog):
    dsn, _, authors, _ = old_blog
    new = upgrade(dsn)
    shared = {"sub": authors[0], "role": "authenticated"}
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with pg.request(dsn, "authenticated", "blog", shared) as conn:
            conn.execute("select * from blog.posts")
    me = pg.new_user_id()
    claims = {"sub": me, "role": new.authenticated, "email": "me@example.com"}
    with pg.request(dsn, new.authenticated, "blog", claims) as conn:
        conn.execute("insert into users (name) values ('Me')")
        conn.execute("insert into posts (title, slug) values ('mine', 'slug-1')")  # another's draft slug: no error
        assert conn.execute("select count(*) from posts").fetchone() == (3,)  # 2 published + my draft
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select email from blog.users where id = %s", (me,)).fetchone() == ("me@example.com",)


def test_after_upgrade_emails_are_neither_writable_nor_probeable(old_blog):
    dsn, _, _, _ = old_blog
    new = upgrade(dsn)
    me = pg.new_user_id()
    claims = {"sub": me, "role": new.authenticated, "email": "me@example.com"}
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with pg.request(dsn, new.authenticated, "blog", claims) as conn:
            conn.execute("insert into users (name, email) values ('Me', 'a0@example.com')")
    # Another user's address (taken) gives no uniqueness error to learn from: it is not unique.
    other = {"sub": pg.new_user_id(), "role": new.authenticated, "email": "a0@example.com"}
    with pg.request(dsn, new.authenticated, "blog", other) as conn:
        conn.execute("insert into users (name) values ('Same address, other pool user')")
