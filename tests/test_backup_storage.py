"""A project's Storage rows and its place in the shared Storage and Realtime tables survive a
backup and a restore or clone on a real PostgreSQL, as `pulumi up` made them.
"""
from __future__ import annotations


import json
import shutil
from pathlib import Path

import psycopg
import pytest

from backup import archive, dump, restore
from backup.errors import BackupError
from components.core.naming import ProjectNames
from tests import pg
from tests import realtime_api, storage_api
from tests.backup_projects import new_project, rows, seed
from tests.backup_projects import backup_of_alpha, stack  # noqa: F401  (fixtures)


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
