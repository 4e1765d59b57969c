"""Database cost per project, on a real PostgreSQL (embedded unless DATABASE_URL is set).

Projects are created through the project's own migration code path (components/migrations,
as `pulumi up` runs it), with roles and schema made as the pulumi-postgresql resources make
them (tests/pg.py). The baseline runs the same rendered DDL as one plain script over one
already-open connection.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg

from components import migrations as m
from components.config import BUILTIN_TEMPLATES
from components.naming import AUTHENTICATOR, ProjectNames
from components.sql_templates import SQL_ROOT, render_named, render_text
from tests import pg


@contextmanager
def database() -> Iterator[str]:
    """A fresh database set up as the Supabase image sets it up; dropped afterwards."""
    with pg.server(Path(tempfile.mkdtemp(prefix="bench-pg-"))) as url:
        with pg.scratch_database(url, f"bench_{os.getpid()}") as dsn:
            yield dsn


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def create_project(dsn: str, name: str, blog: list[m.Migration]) -> float:
    """Seconds spent in the migration code path (roles and schema made beforehand, untimed)."""
    names = ProjectNames(name)
    pg.provider_create(dsn, names)
    seconds = _timed(lambda: m.apply_project(dsn, names, "blog", blog))
    pg.provider_grant(dsn, names)
    return seconds


def baseline_project(conn: psycopg.Connection, dsn: str, name: str, blog: list[m.Migration]) -> float:
    """The same DDL (template, then finalize) as one plain script on an open connection."""
    names = ProjectNames(name)
    pg.provider_create(dsn, names)
    context = names.context() | {"template": "blog"}
    script = "".join(render_text(x.source, x.folder, **context) for x in blog) + render_named("projects/_finalize.sql.j2", **context)
    seconds = _timed(lambda: conn.execute(script))
    pg.provider_grant(dsn, names)
    return seconds


def measure(projects: int, samples: int = 5) -> dict[str, Any]:
    samples = max(1, min(samples, projects // 5))
    blog = m.discover(BUILTIN_TEMPLATES / "blog")
    with database() as dsn:
        m.apply_bootstrap(dsn, m.discover(SQL_ROOT / "bootstrap"))
        ours, base = [], []
        with psycopg.connect(dsn, autocommit=True) as conn:
            for i in range(samples):  # interleaved, so drift hits both alike
                ours.append(create_project(dsn, f"first_{i}", blog))
                base.append(baseline_project(conn, dsn, f"base_{i}", blog))
        for i in range(samples * 2, projects - samples):
            create_project(dsn, f"p{i:04d}", blog)
        last = statistics.median(create_project(dsn, f"last_{i}", blog) for i in range(samples))
        registered = _count(dsn, "select count(*) from supabase_multi.projects where status = 'active'")
        pre_config = _pre_config_ms(dsn)
        names = ProjectNames("last_0")
        pg.provider_revoke(dsn, names)
        archive = _timed(lambda: m.archive_project(dsn, names))
    first = statistics.median(ours)
    return {
        "create_first_ms": first * 1000,
        "baseline_plain_script_ms": statistics.median(base) * 1000,
        "create_vs_baseline": first / statistics.median(base),
        "projects_registered": registered,
        "create_last_ms": last * 1000,  # median of the last `samples` creates
        "create_last_vs_first": last / first,
        "archive_ms": archive * 1000,
        "pre_config_ms": pre_config,
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
