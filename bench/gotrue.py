"""The per-project memory cost of auth: the idle RSS of one real GoTrue after its migrations.

GoTrue runs with the env the program declares for a project's `auth-<p>` container (under
Pulumi mocks), against a real PostgreSQL, until /health answers; then it idles and its
resident memory is read from /proc. Without a GoTrue binary (scripts/build-gotrue.sh could
not build one) the result says so instead of a number.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tests import gotrue, pg

IDLE_SECONDS = 10


def _memory_mb(pid: int) -> dict[str, float]:
    """Resident memory, and its private part: RssFile is GoTrue's code, shared by every
    auth-<p> container of the same image on a host (one page cache), RssAnon is each one's own."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


def measure(idle_seconds: float = IDLE_SECONDS) -> dict[str, Any]:
    binary = gotrue.binary()
    if binary is None:
        return {"measured": False, "reason": gotrue.build_error() or "no GoTrue binary (scripts/build-gotrue.sh)"}
    from tests.program import run_program
    from tests.stack_inputs import containers

    env = gotrue.container_env(containers(run_program())["auth-blog"].inputs)
    workdir = Path(tempfile.mkdtemp(prefix="bench-gotrue-"))
    with pg.server(workdir) as url, pg.scratch_database(url, f"bench_auth_{os.getpid()}") as dsn:
        pg.bootstrap(dsn)
        names = pg.create_project(dsn, "blog", auth_password="bench-password")
        started = time.perf_counter()
        server = gotrue.RealGoTrue(env, dsn, names.auth_admin, "bench-password", workdir / "auth.log")
        ready = time.perf_counter() - started
        try:
            time.sleep(idle_seconds)
            idle = _memory_mb(server.process.pid)
        finally:
            server.stop()
    return {"measured": True, "binary": str(binary), "migrate_and_start_seconds": round(ready, 2),
            "idle_rss_mb": idle["VmRSS"], "idle_private_mb": idle["RssAnon"], "idle_shared_code_mb": idle["RssFile"],
            "idle_seconds": idle_seconds, "target_mb": 30}
