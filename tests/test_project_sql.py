"""The isolation model and the SQL lifecycle, on a real PostgreSQL.

Projects are created and removed by the functions the dynamic provider calls during
`pulumi up`, in the order Pulumi runs the resources of a SupabaseProject.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone

import psycopg
import pytest

from components.core import project_description
from components.core import migrations as m
from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import ProjectNames
from tests import pg


def seed(dsn: str, project: str) -> dict[str, str]:
    """An author with one published post and one draft, written as the service role would."""
    author = pg.new_user_id()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'insert into "{project}".users (id, email, name) values (%s, %s, %s)',
                     (author, f"{author}@example.com", "Ada"))
        conn.execute(f'insert into "{project}".posts (title, slug, published, user_id) values '
                     "('Hello', 'hello', true, %s), ('Draft', 'draft', false, %s)", (author, author))
    return {"author": author}


@pytest.fixture
def two_projects(db):
    pg.bootstrap(db)
    a, b = pg.create_project(db, "alpha"), pg.create_project(db, "beta")
    return db, a, b, seed(db, "alpha"), seed(db, "beta")


def rows(conn: psycopg.Connection, query: str, *params) -> list[tuple]:
    return conn.execute(query, params or None).fetchall()


def denied(dsn: str, role: str, schema: str, query: str) -> bool:
    try:
        with pg.request(dsn, role, schema) as conn:
            conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


# -- isolation -----------------------------------------------------------------------


def test_anon_reads_published_posts_only(two_projects):
    dsn, a, *_ = two_projects
    with pg.request(dsn, a.anon, a.schema) as conn:
        assert [t for (t,) in rows(conn, "select title from posts")] == ["Hello"]
        assert rows(conn, "select count(*) from users") == [(1,)]


def test_anon_cannot_read_emails(two_projects):
    dsn, a, *_ = two_projects
    assert denied(dsn, a.anon, a.schema, "select email from users")


@pytest.mark.parametrize("query", [
    "select * from beta.posts", "select * from beta.users", "select * from public.beta_posts",
    "select * from public.beta_users", "insert into beta.posts (title) values ('x')",
])
def test_project_keys_are_denied_on_other_projects(two_projects, query):
    dsn, a, *_ = two_projects
    assert denied(dsn, a.anon, a.schema, query)
    assert denied(dsn, a.service, a.schema, query)


def test_shared_anon_role_has_no_project_access(two_projects):
    dsn, a, *_ = two_projects
    assert denied(dsn, "anon", "public", "select * from alpha.posts")
    assert denied(dsn, "anon", "public", "select * from public.alpha_posts")


def test_signed_in_user_writes_only_own_rows(two_projects):
    dsn, a, _, seeded, _ = two_projects
    me = pg.new_user_id()
    claims = {"sub": me, "role": a.authenticated, "email": "me@example.com"}
    with pg.request(dsn, a.authenticated, a.schema, claims) as conn:
        conn.execute("insert into users (name) values ('Me')")
        conn.execute("insert into posts (title) values ('Mine')")
        assert conn.execute("update posts set title = 'Mine!' where user_id = %s", (me,)).rowcount == 1
        assert [t for (t,) in rows(conn, "select title from posts order by title")] == ["Hello", "Mine!"]
        # Another author's rows are invisible to update/delete, and cannot be forged on insert.
        assert conn.execute("update posts set title = 'pwned' where user_id = %s", (seeded["author"],)).rowcount == 0
        assert conn.execute("delete from users where id = %s", (seeded["author"],)).rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with pg.request(dsn, a.authenticated, a.schema, claims) as conn:
            conn.execute("insert into posts (title, user_id) values ('forged', %s)", (seeded["author"],))


def test_service_role_bypasses_rls_in_its_project_only(two_projects):
    dsn, a, *_ = two_projects
    with pg.request(dsn, a.service, a.schema) as conn:
        assert rows(conn, "select count(*) from posts") == [(2,)]
        assert rows(conn, "select count(*) from public.alpha_posts") == [(2,)]
        conn.execute("update posts set published = true")
    assert denied(dsn, a.service, a.schema, "select * from beta.posts")


def test_public_views_honour_rls(two_projects):
    dsn, a, *_ = two_projects
    with pg.request(dsn, a.anon, "public") as conn:
        assert [t for (t,) in rows(conn, "select title from public.alpha_posts")] == ["Hello"]
        assert [n for (n,) in rows(conn, "select name from public.alpha_users")] == ["Ada"]
    with psycopg.connect(dsn) as conn:
        options = rows(conn, "select c.relname, c.reloptions from pg_class c where c.relname in ('alpha_posts', 'alpha_users')")
    assert all("security_invoker=true" in opts for _, opts in options) and len(options) == 2


def test_every_table_has_rls_and_nothing_is_granted_to_public(two_projects):
    dsn, *_ = two_projects
    with psycopg.connect(dsn) as conn:
        assert rows(conn, "select relname from pg_class where relnamespace = 'alpha'::regnamespace "
                          "and relkind = 'r' and not relrowsecurity") == []
        assert rows(conn, "select 1 from information_schema.role_table_grants "
                          "where table_schema in ('alpha', 'beta') and grantee = 'PUBLIC'") == []
        owners = rows(conn, "select distinct pg_get_userbyid(relowner) from pg_class "
                            "where relnamespace = 'alpha'::regnamespace")
    assert owners == [("alpha_owner",)]


# -- PostgREST exposure -----------------------------------------------------------------


def pre_config(dsn: str) -> list[str]:
    with psycopg.connect(pg.with_database(dsn, psycopg.conninfo.conninfo_to_dict(dsn)["dbname"],
                                          user="authenticator")) as conn:
        conn.execute("select supabase_multi.postgrest_pre_config()")
        return conn.execute("select current_setting('pgrst.db_schemas')").fetchone()[0].split(",")


def test_pre_config_lists_exactly_the_active_projects(two_projects):
    dsn, a, b, *_ = two_projects
    assert pre_config(dsn) == ["public", "storage", "graphql_public", "alpha", "beta"]
    pg.remove_project(dsn, a)
    assert pre_config(dsn) == ["public", "storage", "graphql_public", "beta"]


def test_changes_notify_postgrest(db):
    pg.bootstrap(db)
    with psycopg.connect(db, autocommit=True) as listener:
        listener.execute("listen pgrst")
        names = pg.create_project(db, "gamma", "empty")
        pg.remove_project(db, names)
        got = [n.payload for n in listener.notifies(timeout=1, stop_after=4)]
    assert got == ["reload config", "reload schema"] * 2


# -- lifecycle ---------------------------------------------------------------------


def test_archive_keeps_every_row_and_unexposes(two_projects):
    dsn, a, *_ = two_projects
    when = datetime(2026, 11, 25, 3, 4, 5, tzinfo=timezone.utc)
    archived = pg.remove_project(dsn, a, "archive", when)
    assert archived == "_archived_alpha_20261125030405"
    with psycopg.connect(dsn) as conn:
        assert rows(conn, f'select count(*) from "{archived}".posts') == [(2,)]
        assert rows(conn, f'select count(*) from "{archived}".users') == [(1,)]
        assert rows(conn, "select 1 from pg_namespace where nspname = 'alpha'") == []
        assert rows(conn, "select 1 from pg_roles where rolname like 'alpha\\_%'") == []
        assert rows(conn, "select relname from pg_class where relname = 'alpha_posts'"
                          " and relnamespace = 'public'::regnamespace") == []
        assert rows(conn, "select status from supabase_multi.projects where schema_name = %s", archived) == [("archived",)]
    assert denied(dsn, "authenticated", "public", f'select * from "{archived}".posts')
    assert denied(dsn, "beta_authenticated", "public", f'select * from "{archived}".posts')


def test_project_can_be_recreated_after_archive(two_projects):
    dsn, a, *_ = two_projects
    pg.remove_project(dsn, a)
    pg.create_project(dsn, "alpha")
    with pg.request(dsn, a.anon, a.schema) as conn:
        assert rows(conn, "select count(*) from posts") == [(0,)]


def test_drop_removes_schema_and_roles(two_projects):
    dsn, a, *_ = two_projects
    pg.remove_project(dsn, a, "drop")
    with psycopg.connect(dsn) as conn:
        assert rows(conn, "select nspname from pg_namespace where nspname like '%alpha%'") == []
        assert rows(conn, "select 1 from pg_roles where rolname like 'alpha\\_%'") == []
        assert rows(conn, "select 1 from supabase_multi.projects where name = 'alpha'") == []
        assert rows(conn, "select 1 from pg_class where relname like 'alpha\\_%'") == []


def test_reapplying_is_a_no_op(two_projects):
    dsn, a, *_ = two_projects
    assert m.apply_project(dsn, a, "blog", m.discover(BUILTIN_TEMPLATES / "blog")) == []
    with pg.request(dsn, a.anon, a.schema) as conn:
        assert rows(conn, "select count(*) from posts") == [(1,)]


@pytest.fixture
def custom_template(tmp_path):
    folder = tmp_path / "notes"
    shutil.copytree(BUILTIN_TEMPLATES / "empty", folder)
    (folder / "0001_schema.sql.j2").write_text(
        "create table {{ schema | ident }}.notes (id int primary key, body text);\n"
        "alter table {{ schema | ident }}.notes enable row level security;\n"
        "insert into {{ schema | ident }}.notes values (1, 'kept');\n")
    return folder


def test_new_migration_applies_alone(db, custom_template):
    pg.bootstrap(db)
    names = ProjectNames("notes")
    pg.provider_create(db, names)
    assert m.apply_project(db, names, "notes", m.discover(custom_template)) == ["0001_schema.sql.j2"]
    (custom_template / "0002_tags.sql.j2").write_text(
        "alter table {{ schema | ident }}.notes add column tags text[] not null default '{}';\n")
    assert m.apply_project(db, names, "notes", m.discover(custom_template)) == ["0002_tags.sql.j2"]
    with psycopg.connect(db) as conn:
        assert rows(conn, "select body, tags from notes.notes") == [("kept", [])]
        assert rows(conn, "select version from supabase_multi.migrations where scope = 'notes' order by 1") == [(1,), (2,)]


def test_edited_applied_migration_is_refused(db, custom_template):
    pg.bootstrap(db)
    names = ProjectNames("notes")
    pg.provider_create(db, names)
    m.apply_project(db, names, "notes", m.discover(custom_template))
    path = custom_template / "0001_schema.sql.j2"
    path.write_text(path.read_text() + "-- edited\n")
    (custom_template / "0002_more.sql.j2").write_text("create table {{ schema | ident }}.more (id int);\n")
    with pytest.raises(m.MigrationError, match=r"0001_schema\.sql\.j2 was changed after it was applied"):
        m.apply_project(db, names, "notes", m.discover(custom_template))
    with psycopg.connect(db) as conn:
        assert rows(conn, "select 1 from pg_class where relname = 'more'") == []


def snapshot(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return rows(conn, "select n.nspname, c.relname, c.relkind from pg_class c join pg_namespace n "
                          "on n.oid = c.relnamespace where n.nspname not in ('pg_catalog', 'information_schema', "
                          "'pg_toast') order by 1, 2") + rows(conn, "select * from supabase_multi.migrations "
                                                                    "order by scope, version")


def test_broken_migration_rolls_back_completely(db, custom_template):
    pg.bootstrap(db)
    names = ProjectNames("notes")
    pg.provider_create(db, names)
    m.apply_project(db, names, "notes", m.discover(custom_template))
    before = snapshot(db)
    (custom_template / "0002_good.sql.j2").write_text("create table {{ schema | ident }}.good (id int);\n")
    (custom_template / "0003_broken.sql.j2").write_text(
        "create table {{ schema | ident }}.half (id int);\nselect * from no_such_table;\n")
    with pytest.raises(m.MigrationError, match=r"notes/0003_broken\.sql\.j2: relation \"no_such_table\" does not "
                                               r"exist \(line 2\); nothing was applied"):
        m.apply_project(db, names, "notes", m.discover(custom_template), where="notes")
    assert snapshot(db) == before


def test_first_create_that_fails_leaves_no_registry_row(db, custom_template):
    pg.bootstrap(db)
    names = ProjectNames("notes")
    pg.provider_create(db, names)
    (custom_template / "0001_schema.sql.j2").write_text("create table {{ schema | ident }}.x (id int);\nselect 1/0;\n")
    with pytest.raises(m.MigrationError, match="division by zero"):
        m.apply_project(db, names, "notes", m.discover(custom_template))
    with psycopg.connect(db) as conn:
        assert rows(conn, "select * from supabase_multi.projects") == []
        assert rows(conn, "select 1 from pg_class where relname = 'x'") == []


def test_template_cannot_change_under_a_project(two_projects):
    dsn, a, *_ = two_projects
    with pytest.raises(m.MigrationError, match="created from template 'blog' and cannot switch to 'empty'"):
        m.apply_project(dsn, a, "empty", m.discover(BUILTIN_TEMPLATES / "empty"))


def test_describe_lists_tables_views_and_columns(two_projects):
    dsn, a, *_ = two_projects
    described = project_description.describe(dsn, a.schema)
    assert [t["name"] for t in described["tables"]] == ["posts", "users"]
    assert [v["name"] for v in described["views"]] == ["public.alpha_posts", "public.alpha_users"]
    users = next(t for t in described["tables"] if t["name"] == "users")
    assert {"name": "email", "type": "text"} in users["columns"]


def test_archived_name_fits_postgres_identifier_limit():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert m.archived_schema_name("blog", when) == "_archived_blog_20260102030405"
    assert m.archived_schema_name("a" * 38, when) == f"_archived_{'a' * 38}_20260102030405"
    long = m.archived_schema_name("a" * 40, when)
    assert len(long) == 63 and long.endswith("_20260102030405")
    assert m.archived_schema_name("a" * 39 + "b", when) != long


def test_long_names_archived_in_the_same_second_do_not_collide(db):
    """Two 40-character names that differ only at the end, archived in the same second."""
    pg.bootstrap(db)
    when = datetime(2026, 11, 25, 3, 4, 5, tzinfo=timezone.utc)
    first, second = (pg.create_project(db, "a" * 39 + c, "empty") for c in "xy")
    archived = {pg.remove_project(db, first, when=when), pg.remove_project(db, second, when=when)}
    with psycopg.connect(db) as conn:
        found = {n for (n,) in rows(conn, "select nspname from pg_namespace where nspname like '\\_archived\\_%'")}
    assert len(archived) == 2 and {n for n in found if not n.endswith("_auth")} == archived
    assert len(found) == 4  # and their user pools' archives, distinct too


def test_the_same_project_archived_twice_in_one_second_keeps_both(two_projects):
    dsn, a, *_ = two_projects
    when = datetime(2026, 11, 25, 3, 4, 5, tzinfo=timezone.utc)
    first = pg.remove_project(dsn, a, when=when)
    pg.create_project(dsn, "alpha")
    second = pg.remove_project(dsn, a, when=when)
    assert (first, second) == ("_archived_alpha_20261125030405", "_archived_alpha_20261125030406")


def test_a_failing_rename_revokes_nothing(two_projects, monkeypatch):
    """Revokes, rename and registry update are one transaction: when the rename fails (here:
    the name is taken), the project keeps every grant and stays registered and exposed."""
    dsn, a, *_ = two_projects
    when = datetime(2026, 11, 25, 3, 4, 5, tzinfo=timezone.utc)
    taken = m.archived_schema_name("alpha", when)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'create schema "{taken}"')
    monkeypatch.setattr(m, "archive_names", lambda conn, project, when: {  # no lookup: the rename fails
        "archived_schema": taken, "archived_auth_schema": m.archived_schema_name(project, when, m.AUTH_ARCHIVE_SUFFIX)})
    with pytest.raises(m.MigrationError, match=rf'_archive\.sql\.j2: schema "{taken}" already exists'):
        m.archive_project(dsn, a, when)
    with pg.request(dsn, a.anon, a.schema) as conn:
        assert [t for (t,) in rows(conn, "select title from posts")] == ["Hello"]
        assert [t for (t,) in rows(conn, "select title from public.alpha_posts")] == ["Hello"]
    assert "alpha" in pre_config(dsn)


# -- per-project limits ----------------------------------------------------------------


def test_api_roles_get_the_project_statement_timeout(db):
    pg.bootstrap(db)
    fast = pg.create_project(db, "fast", "empty", statement_timeout="200ms")
    default = pg.create_project(db, "plain", "empty")
    settings = pg.role_settings(db)
    for role in fast.api_roles():
        assert settings[role] == {"statement_timeout": "200ms"}
    for role in default.api_roles():
        assert settings[role] == {"statement_timeout": "8s"}
    with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
        with pg.request(db, fast.anon, fast.schema) as conn:
            conn.execute("select pg_sleep(1)")
    with pg.request(db, default.anon, default.schema) as conn:
        assert rows(conn, "select current_setting('statement_timeout')") == [("8s",)]


def test_a_shared_auth_project_leaves_the_stack_role_alone(db):
    """`auth.mode: shared` signs users in as the stack's `authenticated`: its setting stays."""
    pg.bootstrap(db)
    shared = pg.create_project(db, "guests", "empty", auth_mode="shared", statement_timeout="200ms")
    settings = pg.role_settings(db)
    assert settings[shared.anon] == settings[shared.service] == {"statement_timeout": "200ms"}
    assert "authenticated" not in settings


def test_a_new_statement_timeout_is_an_update(db):
    pg.bootstrap(db)
    names = pg.create_project(db, "tuned", "empty")
    assert m.apply_project(db, names, "empty", m.discover(BUILTIN_TEMPLATES / "empty"), statement_timeout="1min") == []
    assert pg.role_settings(db)[names.anon] == {"statement_timeout": "1min"}


def test_migration_files_are_named_and_unique(tmp_path):
    (tmp_path / "1_bad.sql.j2").write_text("select 1;")
    with pytest.raises(m.MigrationError, match="NNNN_lowercase_name"):
        m.discover(tmp_path)
    (tmp_path / "1_bad.sql.j2").unlink()
    (tmp_path / "0001_a.sql.j2").write_text("select 1;")
    (tmp_path / "0001_b.sql.j2").write_text("select 1;")
    with pytest.raises(m.MigrationError, match="version 0001 is also 0001_a"):
        m.discover(tmp_path)


def test_sequences_and_functions_belong_to_the_project_and_serve_its_service_key(db, tmp_path):
    folder = tmp_path / "counters"
    folder.mkdir()
    (folder / "0001_init.sql.j2").write_text(
        "create table {{ schema | ident }}.notes (id bigint generated always as identity primary key,"
        " n serial, body text);\n"
        "alter table {{ schema | ident }}.notes enable row level security;\n"
        "create function {{ schema | ident }}.note_count() returns bigint language sql stable"
        " as 'select count(*) from {{ schema | ident }}.notes';\n")
    pg.bootstrap(db)
    names = pg.create_project(db, "counters", "counters", template_dir=folder)
    with pg.request(db, names.service, names.schema) as conn:
        conn.execute("insert into notes (body) values ('a'), ('b')")
        assert rows(conn, "select note_count()") == [(2,)]
    with psycopg.connect(db) as conn:
        owners = rows(conn, "select distinct pg_get_userbyid(relowner) from pg_class "
                            "where relnamespace = 'counters'::regnamespace")
        functions = rows(conn, "select pg_get_userbyid(proowner) from pg_proc "
                               "where pronamespace = 'counters'::regnamespace")
    assert owners == [("counters_owner",)] and functions == [("counters_owner",)]
    # Nothing of the schema is granted to PUBLIC, functions included: anon gets what the template grants.
    assert denied(db, names.anon, names.schema, "select note_count()")


# -- the project's users (auth.mode: own) -------------------------------------------------------


@pytest.fixture
def project_with_users(db):
    pg.bootstrap(db)
    names = pg.create_project(db, "alpha")
    pg.gotrue_pool_stand_in(db, names)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("insert into alpha_auth.users (id, email, role, aud) values (gen_random_uuid(),"
                     " 'ada@example.com', 'alpha_authenticated', 'alpha')")
    return db, names


def test_archive_keeps_the_projects_users_and_shuts_its_gotrue_out(project_with_users):
    dsn, names = project_with_users
    when = datetime(2026, 11, 25, 3, 4, 5, tzinfo=timezone.utc)
    pg.provider_revoke(dsn, names)
    m.archive_project(dsn, names, when)
    with psycopg.connect(dsn) as conn:
        assert rows(conn, "select rolcanlogin from pg_roles where rolname = 'alpha_auth_admin'") == [(False,)]
    pg.provider_delete(dsn, names)
    with psycopg.connect(dsn) as conn:
        assert rows(conn, 'select email from "_archived_alpha_20261125030405_auth".users') == [("ada@example.com",)]
        assert rows(conn, "select 1 from pg_roles where rolname like 'alpha\\_%'") == []
        assert rows(conn, "select 1 from pg_namespace where nspname = 'alpha_auth'") == []


def test_drop_removes_the_projects_users(project_with_users):
    dsn, names = project_with_users
    pg.remove_project(dsn, names, "drop")
    with psycopg.connect(dsn) as conn:
        assert rows(conn, "select nspname from pg_namespace where nspname like '%alpha%'") == []


def test_nobody_but_its_gotrue_reads_the_user_pool(project_with_users):
    dsn, names = project_with_users
    for role in (names.anon, names.authenticated, names.service, "authenticated", "anon", "service_role"):
        assert denied(dsn, role, "public", "select * from alpha_auth.users"), role


def test_a_project_cannot_switch_its_user_pool(project_with_users):
    dsn, names = project_with_users
    shared = ProjectNames("alpha", "shared")
    with pytest.raises(m.MigrationError, match="cannot switch to 'shared'"):
        m.apply_project(dsn, shared, "blog", m.discover(BUILTIN_TEMPLATES / "blog"))
