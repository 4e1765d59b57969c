"""Take a backup of one project, consistent to one instant.

One repeatable-read transaction exports its snapshot; pg_dump runs on that snapshot for the
project's schemas and its public views, and the registry rows, storage metadata and row
counts are read in the same transaction. So every part of a backup shows the same moment.
"""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import psycopg
from psycopg import sql

from backup import archive, catalog, pgtools
from backup.errors import BackupError
from components.core.naming import OWN, SHARED, ProjectNames

STORAGE_TABLES = ("buckets", "objects")


def backup_name(project: str, when: datetime) -> str:
    """`<project>-<UTC YYYYMMDDTHHMMSSZ>.tar`: names sort in time order."""
    return f"{project}-{when.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}{archive.SUFFIX}"


def dump(dsn: str, project: str, out_dir: Path, *, tools: Optional[pgtools.PgTools] = None,
         when: Optional[datetime] = None) -> Path:
    """Write `<out_dir>/<project>/<project>-<stamp>.tar` and return its path."""
    when = when or datetime.now(timezone.utc)
    with psycopg.connect(dsn, application_name="supabase-multi-instance-backup") as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        tools = tools or pgtools.find(pgtools.server_major(conn.info.server_version))
        names, template = _registered(conn, project)
        snapshot = conn.execute("select pg_export_snapshot()").fetchone()[0]
        with tempfile.TemporaryDirectory(prefix="backup-") as tmp:
            files: dict[str, Path] = {}
            schemas = _schemas(conn, names)
            views = _public_views(conn, names)
            files["schemas.dump"] = _pg_dump(tools, dsn, snapshot, Path(tmp) / "schemas.dump",
                                             [f'--schema="{s}"' for s in schemas.values() if s])
            storage = _storage(conn, names, Path(tmp), files)
            manifest = {
                "project": project,
                "template": template,
                "auth_mode": names.auth_mode,
                "created_at": when.astimezone(timezone.utc).isoformat(),
                "server_version": conn.info.server_version,
                "pg_dump_version": tools.version,
                "schemas": schemas,
                "public_views": views,
                "roles": _roles(conn, names),
                "migrations": _migrations(conn, names),
                "tables": _row_counts(conn, [s for s in schemas.values() if s]),
                "storage": storage,
            }
            path = archive.write(Path(out_dir) / project / backup_name(project, when), manifest, files)
        conn.rollback()
    return path


def _registered(conn: psycopg.Connection, project: str) -> tuple[ProjectNames, str]:
    found = registration(conn, project)
    if found is None:
        raise BackupError(f"project {project!r} does not exist in this database (see `python -m backup projects`)")
    names, template = found
    if names.own_auth and not _exists(conn, names.auth_schema):
        raise BackupError(f"project {project!r} has its own users (auth mode {OWN!r}) but no user pool schema "
                          f"{names.auth_schema!r}; run `pulumi up` first: a backup is never taken without its users")
    return names, template


def registration(conn: psycopg.Connection, project: str) -> Optional[tuple[ProjectNames, str]]:
    """An active project's names, in its registered auth mode, and its template; None when the
    registry has no such project or its schema is gone. Backups and restores both ask here."""
    schema = ProjectNames(project).schema
    missing = conn.execute("select to_regclass('supabase_multi.projects') is null").fetchone()[0]
    row = None if missing else conn.execute(
        "select template, auth_mode from supabase_multi.projects where schema_name = %s and status = 'active'",
        (schema,)).fetchone()
    if row is None or not _exists(conn, schema):
        return None
    template, mode = row
    # A row from before the registry knew auth modes (the next `pulumi up` records it): the
    # user pool's presence tells.
    if mode is None:
        mode = OWN if _exists(conn, ProjectNames(project, OWN).auth_schema) else SHARED
    return ProjectNames(project, mode), template


def _exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


def _schemas(conn: psycopg.Connection, names: ProjectNames) -> dict[str, Optional[str]]:
    """The data schema, and the project's user pool when it has its own (a shared project's
    users are the stack's, in `auth`, and not part of its backup)."""
    return {"data": names.schema, "auth": names.auth_schema if names.own_auth else None}


def _public_views(conn: psycopg.Connection, names: ProjectNames) -> list[dict[str, Any]]:
    """The project's views in public, as pg_dump would recreate them: definition (every name
    schema-qualified), options, owner, grants, comment. pg_dump cannot select a schema and
    single views in one run, and a second run would read the whole catalog again."""
    conn.execute("set local search_path = ''")
    rows = conn.execute("""
        select c.relname, pg_catalog.pg_get_viewdef(c.oid), coalesce(c.reloptions, '{}'),
               pg_catalog.pg_get_userbyid(c.relowner),
               coalesce((select pg_catalog.json_agg(pg_catalog.json_build_array(
                            case when a.grantee = 0 then null else pg_catalog.pg_get_userbyid(a.grantee) end,
                            a.privilege_type, a.is_grantable) order by a.grantee, a.privilege_type)
                           from pg_catalog.aclexplode(c.relacl) a where a.grantee <> c.relowner), '[]'),
               pg_catalog.obj_description(c.oid, 'pg_class')
          from supabase_multi.public_views_of(%s) v join pg_catalog.pg_class c on c.oid = v.oid
         order by c.relname""", (names.schema,)).fetchall()
    conn.execute("reset search_path")
    return [{"name": name, "definition": definition, "options": options, "owner": owner, "grants": grants,
             "comment": comment}
            for name, definition, options, owner, grants, comment in rows]


def role_kinds(names: ProjectNames) -> list[str]:
    """The kinds of role a project owns (ProjectNames properties): its NOLOGIN roles and, with
    its own users, its GoTrue's login role. A shared project's `authenticated` is the stack's."""
    kinds = ["owner", "anon", "authenticated", "service", "auth_admin"]
    return kinds if names.own_auth else [k for k in kinds if k not in ("authenticated", "auth_admin")]


def _roles(conn: psycopg.Connection, names: ProjectNames) -> dict[str, str]:
    """The project's roles that exist (kind -> name): a restore maps each onto the target's."""
    wanted = {kind: getattr(names, kind) for kind in role_kinds(names)}
    found = {r for (r,) in conn.execute("select rolname from pg_roles where rolname = any(%s)", (list(wanted.values()),))}
    return {kind: role for kind, role in wanted.items() if role in found}


def _migrations(conn: psycopg.Connection, names: ProjectNames) -> list[dict[str, Any]]:
    rows = conn.execute("select version, filename, checksum, applied_at from supabase_multi.migrations "
                        "where scope = %s order by version", (names.schema,)).fetchall()
    return [{"version": v, "filename": f, "checksum": c, "applied_at": a.isoformat()} for v, f, c, a in rows]


def _row_counts(conn: psycopg.Connection, schemas: list[str]) -> list[dict[str, Any]]:
    """Rows per table: the restore checks them inside its transaction."""
    return [{"schema": s, "table": t, "rows": catalog.rows(conn, s, t)} for s, t in catalog.tables(conn, schemas)]


def _pg_dump(tools: pgtools.PgTools, dsn: str, snapshot: str, target: Path, selection: list[str]) -> Path:
    pgtools.run(tools, "pg_dump", ["--format=custom", f"--snapshot={snapshot}", "--no-security-labels",
                                   f"--file={target}", *selection], dsn)
    return target


def _storage(conn: psycopg.Connection, names: ProjectNames, tmp: Path, files: dict[str, Path]) -> Optional[dict]:
    """Rows of storage.buckets/objects whose bucket id is `<project>-...`, when the stack has Storage."""
    if conn.execute("select to_regclass('storage.buckets') is null or to_regclass('storage.objects') is null").fetchone()[0]:
        return None
    found = {}
    prefix = f"{names.project}-"
    for table, key in catalog.STORAGE_KEYS.items():
        columns = [c for (c,) in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped "
            "and attgenerated = '' order by attnum", (f"storage.{table}",))]
        query = sql.SQL("copy (select {} from storage.{} where starts_with({}, {}) order by 1) to stdout with (format csv)").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table), sql.Identifier(key), sql.Literal(prefix))
        target = tmp / f"storage_{table}.csv"
        with open(target, "wb") as out, conn.cursor().copy(query) as copy:
            for block in copy:
                out.write(block)
        rows = catalog.storage_rows(conn, table, names.project)
        files[target.name] = target
        found[table] = {"columns": columns, "rows": rows, "file": target.name}
    return found
