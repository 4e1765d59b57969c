"""components/providers/sql_migrations.py under the real Pulumi engine, against a real PostgreSQL.

What mocks never do happens here: the providers are serialized into state and run in the
engine's provider process, the engine diffs their inputs, orders deletes, stores state and
refreshes it. The pulumi-postgresql resources' part is done by tests/pg.py around each
operation, in the order the engine would run them (see tests/engine.py).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from pulumi import automation as auto

from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import ProjectNames
from tests import pg
from tests.engine import DYNAMIC_PROVIDER, EngineStack, open_stack, require_cli

BLOG, SHOP = ProjectNames("blog"), ProjectNames("shop")
PROJECTS = [{"name": "blog", "template": "blog"}, {"name": "shop", "template": "blog", "onDelete": "drop"}]
FIRST = "0001_users_and_posts.sql.j2"
# The built-in blog template, as applied by the first `up`.
BUILT_IN = [(1, FIRST), (2, "0002_project_users.sql.j2")]
BOOTSTRAP = [(m.version, m.filename) for m in pg.m.discover(pg.SQL_ROOT / "bootstrap")]
COMMENTS = """create table {{ schema | ident }}.comments (
    id bigint generated always as identity primary key,
    post_id uuid not null references {{ schema | ident }}.posts (id) on delete cascade,
    body text not null
);
alter table {{ schema | ident }}.comments enable row level security;
grant select on {{ schema | ident }}.comments to {{ anon | ident }};
"""


@pytest.fixture
def templates(tmp_path) -> Path:
    """The user's templatesDir: a copy of the blog template the tests may add to and edit."""
    folder = tmp_path / "templates"
    shutil.copytree(BUILTIN_TEMPLATES / "blog", folder / "blog")
    return folder


@pytest.fixture
def engine(tmp_path, db, templates) -> EngineStack:
    cli = require_cli()
    for names in (BLOG, SHOP):  # postgresql.Role and postgresql.Schema, created before the SQL resource
        pg.provider_create(db, names)
    return open_stack(tmp_path, db, templates, PROJECTS, cli)


@pytest.fixture
def deployed(engine, db) -> EngineStack:
    engine.first_up = engine.up()
    for names in (BLOG, SHOP):  # GrantRole, Grant and DefaultPrivileges depend on the SQL resource
        pg.provider_grant(db, names)
    return engine


def rows(dsn: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params or None).fetchall()


def value(dsn: str, query: str, *params):
    return rows(dsn, query, *params)[0][0]


def applied(dsn: str, scope: str) -> list[tuple]:
    return rows(dsn, "select version, filename, checksum, applied_at from supabase_multi.migrations"
                     " where scope = %s order by version", scope)


def add_post(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn) as conn:
        user = conn.execute(f"insert into {schema}.users (id, email, name) values (gen_random_uuid(), 'ann@example.com', 'Ann')"
                            " returning id"
                            ).fetchone()[0]
        conn.execute(f"insert into {schema}.posts (title, published, user_id) values ('hello', true, %s)", (user,))


def test_up_creates_the_bootstrap_and_both_projects(deployed, db):
    assert {n: deployed.first_up.steps[n] for n in ("db-bootstrap", "blog-sql", "shop-sql")} == {
        "db-bootstrap": "create", "blog-sql": "create", "shop-sql": "create"}
    assert rows(db, "select name, template, status from supabase_multi.projects order by name") == [
        ("blog", "blog", "active"), ("shop", "blog", "active")]
    assert [r[:2] for r in applied(db, "blog")] == BUILT_IN
    assert [r[:2] for r in applied(db, "_stack")] == BOOTSTRAP
    # the migration's grants, the finalize step's ownership and service grants
    assert rows(db, "select tableowner from pg_tables where schemaname = 'blog' order by tablename") == [
        ("blog_owner",), ("blog_owner",)]
    assert value(db, "select has_table_privilege('blog_anon', 'blog.posts', 'select')")
    assert value(db, "select has_table_privilege('blog_service', 'blog.users', 'delete')")
    assert not value(db, "select has_table_privilege('shop_anon', 'blog.posts', 'select')")
    with psycopg.connect(pg.with_database(db, psycopg.conninfo.conninfo_to_dict(db)["dbname"], user="authenticator")) as conn:
        conn.execute("select supabase_multi.postgrest_pre_config()")
        assert conn.execute("select current_setting('pgrst.db_schemas')").fetchone()[0].endswith(",blog,shop")
    blog = deployed.outputs()["projects"]["blog"]
    assert [t["name"] for t in blog["tables"]] == ["posts", "users"]
    assert [v["name"] for v in blog["views"]] == ["public.blog_posts", "public.blog_users"]


def test_another_project_keys_cannot_read_it(deployed, db):
    """Isolation as the engine left it: shop's API role, switched to as PostgREST does, reads nothing of blog."""
    add_post(db, "blog")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with pg.request(db, SHOP.anon, "blog") as conn:
            conn.execute("select title from blog.posts")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with pg.request(db, SHOP.service, "blog") as conn:
            conn.execute("select email from blog.users")
    with pg.request(db, BLOG.anon, "blog") as conn:
        assert conn.execute("select title from blog.posts").fetchall() == [("hello",)]


def test_an_unchanged_program_changes_nothing(deployed):
    assert deployed.preview().changed() == {}
    assert deployed.up().changed() == {}


def test_a_new_migration_is_an_update_that_applies_only_it(deployed, db, templates):
    before = applied(db, "blog")
    (templates / "blog" / "0003_comments.sql.j2").write_text(COMMENTS)

    preview = deployed.preview()
    assert preview.changed() == {"blog-sql": "update", "shop-sql": "update"}
    assert deployed.up().changed() == {"blog-sql": "update", "shop-sql": "update"}

    after = applied(db, "blog")
    assert after[0] == before[0]  # 0001 not re-run: same row, same applied_at
    assert [r[:2] for r in after] == [*BUILT_IN, (3, "0003_comments.sql.j2")]
    assert value(db, "select has_table_privilege('shop_anon', 'shop.comments', 'select')")
    assert "comments" in [t["name"] for t in deployed.outputs()["projects"]["blog"]["tables"]]
    assert deployed.preview().changed() == {}


def test_an_edited_applied_migration_fails_the_preview_naming_the_file(deployed, db, templates):
    first = templates / "blog" / FIRST
    original = first.read_text()
    first.write_text(original + "-- an edit after it was applied\n")

    with pytest.raises(auto.CommandError) as failed:
        deployed.preview()
    assert f"{FIRST} was changed after it was applied" in str(failed.value)
    with pytest.raises(auto.CommandError) as failed:
        deployed.up()
    assert f"{FIRST} was changed after it was applied" in str(failed.value)
    assert [r[2] for r in applied(db, "blog")][0] == pg.m.checksum(original)

    first.write_text(original)
    assert deployed.preview().changed() == {}


def test_a_failing_migration_rolls_back_and_the_next_up_applies_it(deployed, db, templates):
    broken = templates / "blog" / "0003_comments.sql.j2"
    broken.write_text("create table {{ schema | ident }}.half (id int);\nselect 1;\nselect * from no_such_table;\n")

    with pytest.raises(auto.CommandError) as failed:
        deployed.up()
    assert "0003_comments.sql.j2" in str(failed.value) and "(line 3)" in str(failed.value)
    assert value(db, "select to_regclass('blog.half') is null and to_regclass('shop.half') is null")
    assert [r[0] for r in applied(db, "blog")] == [1, 2]

    broken.write_text(COMMENTS)
    assert deployed.preview().changed() == {"blog-sql": "update", "shop-sql": "update"}
    deployed.up()
    assert [r[0] for r in applied(db, "blog")] == [1, 2, 3]


def test_removing_a_project_archives_it_with_every_row_kept(deployed, db):
    add_post(db, "blog")
    deployed.set_projects([p for p in PROJECTS if p["name"] != "blog"])
    # The engine hands the whole stack config to the dynamic resources' default provider, so a
    # config change updates it in place (never a replace, which would replace every SQL resource).
    expected = {"blog": "delete", "blog-sql": "delete", DYNAMIC_PROVIDER: "update"}
    assert deployed.preview().changed() == expected

    pg.provider_revoke(db, BLOG)  # the grant resources go first: they depend on the SQL resource
    assert deployed.up().changed() == expected
    pg.provider_delete(db, BLOG)  # then the schema resource (gone already) and the roles

    archived = value(db, "select schema_name from supabase_multi.projects where name = 'blog' and status = 'archived'")
    assert archived.startswith("_archived_blog_")
    assert value(db, "select to_regnamespace('blog') is null")
    assert value(db, f'select count(*) from "{archived}".users') == 1
    assert value(db, f'select count(*) from "{archived}".posts') == 1
    assert [r[:2] for r in applied(db, archived)] == BUILT_IN
    assert value(db, "select status from supabase_multi.projects where name = 'shop'") == "active"
    assert deployed.preview().changed() == {}


def test_on_delete_changed_before_the_removal_is_what_the_removal_does(deployed, db):
    """README: change onDelete and `up` before removing the entry; removal reads the value in state."""
    drop_blog = [{**PROJECTS[0], "onDelete": "drop"}, PROJECTS[1]]
    deployed.set_projects(drop_blog)
    assert deployed.up().changed() == {"blog-sql": "update", DYNAMIC_PROVIDER: "update"}
    deployed.set_projects(drop_blog[1:])
    pg.provider_revoke(db, BLOG)
    deployed.up()
    pg.provider_delete(db, BLOG)
    assert rows(db, "select * from supabase_multi.projects where name = 'blog'") == []
    assert value(db, "select count(*) from pg_namespace where nspname like '%blog%'") == 0


def test_destroy_drops_a_drop_project_and_archives_the_other(deployed, db):
    add_post(db, "blog")
    add_post(db, "shop")
    for names in (BLOG, SHOP):
        pg.provider_revoke(db, names)
    destroyed = deployed.destroy()
    for names in (BLOG, SHOP):
        pg.provider_delete(db, names)

    assert {n: destroyed.steps[n] for n in ("blog-sql", "shop-sql", "db-bootstrap")} == {
        "blog-sql": "delete", "shop-sql": "delete", "db-bootstrap": "delete"}
    assert value(db, "select to_regnamespace('shop') is null and to_regclass('public.shop_posts') is null")
    assert rows(db, "select * from supabase_multi.projects where name = 'shop'") == []
    assert applied(db, "shop") == []
    archived = value(db, "select schema_name from supabase_multi.projects where name = 'blog'")
    assert value(db, f'select count(*) from "{archived}".posts') == 1
    # the bootstrap has no delete: the registry keeps the archived project's history
    assert [r[:2] for r in applied(db, "_stack")] == BOOTSTRAP
    assert deployed.state().get("resources") in (None, [])


def test_refresh_changes_nothing(deployed):
    def outputs() -> dict:  # the secret DSN is re-encrypted (new nonce) on every write
        return {k: v for k, v in deployed.resource_state("blog-sql")["outputs"].items() if k != "dsn"}

    before = outputs()
    refreshed = deployed.refresh()
    assert set(refreshed.summary) <= {"same"}, refreshed.summary
    assert outputs() == before and before["tables"]
    assert deployed.preview().changed() == {}


def test_the_state_holds_no_plaintext_secret(deployed, tmp_path):
    """The generated database password (and so the DSN) appears in no file the engine wrote."""
    deployed.refresh()  # history, backups and a refreshed state on top of the first up
    written = deployed.state_files() | {p: p.read_text() for p in (tmp_path / "work").rglob("*") if p.is_file()}
    assert any(p.name == "engine.json" for p in written), sorted(map(str, written))
    assert [str(p) for p, text in written.items() if deployed.password in text] == []
    for name, field in (("db-bootstrap", "dsn"), ("db-bootstrap", "jwt_secret"), ("blog-sql", "dsn")):
        state = deployed.resource_state(name)
        for part in ("inputs", "outputs"):
            assert set(state[part][field]) == {"4dabf18193072939515e22adb298388d", "ciphertext"}, (name, part)
    assert deployed.password not in repr(deployed.outputs())


def test_a_missing_cli_fails_under_ci_and_skips_outside(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.engine.CLI_ROOT", tmp_path / "no-cli")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="build-pulumi.sh"):
        require_cli()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="build-pulumi.sh"):
        require_cli()


def test_a_templates_policies_are_created_changed_and_dropped_by_up(deployed, db, templates):
    """policies.json through the engine: an in-place update of the project's SQL resource each time."""
    policies = templates / "blog" / "policies.json"
    listening = {"realtime.messages": [{"name": "anon_only_listens", "as": "restrictive", "command": "insert",
                                        "roles": ["anon"], "check": "false"}]}
    policies.write_text(json.dumps(listening))
    assert deployed.up().changed() == {"blog-sql": "update", "shop-sql": "update"}
    query = "select policyname, with_check from pg_policies where policyname like %s order by 1"
    assert rows(db, query, "blog:%") == [("blog:anon_only_listens", "false")]
    assert rows(db, query, "shop:%") == [("shop:anon_only_listens", "false")]
    assert deployed.preview().changed() == {}
    listening["realtime.messages"][0]["check"] = "topic <> {{ (topic_prefix ~ 'news') | literal }}"
    policies.write_text(json.dumps(listening))
    assert deployed.up().changed() == {"blog-sql": "update", "shop-sql": "update"}
    assert rows(db, query, "blog:%") == [("blog:anon_only_listens", "(topic <> 'blog:news'::text)")]
    policies.unlink()
    assert deployed.up().changed() == {"blog-sql": "update", "shop-sql": "update"}
    assert rows(db, query, "%:%") == []


# Issue 18: every number reaches a dynamic provider as a float; these limits once failed the
# SQL step with `invalid input syntax for type bigint: "1048576.0"`.
BUCKET_PROJECTS = [
    {**PROJECTS[0], "storage": {"buckets": [{"name": "exact", "fileSizeLimit": 1048576}, {"name": "open"}]}},
    {**PROJECTS[1], "statementTimeout": "2s",
     "storage": {"buckets": [{"name": "units", "fileSizeLimit": "5MB", "public": True}]}},
]


def bucket_rows(dsn: str) -> list[tuple]:
    return rows(dsn, "select id, file_size_limit, public from storage.buckets order by id")


def test_bucket_limits_in_bytes_and_in_units_are_deployed_by_up(tmp_path, db, templates):
    cli = require_cli()
    for names in (BLOG, SHOP):
        pg.provider_create(db, names)
    stack = open_stack(tmp_path, db, templates, BUCKET_PROJECTS, cli)
    first = stack.up()
    for names in (BLOG, SHOP):
        pg.provider_grant(db, names)
    assert {n: first.steps[n] for n in ("blog-sql", "shop-sql")} == {"blog-sql": "create", "shop-sql": "create"}
    assert bucket_rows(db) == [("blog-exact", 1048576, False), ("blog-open", None, False),
                               ("shop-units", 5000000, True)]
    assert pg.role_settings(db)[SHOP.anon]["statement_timeout"] == "2s"
    assert stack.preview().changed() == {}  # the numbers in state diff equal to the config's

    bigger = [{**BUCKET_PROJECTS[0], "storage": {"buckets": [{"name": "exact", "fileSizeLimit": "2MB"}]}},
              BUCKET_PROJECTS[1]]
    stack.set_projects(bigger)
    assert stack.up().changed() == {"blog-sql": "update", DYNAMIC_PROVIDER: "update"}
    assert bucket_rows(db) == [("blog-exact", 2000000, False), ("shop-units", 5000000, True)]
    assert stack.preview().changed() == {}


def test_up_records_the_keys_postgrest_verifies_with_and_a_removal_takes_them(deployed, db):
    """The keys pass the engine's serialization into the registry: PostgREST's JWKS after the
    first `up` (the password is the stack's JWT secret here, tests/engine.py), then without shop."""
    import base64

    from tests import postgrest_jwt
    from tests.engine import engine_key

    found = json.loads(postgrest_jwt.jwt_secret(db))["keys"]
    assert [k.get("kid") for k in found] == [None, *(engine_key(o).kid for o in ("@stack", "blog", "shop"))]
    assert found[0]["k"] == base64.urlsafe_b64encode(deployed.password.encode()).rstrip(b"=").decode()
    assert found[2] == engine_key("blog").public_jwk()
    assert deployed.preview().changed() == {}
    deployed.set_projects(PROJECTS[:1])
    pg.provider_revoke(db, SHOP)
    deployed.up()
    assert [k.get("kid") for k in json.loads(postgrest_jwt.jwt_secret(db))["keys"]] == [
        None, engine_key("@stack").kid, engine_key("blog").kid]
