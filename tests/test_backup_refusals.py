"""What a restore refuses on a real PostgreSQL, changing nothing: a damaged, foreign or unknown
dump, another project's backup, a failure inside its transaction; and a backup of another
template version: older gets the newer migrations as the project's owner, newer is refused.
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

from backup import archive, dump, restore
from backup.errors import BackupError
from components.core import migrations as m
from components.core.naming import ProjectNames
from tests import pg
from tests.backup_projects import PINNED, database_state, new_project, rows, seed
from tests.backup_projects import backup_of_alpha, stack  # noqa: F401  (fixtures)


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
