"""The scheduled rounds, retention, the S3 copy and the command line, on a real PostgreSQL.

The S3 copy goes to a real S3-protocol server (moto's, on 127.0.0.1) through boto3, as the
container does it; the command line runs as a person runs it, in a subprocess.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from backup import archive, pgtools, restore, retention, s3, schedule
from backup.errors import BackupError
from tests import pg
from tests.backup_projects import new_project, rows, seed

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stack(db):
    pg.bootstrap(db)
    for name in ("alpha", "beta"):
        new_project(db, name)
        seed(db, name, posts=5)
    return db


@pytest.fixture
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets per process: a bucket of its own for each test.
    target = s3.S3Target(endpoint=f"http://{host}:{port}", bucket=f"backups-{uuid.uuid4().hex[:12]}",
                         access_key_id="test", secret_access_key="test-secret", prefix="dev")
    s3._client(target).create_bucket(Bucket=target.bucket)
    yield target
    server.stop()


def test_a_round_backs_up_every_active_project_and_keeps_the_newest(stack, pg_tools, tmp_path, s3_server):
    pg.create_project(stack, "gone")
    pg.remove_project(stack, pg.ProjectNames("gone"))  # archived: not backed up any more
    settings = schedule.Settings(dsn=stack, directory=tmp_path, retention=2, s3=s3_server)
    logged: list[str] = []
    for _ in range(3):
        assert schedule.run_once(settings, tools=pg_tools, log=logged.append) == []
    for project in ("alpha", "beta"):
        kept = retention.backups_of(tmp_path, project)
        assert len(kept) == 2 and all(archive.read_manifest(p)["project"] == project for p in kept)
        assert s3.listing(s3_server, project) == [f"dev/{project}/{p.name}" for p in kept]
    assert not (tmp_path / "gone").exists()
    assert sum("removed 1 old" in line for line in logged) == 4  # rounds 3: one local and one S3 each


def test_an_uploaded_backup_restores_as_taken(stack, pg_tools, tmp_path, s3_server):
    settings = schedule.Settings(dsn=stack, directory=tmp_path / "local", retention=3, s3=s3_server)
    schedule.run_once(settings, tools=pg_tools, log=lambda _: None)
    (key,) = s3.listing(s3_server, "alpha")
    fetched = tmp_path / Path(key).name
    s3._client(s3_server).download_file(s3_server.bucket, key, str(fetched))
    before, users = rows(stack, "alpha"), rows(stack, "alpha_auth")
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("delete from alpha.posts")
        conn.execute("delete from alpha_auth.users")
    restore.restore(stack, fetched, "alpha", force=True, tools=pg_tools)
    assert rows(stack, "alpha") == before and rows(stack, "alpha_auth") == users


def test_one_failing_project_does_not_stop_the_round(stack, pg_tools, tmp_path):
    with psycopg.connect(stack, autocommit=True) as conn:  # a registered project whose schema vanished
        conn.execute("insert into supabase_multi.projects (schema_name, name, template) values ('ghost', 'ghost', 'blog')")
    failures = schedule.run_once(schedule.Settings(dsn=stack, directory=tmp_path), tools=pg_tools, log=lambda _: None)
    assert failures == ["ghost: project 'ghost' does not exist in this database (see `python -m backup projects`)"]
    assert retention.backups_of(tmp_path, "alpha") and retention.backups_of(tmp_path, "beta")


def test_settings_come_from_the_containers_environment():
    env = {"DATABASE_URL": "postgresql://x@db/postgres", "BACKUP_DIR": "/backups", "BACKUP_SCHEDULE": "0 */6 * * *",
           "BACKUP_RETENTION": "3", "BACKUP_S3_ENDPOINT": "https://s3.example.com", "BACKUP_S3_BUCKET": "b",
           "BACKUP_S3_ACCESS_KEY_ID": "id", "BACKUP_S3_SECRET_ACCESS_KEY": "secret", "BACKUP_S3_PREFIX": "dev"}
    settings = schedule.Settings.from_env(env)
    assert (settings.schedule, settings.retention, settings.directory) == ("0 */6 * * *", 3, Path("/backups"))
    assert settings.s3 == s3.S3Target("https://s3.example.com", "b", "id", "secret", "us-east-1", "dev")
    assert schedule.Settings.from_env({"DATABASE_URL": "x"}).s3 is None
    with pytest.raises(BackupError, match="DATABASE_URL is not set"):
        schedule.Settings.from_env({})


def test_the_next_run_follows_the_cron_schedule_in_utc():
    at = datetime(2026, 1, 31, 22, 15, tzinfo=timezone.utc)
    assert schedule.next_run("0 3 * * *", at) == datetime(2026, 2, 1, 3, 0, tzinfo=timezone.utc)
    assert schedule.next_run("30 */6 * * *", at) == datetime(2026, 2, 1, 0, 30, tzinfo=timezone.utc)


def test_retention_touches_only_that_projects_backups(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    names = [f"a-2026010{i}T000000000000Z.tar" for i in range(1, 5)] + ["notes.txt", "a_b-20260101T000000000000Z.tar"]
    for name in names:
        (folder / name).write_text("x")
    removed = retention.prune(tmp_path, "a", keep=2)
    assert [p.name for p in removed] == names[:2]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[2:])


def test_tools_of_another_major_version_are_refused_with_the_fix(pg_tools):
    with pytest.raises(BackupError, match=r"no pg_dump, pg_restore and psql of PostgreSQL 9 \(the server's version\) "
                                          r"found; install postgresql-client-9 or pass --pg-bin DIR"):
        pgtools.find(9, str(pg_tools.bin_dir))


# -- the command line -----------------------------------------------------------------------------


def cli(*args: str, dsn: str, tools, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": dsn, "PG_BIN": str(tools.bin_dir), "BACKUP_DIR": str(cwd / "backups"),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "backup", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_documented_commands_dump_verify_restore_and_clone(stack, pg_tools, tmp_path):
    before, users = rows(stack, "alpha"), rows(stack, "alpha_auth")
    done = cli("dump", "alpha", dsn=stack, tools=pg_tools, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.parent == tmp_path / "backups" / "alpha"
    assert "ok, project alpha (template blog), 12 rows" in cli("verify", str(path), dsn=stack, tools=pg_tools,
                                                               cwd=tmp_path).stdout
    assert str(path) in cli("list", dsn=stack, tools=pg_tools, cwd=tmp_path).stdout

    refused = cli("restore", "alpha", str(path), dsn=stack, tools=pg_tools, cwd=tmp_path)
    assert refused.returncode == 1 and refused.stderr.startswith("error: project 'alpha' holds data")
    assert "Traceback" not in refused.stderr
    with psycopg.connect(stack, autocommit=True) as conn:
        conn.execute("delete from alpha.posts")
    done = cli("restore", "alpha", str(path), "--force", dsn=stack, tools=pg_tools, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("restored alpha into alpha: 12 rows; its previous contents were archived as "
                                  "_archived_alpha_")
    assert "_auth\n" in done.stdout and ", its users as _archived_alpha_" in done.stdout
    assert rows(stack, "alpha") == before and rows(stack, "alpha_auth") == users

    new_project(stack, "gamma")
    done = cli("clone", str(path), "gamma", dsn=stack, tools=pg_tools, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert rows(stack, "gamma") == before and rows(stack, "gamma_auth") == users


def test_the_cli_says_what_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "backup", "dump", "alpha"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: no database: pass --dsn or set DATABASE_URL (export "
                                   "DATABASE_URL=\"$(pulumi stack output databaseUrl --show-secrets)\")")
