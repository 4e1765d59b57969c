"""The stack's backup service: every project, on a cron schedule, kept N deep, optionally to S3.

The container runs `python3 -m backup schedule`; `python -m backup run-once` does one
round by hand. Settings come from the environment the Pulumi component sets.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Optional

import psycopg

from backup import dump, pgtools, retention, s3
from backup.errors import BackupError

DEFAULT_SCHEDULE = "0 3 * * *"
DEFAULT_RETENTION = 7


@dataclass(frozen=True)
class Settings:
    dsn: str
    directory: Path
    schedule: str = DEFAULT_SCHEDULE
    retention: int = DEFAULT_RETENTION
    s3: Optional[s3.S3Target] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        if not env.get("DATABASE_URL"):
            raise BackupError("DATABASE_URL is not set")
        target = None
        if env.get("BACKUP_S3_BUCKET"):
            target = s3.S3Target(endpoint=env["BACKUP_S3_ENDPOINT"], bucket=env["BACKUP_S3_BUCKET"],
                                 access_key_id=env["BACKUP_S3_ACCESS_KEY_ID"],
                                 secret_access_key=env["BACKUP_S3_SECRET_ACCESS_KEY"],
                                 region=env.get("BACKUP_S3_REGION") or "us-east-1", prefix=env.get("BACKUP_S3_PREFIX", ""))
        return cls(dsn=env["DATABASE_URL"], directory=Path(env.get("BACKUP_DIR", "/backups")),
                   schedule=env.get("BACKUP_SCHEDULE") or DEFAULT_SCHEDULE,
                   retention=int(env.get("BACKUP_RETENTION") or DEFAULT_RETENTION), s3=target)


def projects(dsn: str) -> list[str]:
    """The stack's active projects, from the registry (so adding one needs no container change)."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("select to_regclass('supabase_multi.projects') is null").fetchone()[0]:
            return []
        return [n for (n,) in conn.execute(
            "select name from supabase_multi.projects where status = 'active' order by name")]


def next_run(schedule: str, after: datetime) -> datetime:
    from croniter import croniter

    return croniter(schedule, after.astimezone(timezone.utc)).get_next(datetime)


def run_once(settings: Settings, tools: Optional[pgtools.PgTools] = None,
             log: Callable[[str], None] = print) -> list[str]:
    """Back up every project, prune, upload; one failing project does not stop the others.
    Returns the failures (empty when all went well)."""
    failures = []
    for project in projects(settings.dsn):
        try:
            path = dump.dump(settings.dsn, project, settings.directory, tools=tools)
            removed = retention.prune(settings.directory, project, settings.retention)
            log(f"backup {project}: {path} ({path.stat().st_size} bytes); removed {len(removed)} old")
            if settings.s3:
                key = s3.upload(settings.s3, project, path)
                gone = s3.prune(settings.s3, project, settings.retention)
                log(f"backup {project}: uploaded s3://{settings.s3.bucket}/{key}; removed {len(gone)} old")
        except Exception as err:  # noqa: BLE001 - one project's failure must not stop the round
            failures.append(f"{project}: {err}")
            log(f"backup {project} FAILED: {err}")
    return failures


def loop(settings: Settings, log: Callable[[str], None] = print) -> None:
    """Sleep until the next scheduled time, run a round, forever."""
    log(f"backup service: schedule {settings.schedule!r} (UTC), keeping {settings.retention} per project"
        f"{', copying to s3://' + settings.s3.bucket if settings.s3 else ''}")
    while True:
        now = datetime.now(timezone.utc)
        due = next_run(settings.schedule, now)
        log(f"next backup round at {due.isoformat()}")
        time.sleep(max(0.0, (due - now).total_seconds()))
        try:
            run_once(settings, log=log)
        except Exception as err:  # noqa: BLE001 - the service keeps its schedule through a bad round
            log(f"backup round FAILED: {err}")
        sys.stdout.flush()
