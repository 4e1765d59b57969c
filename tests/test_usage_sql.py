"""Per-project usage (sql/bootstrap/0008_project_usage.sql.j2) on a real PostgreSQL with known
contents: the figures the dashboard shows are the database's own, the collector's role reads
nothing else, and growth is measured against the samples the function keeps."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from tests import pg

READER = "usage_collector"  # stands for the LOGIN role of components/resources/usage.py
SIGNED_IN = datetime(2026, 11, 30, 8, 15, tzinfo=timezone.utc)


def own_project(dsn: str, name: str, **options) -> None:
    names = pg.create_project(dsn, name, **options)
    pg.gotrue_pool_stand_in(dsn, names)
    with psycopg.connect(dsn, autocommit=True) as conn:  # GoTrue's users table has this column
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(names.auth_admin)))
        conn.execute(sql.SQL("alter table {}.users add column last_sign_in_at timestamptz").format(
            sql.Identifier(names.auth_schema)))


def fill(dsn: str) -> None:
    """blog: 3 users (2 signed in), 3 authors, 7 posts, 2 files of 100 and 250 bytes; shop: 1 file, no rows."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        authors = [pg.new_user_id() for _ in range(3)]
        for i, author in enumerate(authors):
            conn.execute("insert into blog_auth.users (id, email, role, aud, last_sign_in_at) values (%s, %s, %s, %s, %s)",
                         (author, f"{i}@example.com", "blog_authenticated", "authenticated",
                          None if i == 0 else SIGNED_IN - timedelta(days=i)))
            conn.execute("insert into blog.users (id, email, name) values (%s, %s, %s)", (author, f"{i}@example.com", "A"))
        for i in range(7):
            conn.execute("insert into blog.posts (title, slug, published, user_id) values (%s, %s, true, %s)",
                         (f"Post {i}", f"post-{i}", authors[i % 3]))
        for bucket, name, size in (("blog-avatars", "a/1.png", 100), ("blog-avatars", "a/2.png", 250),
                                   ("shop-files", "x.pdf", 4096)):
            conn.execute("insert into storage.objects (bucket_id, name, metadata) values (%s, %s, %s)",
                         (bucket, name, psycopg.types.json.Jsonb({"size": size})))


@pytest.fixture
def stack(db):
    pg.bootstrap(db)
    own_project(db, "blog", buckets=[{"name": "avatars", "public": True}])
    pg.create_project(db, "shop", auth_mode="shared", buckets=[{"name": "files"}])
    fill(db)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login password 'collector' in role supabase_usage_reader").format(
            sql.Identifier(READER)))
    return db


def usage(dsn: str, *args) -> dict:
    with psycopg.connect(pg.with_database(dsn, psycopg.conninfo.conninfo_to_dict(dsn)["dbname"], READER),
                         password="collector", autocommit=True) as conn:
        return conn.execute(f"select supabase_multi.usage({', '.join(['%s'] * len(args))})", args).fetchone()[0]


def sizes(dsn: str, *schemas: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select sum(pg_total_relation_size(c.oid)) from pg_class c join pg_namespace n "
                            "on n.oid = c.relnamespace where n.nspname = any(%s) and c.relkind in ('r', 'p', 'm')",
                            (list(schemas),)).fetchone()[0]


def test_usage_reports_what_the_database_holds(stack):
    report = usage(stack)
    assert sorted(report["projects"]) == ["blog", "shop"]
    blog, shop = report["projects"]["blog"], report["projects"]["shop"]
    assert blog["tables"] == {"posts": 7, "users": 3} and blog["rows"] == 10 and not blog["rowsApproximate"]
    assert blog["users"] == 3
    assert datetime.fromisoformat(blog["lastSignInAt"]) == SIGNED_IN - timedelta(days=1)
    assert (blog["storageObjects"], blog["storageBytes"]) == (2, 350)
    assert (shop["storageObjects"], shop["storageBytes"]) == (1, 4096)
    assert shop["users"] is None and shop["lastSignInAt"] is None  # signs in with the stack's users
    assert blog["databaseBytes"] == sizes(stack, "blog", "blog_auth")
    assert shop["databaseBytes"] == sizes(stack, "shop")
    assert blog["lastMigration"]["filename"] == "0002_project_users.sql.j2" and blog["lastMigration"]["version"] == 2
    assert blog["template"] == "blog" and blog["growth"] is None  # no sample a day old yet


def test_big_tables_are_estimated_not_counted(stack):
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("analyze blog.posts")
    blog = usage(stack, 5)["projects"]["blog"]
    assert blog["rowsApproximate"] and blog["tables"]["posts"] == 7  # reltuples after analyze
    assert blog["tables"]["users"] == 3  # below the limit: still counted


def test_growth_is_against_the_sample_of_a_day_ago(stack):
    usage(stack)  # records this hour's sample
    with psycopg.connect(stack, autocommit=True) as conn:
        assert conn.execute("select count(*) from supabase_multi.usage_samples").fetchone()[0] == 2
        conn.execute("update supabase_multi.usage_samples set sampled_at = sampled_at - interval '25 hours', "
                     "row_count = row_count - 4, storage_bytes = 0, users = 1")
        conn.execute("insert into blog.posts (title, slug, published) values ('new', 'new', false)")
    report = usage(stack)
    growth = report["projects"]["blog"]["growth"]
    assert (growth["rows"], growth["users"], growth["storageBytes"]) == (5, 2, 350)
    with psycopg.connect(stack, autocommit=True) as conn:  # a new sample for this hour, the old one kept
        assert conn.execute("select count(*) from supabase_multi.usage_samples").fetchone()[0] == 4


def test_the_collector_role_reads_nothing_but_the_figures(stack):
    dsn = pg.with_database(stack, psycopg.conninfo.conninfo_to_dict(stack)["dbname"], READER)
    for statement in ("select * from blog.posts", "select * from blog_auth.users", "select * from storage.objects",
                      "select * from supabase_multi.projects", "select supabase_multi.project_usage('blog', null, 1)",
                      "insert into supabase_multi.usage_samples values ('blog', now(), 0, 0, 0, 0)"):
        with psycopg.connect(dsn, password="collector", autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_archived_projects_leave_the_report(stack):
    pg.remove_project(stack, pg.ProjectNames("shop", "shared"))
    assert sorted(usage(stack)["projects"]) == ["blog"]
