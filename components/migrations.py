"""Ordered, checksummed SQL migrations over psycopg: the code path `pulumi up` runs.

Each step (create, update, archive, drop) is one transaction under one advisory lock:
it applies completely or not at all, and parallel project updates never interleave DDL.
The dynamic provider in `sql_migrations.py` only wraps these functions, so the tests
exercise exactly what a deployment does.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import psycopg

from components import service_schemas
from components.naming import AUTHENTICATOR, ProjectNames
from components.sql_templates import render_named, render_text

MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql\.j2$")
STACK_SCOPE = "_stack"
LOCK_KEY = 0x5B3A_0001  # one lock for all registry/project DDL of this program
MAX_IDENTIFIER = 63
ARCHIVE_PREFIX = "_archived_"
POSTGREST_BASE_SCHEMAS = "public,storage,graphql_public"


class MigrationError(Exception):
    """A step failed and was rolled back; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    checksum: str
    source: str


def discover(template_dir: Path) -> list[Migration]:
    """The template's migrations in order; refuses ambiguous or misnamed files."""
    migrations: dict[int, Migration] = {}
    for path in sorted(Path(template_dir).iterdir()):
        if path.name.startswith(("_", ".")) or not path.name.endswith(".sql.j2"):
            continue
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_lowercase_name.sql.j2")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path}: version {version:04d} is also {migrations[version].filename}")
        source = path.read_text()
        migrations[version] = Migration(version, path.name, checksum(source), source)
    if not migrations:
        raise MigrationError(f"{template_dir}: the template has no NNNN_name.sql.j2 migration")
    return [migrations[v] for v in sorted(migrations)]


def checksum(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


_IDLE: dict[str, list[psycopg.Connection]] = {}
_IDLE_LOCK = threading.Lock()
_IDLE_PER_DSN = 4


@contextmanager
def _connect(dsn: str) -> Iterator[psycopg.Connection]:
    """A connection, reused across steps: the provider process runs hundreds of them per `up`."""
    conn = _checkout(dsn) or psycopg.connect(
        dsn, autocommit=True, connect_timeout=10, application_name="supabase-multi-instance")
    try:
        yield conn
    finally:
        _checkin(dsn, conn)


def _checkout(dsn: str) -> Optional[psycopg.Connection]:
    while True:
        with _IDLE_LOCK:
            conn = _IDLE.get(dsn, []).pop() if _IDLE.get(dsn) else None
        if conn is None:
            return None
        try:
            conn.execute("select 1")  # the server may have restarted since
            return conn
        except psycopg.Error:
            conn.close()


def _checkin(dsn: str, conn: psycopg.Connection) -> None:
    healthy = not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with _IDLE_LOCK:
        idle = _IDLE.setdefault(dsn, [])
        if healthy and len(idle) < _IDLE_PER_DSN:
            idle.append(conn)
            return
    conn.close()


def _begin_locked(conn: psycopg.Connection, ensure_registry: bool = False) -> None:
    """Serialize all registry/project DDL; create the registry if this database lacks it."""
    conn.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    missing = conn.execute("select to_regclass('supabase_multi.migrations') is null").fetchone()[0]
    if ensure_registry or missing:
        conn.execute(render_named("registry/registry.sql.j2"))


def _applied(conn: psycopg.Connection, scope: str) -> dict[int, tuple[str, str]]:
    rows = conn.execute(
        "select version, filename, checksum from supabase_multi.migrations where scope = %s", (scope,)
    ).fetchall()
    return {v: (f, c) for v, f, c in rows}


def pending(applied: dict[int, tuple[str, str]], migrations: list[Migration], where: str) -> list[Migration]:
    """New migrations only; an edited or vanished applied one is an error, never re-run."""
    by_version = {m.version: m for m in migrations}
    for version, (filename, digest) in sorted(applied.items()):
        current = by_version.get(version)
        if current is None:
            raise MigrationError(f"{where}/{filename} was applied but is no longer in the template; restore it")
        if current.checksum != digest:
            raise MigrationError(
                f"{where}/{current.filename} was changed after it was applied (checksum {digest[:12]} -> "
                f"{current.checksum[:12]}); revert it and put the change in a new NNNN_*.sql.j2 file"
            )
    return [m for m in migrations if m.version not in applied]


def _run(conn: psycopg.Connection, label: str, text: str) -> None:
    try:
        conn.execute(text)
    except psycopg.Error as err:
        raise MigrationError(f"{label}: {_explain(err, text)}; nothing was applied") from err


def _explain(err: psycopg.Error, text: str) -> str:
    diag = err.diag
    where = ""
    if diag.statement_position:
        line = text[: int(diag.statement_position)].count("\n") + 1
        where = f" (line {line})"
    return f"{diag.message_primary or err}{where}"


def _apply(conn: psycopg.Connection, scope: str, where: str, migrations: list[Migration], context: dict) -> list[str]:
    done = []
    for m in pending(_applied(conn, scope), migrations, where):
        _run(conn, f"{where}/{m.filename}", render_text(m.source, **context))
        conn.execute(
            "insert into supabase_multi.migrations (scope, version, filename, checksum) values (%s, %s, %s, %s)",
            (scope, m.version, m.filename, m.checksum),
        )
        done.append(m.filename)
    return done


def apply_bootstrap(dsn: str, migrations: list[Migration], where: str = "sql/bootstrap") -> list[str]:
    """The stack's own schema objects: registry and PostgREST pre-config function."""
    context = {"authenticator": AUTHENTICATOR, "base_schemas": POSTGREST_BASE_SCHEMAS}
    with _connect(dsn) as conn, conn.transaction():
        _begin_locked(conn, ensure_registry=True)
        return _apply(conn, STACK_SCOPE, where, migrations, context)


def apply_project(
    dsn: str, names: ProjectNames, template: str, migrations: list[Migration], where: Optional[str] = None,
    buckets: Sequence[dict[str, Any]] = (),
) -> list[str]:
    """Create or update a project: new migrations, then ownership, grants, registry, its
    Storage buckets and policies, its Realtime policies, NOTIFY. `buckets` is
    components/buckets.spec() of its config."""
    where = where or f"sql/projects/{template}"
    context = project_context(names) | {"template": template}
    finishing = context | {"buckets_json": json.dumps(list(buckets))}
    with _connect(dsn) as conn:
        service_schemas.wait_until_ready(conn)
        with conn.transaction():
            _begin_locked(conn)
            _refuse_template_change(conn, names, template)
            done = _apply(conn, names.schema, where, migrations, context)
            for step in FINISHING_STEPS:
                _run(conn, f"sql/{step}", render_named(step, **finishing))
            return done


# After a create/update step's migrations, in this order, in the same transaction.
FINISHING_STEPS = ("projects/_finalize.sql.j2", "projects/_storage.sql.j2", "projects/_realtime.sql.j2")


def project_context(names: ProjectNames) -> dict[str, Any]:
    """What sql/projects/_*.sql.j2 see: the template variables plus the roles' kinds."""
    return names.context() | {"api_role_kinds": names.api_role_kinds()}


def _refuse_template_change(conn: psycopg.Connection, names: ProjectNames, template: str) -> None:
    row = conn.execute(
        "select template from supabase_multi.projects where schema_name = %s", (names.schema,)
    ).fetchone()
    if row and row[0] != template:
        raise MigrationError(
            f"project {names.project!r} was created from template {row[0]!r} and cannot switch to {template!r}; "
            "add a new project instead, or put the change in a new migration of its template"
        )


def archived_schema_name(project: str, when: datetime) -> str:
    """`_archived_<name>_<UTC timestamp>`, the name shortened if it would pass Postgres's 63 bytes."""
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
    room = MAX_IDENTIFIER - len(ARCHIVE_PREFIX) - len(stamp) - 1
    return f"{ARCHIVE_PREFIX}{project[:room]}_{stamp}"


def archive_project(dsn: str, names: ProjectNames, when: Optional[datetime] = None) -> str:
    """Unexpose and rename the schema; returns the archived schema's name. Data stays."""
    archived = archived_schema_name(names.project, when or datetime.now(timezone.utc))
    context = project_context(names) | {"archived_schema": archived}
    with _connect(dsn) as conn, conn.transaction():
        _begin_locked(conn)
        if not _schema_exists(conn, names.schema):
            return ""
        for step in ("projects/_leave_storage_realtime.sql.j2", "projects/_archive.sql.j2"):
            _run(conn, f"sql/{step}", render_named(step, **context))
    return archived


def drop_project(dsn: str, names: ProjectNames) -> None:
    """onDelete: drop. Schema, public views and registry rows go; roles go with their resources."""
    with _connect(dsn) as conn, conn.transaction():
        _begin_locked(conn)
        if _schema_exists(conn, names.schema):
            for step in ("projects/_leave_storage_realtime.sql.j2", "projects/_drop.sql.j2"):
                _run(conn, f"sql/{step}", render_named(step, **project_context(names)))


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


PUBLISHED_QUERY = """
    select c.relname
      from pg_catalog.pg_publication_rel r
      join pg_catalog.pg_publication p on p.oid = r.prpubid and p.pubname = 'supabase_realtime'
      join pg_catalog.pg_class c on c.oid = r.prrelid
     where c.relnamespace = (select n.oid from pg_catalog.pg_namespace n where n.nspname = %(schema)s)
     order by c.relname"""


def describe(dsn: str, schema: str) -> dict[str, list]:
    """Tables and views (with columns) that the project exposes, and the tables it publishes
    to Realtime, for outputs and the dashboard."""
    query = """
        select c.relname, c.relkind in ('v', 'm') as is_view, n.nspname,
               coalesce(json_agg(json_build_object('name', a.attname,
                        'type', format_type(a.atttypid, a.atttypmod)) order by a.attnum)
                        filter (where a.attnum > 0), '[]')
          from (select o.objid as oid from supabase_multi.objects_of(%(schema)s) o where o.kind <> 'function'
                union select v.oid from supabase_multi.public_views_of(%(schema)s) v) found
          join pg_class c on c.oid = found.oid
          join pg_namespace n on n.oid = c.relnamespace
          left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
         where c.relkind in ('r', 'p', 'v', 'm')
         group by c.relname, c.relkind, n.nspname
         order by n.nspname <> %(schema)s, c.relname"""
    with _connect(dsn) as conn:
        rows = conn.execute(query, {"schema": schema}).fetchall()
        published = [name for (name,) in conn.execute(PUBLISHED_QUERY, {"schema": schema})]
    tables = [{"name": name, "columns": cols} for name, is_view, ns, cols in rows if not is_view]
    views = [{"name": name if ns == schema else f"{ns}.{name}", "columns": cols}
             for name, is_view, ns, cols in rows if is_view]
    return {"tables": tables, "views": views, "published": published}


def plan_names(migrations: Iterable[Migration]) -> list[dict]:
    """What the resource records in its inputs: enough to diff, no SQL text in state."""
    return [{"version": m.version, "filename": m.filename, "checksum": m.checksum} for m in migrations]
