"""pg_dump, pg_restore and psql of the server's major version, and libpq settings from a DSN.

A newer pg_restore writes SQL an older server refuses (PostgreSQL 17 added
`SET transaction_timeout`), and an older pg_dump refuses a newer server: the tools must
match the server's major version, so they are looked up by it, never taken from PATH blindly.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from psycopg.conninfo import conninfo_to_dict

from backup.errors import BackupError

TOOLS = ("pg_dump", "pg_restore", "psql")
# libpq connection parameters and the environment variables libpq reads them from.
LIBPQ_ENV = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
             "user": "PGUSER", "password": "PGPASSWORD", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
             "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS", "passfile": "PGPASSFILE"}


@dataclass(frozen=True)
class PgTools:
    bin_dir: Path
    version: str  # e.g. "15.8"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def path(self, tool: str) -> str:
        return str(self.bin_dir / tool)


def server_major(server_version_num: int) -> int:
    return server_version_num // 10000


def find(major: int, bin_dir: Optional[str] = None) -> PgTools:
    """The first folder holding all three tools of `major`: --pg-bin/PG_BIN, Debian's, then PATH."""
    candidates = [bin_dir or os.environ.get("PG_BIN"), f"/usr/lib/postgresql/{major}/bin"]
    on_path = shutil.which("pg_dump")
    candidates.append(str(Path(on_path).resolve().parent) if on_path else None)
    seen = []
    for folder in filter(None, candidates):
        version = _version(Path(folder))
        seen.append(f"{folder} ({version or 'no pg_dump/pg_restore/psql'})")
        if version and int(version.split(".")[0]) == major:
            return PgTools(Path(folder), version)
    raise BackupError(
        f"no pg_dump, pg_restore and psql of PostgreSQL {major} (the server's version) found; install "
        f"postgresql-client-{major} or pass --pg-bin DIR (looked in: {'; '.join(seen) or 'nothing'})")


def _version(folder: Path) -> Optional[str]:
    if not all((folder / t).is_file() and os.access(folder / t, os.X_OK) for t in TOOLS):
        return None
    out = subprocess.run([str(folder / "pg_dump"), "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    return f"{match.group(1)}.{match.group(2) or 0}" if match else None


def libpq_env(dsn: str) -> dict[str, str]:
    """The DSN as PG* environment variables: the password never appears in a process list."""
    params = conninfo_to_dict(dsn)
    unknown = set(params) - set(LIBPQ_ENV) - {"application_name"}
    if unknown:
        raise BackupError(f"unsupported connection parameter(s) for the pg tools: {', '.join(sorted(unknown))}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PG_BIN"}
    env.update({LIBPQ_ENV[k]: str(v) for k, v in params.items() if k in LIBPQ_ENV})
    env["PGAPPNAME"] = "supabase-multi-instance-backup"
    return env


def run(tools: PgTools, tool: str, args: list[str], dsn: str) -> None:
    """Run one tool to completion; its error output becomes the BackupError."""
    result = subprocess.run([tools.path(tool), *args], env=libpq_env(dsn), capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {result.stderr.strip()[-2000:]}")
