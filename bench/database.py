"""Database cost per project, on a real PostgreSQL (embedded unless DATABASE_URL is set).

Projects are created through the project's own migration code path (components/migrations,
as `pulumi up` runs it): the `blog` template (two tables, both published to Realtime) with
three Storage buckets, roles and schema made as the pulumi-postgresql resources make them
(tests/pg.py). The baseline runs the same rendered SQL (template, then the finishing steps
with the same buckets) as one plain script over one already-open connection. Both are
measured interleaved, once with the first projects and once with `projects` registered.

Two clocks: the wall time of the whole step (rendering, Python, round trips included) and
its database time, the time spent in the statements it sends (psycopg's Cursor.execute),
which is what the issue's target compares: the same clock runs around the baseline's one
statement.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg

from components.core import migrations as m
from components.core import template_files
from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import AUTHENTICATOR, ProjectNames
from components.core.sql_templates import SQL_ROOT, render_named, render_text
from tests import pg
from tests import storage_api

BUCKETS = [{"name": "avatars", "public": True, "fileSizeLimit": "1MB", "allowedMimeTypes": ["image/*"]},
           {"name": "uploads"}, {"name": "exports", "fileSizeLimit": "20MB"}]
PUBLISHED = list(template_files.published(BUILTIN_TEMPLATES / "blog"))  # posts and users: 2 published tables


@contextmanager
def database() -> Iterator[str]:
    """A fresh database set up as the Supabase image and its services set it up; dropped afterwards."""
    with pg.server(Path(tempfile.mkdtemp(prefix="bench-pg-"))) as url:
        with pg.scratch_database(url, f"bench_{os.getpid()}") as dsn:
            yield dsn


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@dataclass
class Clocks:
    wall: float = 0.0
    database: float = 0.0


@contextmanager
def _statements_timed(clocks: Clocks) -> Iterator[None]:
    """Adds the time spent in every statement sent while inside to `clocks.database`."""
    original = psycopg.Cursor.execute

    def execute(cursor, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(cursor, *args, **kwargs)
        finally:
            clocks.database += time.perf_counter() - started

    psycopg.Cursor.execute = execute
    try:
        yield
    finally:
        psycopg.Cursor.execute = original


def _clocked(action: Callable[[], Any]) -> Clocks:
    clocks = Clocks()
    with _statements_timed(clocks):
        clocks.wall = _timed(action)
    return clocks


def create_project(dsn: str, name: str, blog: list[m.Migration]) -> Clocks:
    """The migration code path's clocks (roles and schema made beforehand, untimed)."""
    names = ProjectNames(name)
    pg.provider_create(dsn, names)
    buckets = pg.bucket_spec(name, BUCKETS)
    clocks = _clocked(lambda: m.apply_project(dsn, names, "blog", blog, buckets=buckets, published=PUBLISHED))
    pg.provider_grant(dsn, names)
    return clocks


def baseline_project(conn: psycopg.Connection, dsn: str, name: str, blog: list[m.Migration]) -> Clocks:
    """The same SQL (template, then the finishing steps) as one plain script on an open connection."""
    names = ProjectNames(name)
    pg.provider_create(dsn, names)
    context = m.finishing_context(names, "blog", pg.bucket_spec(name, BUCKETS), PUBLISHED)
    script = "".join(render_text(x.source, x.folder, **context) for x in blog) + "".join(
        render_named(step, **context) for step in m.FINISHING_STEPS)
    clocks = _clocked(lambda: conn.execute(script))
    pg.provider_grant(dsn, names)
    return clocks


def _interleaved(dsn: str, blog: list[m.Migration], prefix: str, samples: int) -> tuple[Clocks, Clocks]:
    """Median clocks of ours and of the baseline, alternating so drift hits both alike."""
    ours, base = [], []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(samples):
            ours.append(create_project(dsn, f"{prefix}_{i}", blog))
            base.append(baseline_project(conn, dsn, f"{prefix}_base_{i}", blog))
    return _median(ours), _median(base)


def _median(clocks: list[Clocks]) -> Clocks:
    return Clocks(statistics.median(c.wall for c in clocks), statistics.median(c.database for c in clocks))


def measure(projects: int, samples: int = 15) -> dict[str, Any]:
    samples = max(1, min(samples, projects // 5))
    blog = m.discover(BUILTIN_TEMPLATES / "blog")
    with database() as dsn:
        m.apply_bootstrap(dsn, m.discover(SQL_ROOT / "bootstrap"))
        first, first_base = _interleaved(dsn, blog, "first", samples)
        for i in range(samples * 2, projects - samples * 2):
            create_project(dsn, f"p{i:04d}", blog)
        last, last_base = _interleaved(dsn, blog, "last", samples)
        registered = _count(dsn, "select count(*) from supabase_multi.projects where status = 'active'")
        pre_config = _pre_config_ms(dsn)
        lookup = _storage_lookup_ms(dsn, ProjectNames("last_0"))
        names = ProjectNames("last_0")
        pg.provider_revoke(dsn, names)
        archive = _timed(lambda: m.archive_project(dsn, names))
    return {
        "buckets_per_project": len(BUCKETS),
        "published_tables_per_project": 2,
        "create_first_ms": first.database * 1000,  # database time, median of the first `samples` creates
        "baseline_plain_script_ms": first_base.database * 1000,
        "create_vs_baseline": first.database / first_base.database,
        "create_first_wall_ms": first.wall * 1000,
        "create_first_wall_vs_baseline": first.wall / first_base.wall,
        "projects_registered": registered,
        "create_last_ms": last.database * 1000,  # the same, with `projects` registered
        "baseline_last_ms": last_base.database * 1000,
        "create_last_vs_baseline": last.database / last_base.database,
        "create_last_wall_ms": last.wall * 1000,
        "create_last_wall_vs_baseline": last.wall / last_base.wall,
        "create_last_vs_first": last.database / first.database,
        "archive_ms": archive * 1000,
        "pre_config_ms": pre_config,
        "storage_object_lookup_ms": lookup,
    }


def _count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]


def _pre_config_ms(dsn: str, calls: int = 200) -> float:
    """What PostgREST pays on each config reload: the pre-config function, as authenticator."""
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(pg.with_database(dsn, dbname, user=AUTHENTICATOR), autocommit=True) as conn:
        conn.execute("select supabase_multi.postgrest_pre_config()")
        started = time.perf_counter()
        for _ in range(calls):
            conn.execute("select supabase_multi.postgrest_pre_config()")
        return (time.perf_counter() - started) / calls * 1000


def _storage_lookup_ms(dsn: str, names: ProjectNames, calls: int = 200) -> float:
    """Storage's findObject as a project's anon key, through the shared policies, with every
    project's buckets in the table: what row level security adds to a download."""
    key = storage_api.key(names.anon)
    bucket = f"{names.project}-avatars"
    storage_api.upload(dsn, storage_api.as_service_role(), bucket, "a/b.png")
    with storage_api.request(dsn, key) as conn:
        query = "select id, version, metadata from objects where bucket_id = %s and name = %s"
        assert conn.execute(query, (bucket, "a/b.png")).fetchone() is not None
        started = time.perf_counter()
        for _ in range(calls):
            conn.execute(query, (bucket, "a/b.png")).fetchone()
        return (time.perf_counter() - started) / calls * 1000
