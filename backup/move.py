"""Move one project to another cell: a backup from the source cell's database, restored into
the target cell's, then counted on both sides.

A cell is a stack of this program with its own Postgres (docs/cells.md). The target project
is the same project declared in the target cell's config, `pulumi up` done, with the
source's `keys` settings and its `keys.seeds` (the source's `projectKeySeeds`): its roles,
grants and keys are the target cell's own Pulumi resources, so the restore only brings the
data — the schema, the user pool (`auth.mode: own`), the rows of its Storage buckets — and
keeps them. Before anything is written the target's registered signing keys must be the
source's, or every key and session would break at the switch. The source is only read
(one consistent snapshot): removing the project from the source cell's config afterwards
archives its data there (`onDelete: archive`, the default).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

import psycopg

from backup import archive, catalog, dump, pgtools, restore
from backup.errors import BackupError
from components.core.naming import ProjectNames

SEEDS_HINT = ("set the project's keys (signing, verifying, api) and keys.seeds in the target cell as the source cell "
              "has them (`pulumi stack output projectKeySeeds --show-secrets` there) and run `pulumi up` in the "
              "target cell; nothing was changed")


@dataclass(frozen=True)
class Moved:
    project: str
    backup: Path  # the move's backup, kept as its record
    rows: dict[str, int]  # "schema.table" -> rows, the same in the snapshot and the target
    users: int  # rows of the user pool's users table (0 for `auth.mode: shared`: the stack's users stay)
    storage: dict[str, int]  # storage.buckets / storage.objects rows of the project's buckets
    replaced: str  # what became of the target's own (empty) contents: restore.Result.replaced
    warnings: list[str] = field(default_factory=list)


def move(from_dsn: str, to_dsn: str, project: str, work_dir: Path, *, force: bool = False,
         from_tools: Optional[pgtools.PgTools] = None, to_tools: Optional[pgtools.PgTools] = None,
         templates_dir: Optional[Path] = None, when: Optional[datetime] = None) -> Moved:
    """Copy `project` from the source cell's database into the target cell's; verify the counts."""
    warnings = _preflight(from_dsn, to_dsn, project)
    held = target_contents(to_dsn, project)
    if held and not force:
        raise BackupError(f"project {project!r} in the target cell holds data ({', '.join(held[:5])}"
                          f"{', ...' if len(held) > 5 else ''}); refused, nothing was changed. A move goes into the "
                          "project as the target cell's `pulumi up` made it; pass --force to replace it (its contents "
                          "are archived there, not dropped)")
    path = dump.dump(from_dsn, project, work_dir, tools=from_tools, when=when)
    manifest = archive.read_manifest(path)
    # force: the restore counts the bucket rows the target's `pulumi up` declared as data; the
    # check above found none of its own.
    result = restore.restore(to_dsn, path, project, force=True, tools=to_tools, templates_dir=templates_dir,
                             when=when)
    snapshot = _verified(from_dsn, to_dsn, path, manifest, warnings)
    names = restore.source_names(manifest)
    if not names.own_auth:
        warnings.append(f"{project!r} has auth mode 'shared': its users are the source stack's own (schema auth), "
                        "not the project's, and did not move; they sign up again in the target cell, or give the "
                        "project its own users (auth.mode: own) before it moves")
    return Moved(project, path, rows={k: v for k, v in snapshot.items() if not k.startswith("storage.")},
                 users=snapshot.get(f"{names.auth_schema}.users", 0) if names.own_auth else 0,
                 storage={k.removeprefix("storage."): v for k, v in snapshot.items() if k.startswith("storage.")},
                 replaced=result.replaced, warnings=[*warnings, *result.warnings])


def _verified(from_dsn: str, to_dsn: str, path: Path, manifest: dict, warnings: list[str]) -> dict[str, int]:
    """The snapshot's counts, which the target must hold now; the source's writes since then are
    warned about (they are not in the target)."""
    names = restore.source_names(manifest)
    snapshot, moved = expected_counts(manifest), counts(to_dsn, names, manifest)
    if moved != snapshot:
        differ = sorted(k for k in set(snapshot) | set(moved) if snapshot.get(k) != moved.get(k))
        raise BackupError(f"the target cell's {names.project!r} does not hold what the backup {path} holds ("
                          + ", ".join(f"{k}: {snapshot.get(k)} in the backup, {moved.get(k)} in the target" for k in differ)
                          + "); the source is unchanged: do not remove it from its cell")
    now = counts(from_dsn, names, manifest)
    changed = sorted(k for k in snapshot if now.get(k) != snapshot[k])
    if changed:
        warnings.append("the source changed after the snapshot (" + ", ".join(
            f"{k}: {snapshot[k]} -> {now.get(k)}" for k in changed) + "): those writes are not in the target; stop "
            "the project's writers in the source cell and move again with --force")
    return snapshot


def _preflight(from_dsn: str, to_dsn: str, project: str) -> list[str]:
    """Two different servers' databases, a target major no older than the source's, the same keys."""
    with psycopg.connect(from_dsn) as source, psycopg.connect(to_dsn) as target:
        if _identity(source) == _identity(target):
            raise BackupError("--from-dsn and --to-dsn are the same database: a move goes to another cell's "
                              "database (to copy a project within one, use clone); nothing was changed")
        majors = [pgtools.server_major(c.info.server_version) for c in (source, target)]
        if majors[1] < majors[0]:
            raise BackupError(f"the target cell runs PostgreSQL {majors[1]}, older than the source's {majors[0]}: "
                              "upgrade it first (README, \"Upgrading Postgres to a new major\"); nothing was changed")
        if dump.registration(target, project) is None:
            raise BackupError(f"project {project!r} does not exist in the target cell's database: add it to that "
                              f"cell's config (its template, auth mode, keys and keys.seeds as in the source cell) "
                              f"and run `pulumi up` there first; nothing was changed")
        mine, theirs = verifying_kids(source, project), verifying_kids(target, project)
    if mine is None or not mine:
        return [f"the source cell records no signing keys of {project!r}: its keys could not be compared; check "
                "that the target's projects.<p>.signingKeyId output is the source's"]
    if theirs != mine:
        raise BackupError(f"the target cell's {project!r} has other signing keys than the source's "
                          f"(kid {', '.join(sorted(theirs or [])) or 'none'} there, {', '.join(sorted(mine))} here): "
                          f"its clients' keys and sessions would fail after the move; {SEEDS_HINT}")
    return []


def target_contents(dsn: str, project: str) -> list[str]:
    """What the target holds beyond what `pulumi up` makes: rows of its tables and user pool
    (GoTrue's migration records aside), its files' rows. Its declared bucket rows are not data."""
    with psycopg.connect(dsn) as conn:
        found = dump.registration(conn, project)
        names = found[0] if found else ProjectNames(project)
        schemas = [names.schema] + ([names.auth_schema] if names.own_auth else [])
        held = catalog.filled_tables(conn, schemas, [f"{names.auth_schema}.{t}" for t in restore.AUTH_BOOKKEEPING])
        if conn.execute("select to_regclass('storage.objects') is not null").fetchone()[0] and \
                catalog.storage_rows(conn, "objects", project):
            held.append("storage objects")
    return held


def _identity(conn: psycopg.Connection) -> tuple:
    """Which cluster and database: the cluster's system identifier where the role may read it."""
    try:
        with conn.transaction():
            system = conn.execute("select system_identifier from pg_catalog.pg_control_system()").fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:
        system = (conn.info.host, conn.info.port)
    return system, conn.execute("select current_database()").fetchone()[0]


def verifying_kids(conn: psycopg.Connection, project: str) -> Optional[set[str]]:
    """The kids of the project's signing keys as its SQL step registered them (sql/projects/_jwks.sql.j2)."""
    if conn.execute("select to_regclass('supabase_multi.verifying_keys') is null").fetchone()[0]:
        return None
    return {k for (k,) in conn.execute("select kid from supabase_multi.verifying_keys where schema_name = %s",
                                       (ProjectNames(project).schema,))}


def expected_counts(manifest: dict) -> dict[str, int]:
    """What the snapshot held: rows per table of the project's schemas, and its Storage rows."""
    found = {f"{t['schema']}.{t['table']}": t["rows"] for t in manifest["tables"]}
    return found | {f"storage.{table}": part["rows"] for table, part in (manifest.get("storage") or {}).items()}


def counts(dsn: str, names: ProjectNames, manifest: dict) -> dict[str, int]:
    """The same counts, read from a database now (tables the database lacks are left out)."""
    found = {}
    with psycopg.connect(dsn) as conn:
        present = set(catalog.tables(conn, sorted({t["schema"] for t in manifest["tables"]})))
        for t in manifest["tables"]:
            if (t["schema"], t["table"]) in present:
                found[f"{t['schema']}.{t['table']}"] = catalog.rows(conn, t["schema"], t["table"])
        for table in catalog.STORAGE_KEYS:
            if table in (manifest.get("storage") or {}):
                found[f"storage.{table}"] = catalog.storage_rows(conn, table, names.project)
    return found
