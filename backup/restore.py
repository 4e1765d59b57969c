"""Restore a backup into its own project, or clone it into another project.

Everything happens in ONE transaction fed to psql: make room (the target's current
contents are archived, or dropped when it holds no data), pg_restore's SQL for the
backup's schemas and public views, then the schemas take the target's names and the
restored objects the target's roles (read from the catalog, never by editing dump text),
the target's own finalize SQL, its registry rows, and a check of every table's row count
against the manifest. A refused or failed restore changes nothing.

The target must be a project of the stack (declared in config, `pulumi up` done): its
roles, grants and keys are the ones Pulumi manages, and the restore keeps them.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import psycopg
from psycopg import sql

from backup import archive, pgtools
from backup.errors import BackupError
from components.core import migrations as m
from components.core.sql_templates import SQL_ROOT, render_named, render_text
from components.core.naming import ProjectNames

DUMPS = ("schemas.dump",)
VIEW_OPTION = re.compile(r"^[a-z_]+=[a-z0-9_]+$")
PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"})
BUILTIN_TEMPLATES = SQL_ROOT / "projects"  # as components.core.config has it, without importing Pulumi


@dataclass(frozen=True)
class Result:
    project: str
    source: str
    replaced: str  # "archived as <schema>", "dropped (it held no data)"
    rows: int
    warnings: list[str] = field(default_factory=list)


def restore(dsn: str, path: Path, project: str, *, force: bool = False, tools: Optional[pgtools.PgTools] = None,
            templates_dir: Optional[Path] = None, when: Optional[datetime] = None) -> Result:
    """Put a backup of `project` back into `project`."""
    with archive.opened(path) as backup:
        source = backup.manifest["project"]
        if source != project:
            raise BackupError(
                f"{path} is a backup of project {source!r}, not {project!r}; refused, nothing was changed. "
                f"To copy {source!r} into {project!r} use: python -m backup clone {path} {project}")
        return _restore(dsn, backup, ProjectNames(project), force, tools, templates_dir, when)


def clone(dsn: str, path: Path, project: str, *, force: bool = False, tools: Optional[pgtools.PgTools] = None,
          templates_dir: Optional[Path] = None, when: Optional[datetime] = None) -> Result:
    """Copy a backup of one project into another project of the same template."""
    with archive.opened(path) as backup:
        if backup.manifest["project"] == project:
            raise BackupError(f"{path} is a backup of {project!r} itself; use: python -m backup restore {project} {path}")
        return _restore(dsn, backup, ProjectNames(project), force, tools, templates_dir, when)


def _restore(dsn: str, backup: archive.OpenedBackup, target: ProjectNames, force: bool,
             tools: Optional[pgtools.PgTools], templates_dir: Optional[Path], when: Optional[datetime]) -> Result:
    manifest = backup.manifest
    source = ProjectNames(manifest["project"])
    when = when or datetime.now(timezone.utc)
    with psycopg.connect(dsn, autocommit=True) as conn:
        tools = tools or pgtools.find(pgtools.server_major(conn.info.server_version))
        plan = _Plan(conn, backup, source, target, force, templates_dir, when)
        prologue, epilogue = plan.prologue(), plan.epilogue()
    _run(tools, dsn, prologue, [backup.file(name) for name in DUMPS if backup.has(name)], epilogue)
    with psycopg.connect(dsn, autocommit=True) as conn:
        warnings = plan.warnings + _source_mentions(conn, source, target)
    return Result(target.project, source.project, plan.replaced, sum(t["rows"] for t in manifest["tables"]), warnings)


class _Plan:
    """Every check before the transaction, and the SQL around pg_restore's."""

    def __init__(self, conn: psycopg.Connection, backup: archive.OpenedBackup, source: ProjectNames,
                 target: ProjectNames, force: bool, templates_dir: Optional[Path], when: datetime):
        self.conn, self.backup, self.manifest = conn, backup, backup.manifest
        self.source, self.target, self.when = source, target, when
        self.warnings: list[str] = []
        self.clone = source.project != target.project
        self.template = self._target_template()
        self.has_auth = bool(self.manifest["schemas"].get("auth"))
        self._check_roles()
        self.pending = self._pending_migrations(templates_dir)
        self.storage = self._storage()
        self.contents = self._target_contents()
        if self.contents and not force:
            raise BackupError(
                f"project {target.project!r} holds data ({', '.join(self.contents[:5])}"
                f"{', ...' if len(self.contents) > 5 else ''}); refused, nothing was changed. Pass --force to "
                f"replace it: its current contents are kept as an archived schema, not dropped")
        # A clone restores under the source's names first: a live source steps aside meanwhile,
        # and source roles that no longer exist get stand-ins for the length of the transaction.
        self.temporary_roles = [r for r in self.manifest["roles"].values() if self.clone and not self._role(r)]
        self.hold_schema = _hold_name() if self.clone and self._exists(source.schema) else None
        self.hold_auth = _hold_name() if self.clone and self.has_auth and self._exists(source.auth_schema) else None
        self.source_views = self._public_views(source.schema) if self.hold_schema else []

    # -- checks ----------------------------------------------------------------------

    def _one(self, query: str, *params: Any) -> Any:
        row = self.conn.execute(query, params or None).fetchone()
        return row[0] if row else None

    def _exists(self, schema: str) -> bool:
        return bool(self._one("select true from pg_namespace where nspname = %s", schema))

    def _refuse(self, reason: str) -> BackupError:
        return BackupError(f"{reason}; refused, nothing was changed")

    def _target_template(self) -> str:
        t = self.target
        registered = not self._one("select to_regclass('supabase_multi.projects') is null")
        template = registered and self._one(
            "select template from supabase_multi.projects where schema_name = %s and status = 'active'", t.schema)
        if not template or not self._exists(t.schema):
            raise self._refuse(
                f"project {t.project!r} does not exist in this database: add it to the stack config "
                f"(template: {self.manifest['template']}) and run `pulumi up` first, so it has its own roles and keys")
        if template != self.manifest["template"]:
            raise self._refuse(f"the backup is of template {self.manifest['template']!r}, project {t.project!r} "
                               f"is of template {template!r}")
        return template

    def _check_roles(self) -> None:
        wanted = {kind: getattr(self.target, kind) for kind in self.manifest["roles"]}
        present = {r for (r,) in self.conn.execute("select rolname from pg_roles where rolname = any(%s)",
                                                   (list(wanted.values()),))}
        missing = [f"{role} (for {self.manifest['roles'][kind]})" for kind, role in wanted.items() if role not in present]
        if missing:
            raise self._refuse(f"project {self.target.project!r} lacks role(s) {', '.join(missing)} that the backup's "
                               "objects need (a project with its own auth restores only into one with its own auth)")

    def _pending_migrations(self, templates_dir: Optional[Path]) -> list[dict[str, Any]]:
        """The target's migrations newer than the backup, rendered; anything else that differs is refused."""
        applied = {v: (f, c) for v, f, c in self.conn.execute(
            "select version, filename, checksum from supabase_multi.migrations where scope = %s", (self.target.schema,))}
        for mig in self.manifest["migrations"]:
            if applied.get(mig["version"], (None, None))[1] != mig["checksum"]:
                raise self._refuse(
                    f"the backup has migration {mig['filename']} that project {self.target.project!r} has not applied "
                    f"(or applied differently): run `pulumi up` with the template version the backup was taken at")
        newer = sorted(set(applied) - {mig["version"] for mig in self.manifest["migrations"]})
        if not newer:
            return []
        folder = next((d / self.template for d in (templates_dir, BUILTIN_TEMPLATES) if d and (d / self.template).is_dir()), None)
        found = {mig.version: mig for mig in m.discover(folder)} if folder else {}
        if any(v not in found or found[v].checksum != applied[v][1] for v in newer):
            raise self._refuse(
                f"project {self.target.project!r} has migrations newer than the backup "
                f"({', '.join(applied[v][0] for v in newer)}); pass --templates-dir with the folder holding "
                f"template {self.template!r} as applied, so the restore can apply them after the backup's data")
        context = self.target.context() | {"template": self.template}
        return [{"version": v, "filename": found[v].filename, "checksum": found[v].checksum,
                 "sql": render_text(found[v].source, **context)} for v in newer]

    def _storage(self) -> Optional[dict[str, Any]]:
        stored = self.manifest.get("storage")
        if not stored:
            return None
        present = {t: [c for (c,) in self.conn.execute(
            "select attname from pg_attribute where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped",
            (f"storage.{t}",))] for t in ("buckets", "objects")}
        if not present["buckets"] or not present["objects"]:
            self.warnings.append("storage metadata not restored: this database has no storage schema")
            return None
        for table, part in stored.items():
            lacking = set(part["columns"]) - set(present[table])
            if lacking:
                raise self._refuse(f"storage.{table} here lacks column(s) {', '.join(sorted(lacking))} of the backup "
                                   "(an older Storage version?)")
        return stored

    def _target_contents(self) -> list[str]:
        """Non-empty tables (and storage rows) that a restore would replace."""
        schemas = [self.target.schema] + ([self.target.auth_schema] if self.has_auth else [])
        tables = self.conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = any(%s) and c.relkind in ('r', 'p') and not c.relispartition order by 1, 2",
            (schemas,)).fetchall()
        full = [f"{s}.{t}" for s, t in tables if self._one(sql.SQL("select exists (select from {}.{})").format(
            sql.Identifier(s), sql.Identifier(t)))]
        if self.storage and self._one("select exists (select from storage.buckets where starts_with(id, %s))",
                                      f"{self.target.project}-"):
            full.append("storage buckets")
        return full

    # -- the SQL ---------------------------------------------------------------------

    @property
    def replaced(self) -> str:
        return f"archived as {self._archived}" if self.contents else "dropped (it held no data)"

    @functools.cached_property
    def _archived_names(self) -> tuple[str, str]:
        """`_archived_<name>_<UTC stamp>` for the schema and the auth schema; a second later
        while a name is taken (two restores within one second)."""
        when = self.when
        while True:
            names = (m.archived_schema_name(self.target.project, when), m.archived_schema_name(self.target.auth_schema, when))
            if not any(self._exists(n) for n in names):
                return names
            when += timedelta(seconds=1)

    @property
    def _archived(self) -> str:
        return self._archived_names[0]

    def prologue(self) -> str:
        t, s = self.target, self.source
        context = t.context() | {"archived_schema": self._archived}
        archive_sql = render_named("projects/_archive.sql.j2" if self.contents else "projects/_drop.sql.j2", **context)
        target_auth_exists = self.has_auth and self._exists(t.auth_schema)
        drop_auth = target_auth_exists and not self.contents
        return render_named(
            "backup/restore_prologue.sql.j2", lock_key=m.LOCK_KEY, archive_sql=archive_sql,
            empty_schemas=[] if self.contents else [t.schema] + ([t.auth_schema] if target_auth_exists else []),
            archive_auth=self._archived_names[1] if target_auth_exists and self.contents else None,
            target_auth=t.auth_schema, temporary_roles=self.temporary_roles, hold_schema=self.hold_schema,
            source_schema=s.schema, hold_auth=self.hold_auth, source_auth=s.auth_schema,
        ) + (f"drop schema {sql.Identifier(t.auth_schema).as_string(None)} cascade;\n" if drop_auth else "")

    def _role(self, name: str) -> bool:
        return bool(self._one("select true from pg_roles where rolname = %s", name))

    def _public_views(self, schema: str) -> list[str]:
        return [r for (r,) in self.conn.execute(
            "select c.relname from supabase_multi.public_views_of(%s) v join pg_class c on c.oid = v.oid", (schema,))]

    def epilogue(self) -> str:
        t, s = self.target, self.source
        views = [v["name"] for v in self.manifest.get("public_views") or []]
        renames = [(v, t.project + v[len(s.project):] if v.startswith(s.project + "_") else v) for v in views]
        context = t.context() | {"template": self.template}
        return render_named(
            "backup/restore_epilogue.sql.j2",
            views_sql=self._views_sql(), source_schema=s.schema, target_schema=t.schema,
            source_auth=s.auth_schema if self.has_auth else None, target_auth=t.auth_schema,
            view_renames=renames if self.clone else [],
            remap_sql=self._remap_sql([new for _, new in renames]) if self.clone else "",
            temporary_roles=self.temporary_roles, hold_schema=self.hold_schema, hold_auth=self.hold_auth,
            source_views=self.source_views, migrations=self.manifest["migrations"], pending=self.pending,
            finalize_sql=render_named("projects/_finalize.sql.j2", **context),
            api_roles=t.api_roles(), default_privileges=t.default_privileges(),
            storage_sql=self._storage_sql(), expected_rows=json.dumps(self._expected_rows()),
        )

    def _views_sql(self) -> str:
        views = self.manifest.get("public_views") or []
        for v in views:
            if not all(VIEW_OPTION.match(o) for o in v["options"]) or not all(g[1] in PRIVILEGES for g in v["grants"]):
                raise self._refuse(f"the backup's view public.{v['name']} has options or grants this tool does not know")
        return render_named("backup/restore_views.sql.j2",
                            views=[v | {"definition": v["definition"].strip().rstrip(";")} for v in views])

    def _remap_sql(self, views: list[str]) -> str:
        kinds = list(self.manifest["roles"])
        schemas = [self.target.schema] + ([self.target.auth_schema] if self.has_auth else [])
        return render_named("backup/remap_roles.sql.j2", source_roles=[self.manifest["roles"][k] for k in kinds],
                            target_roles=[getattr(self.target, k) for k in kinds], schemas=schemas, views=views)

    def _storage_sql(self) -> str:
        if not self.storage:
            return ""
        part = {t: {"columns": p["columns"], "path": str(self.backup.file(p["file"]))} for t, p in self.storage.items()}
        return render_named("backup/restore_storage.sql.j2", buckets=part["buckets"],
                            objects=None if self.clone else part["objects"],
                            source_prefix=f"{self.source.project}-", target_prefix=f"{self.target.project}-")

    def _expected_rows(self) -> dict[str, int]:
        renamed = {self.source.schema: self.target.schema, self.source.auth_schema: self.target.auth_schema}
        return {f"{sql.Identifier(renamed[t['schema']]).as_string(None)}.{sql.Identifier(t['table']).as_string(None)}":
                t["rows"] for t in self.manifest["tables"]}


def _hold_name() -> str:
    """A schema name no one else uses, for the length of one transaction."""
    return f"_restore_hold_{uuid.uuid4().hex[:16]}"


def _run(tools: pgtools.PgTools, dsn: str, prologue: str, dumps: list[Path], epilogue: str) -> None:
    """prologue, pg_restore's SQL of each dump, epilogue, COMMIT: one psql session, one transaction."""
    env = pgtools.libpq_env(dsn)
    with tempfile.TemporaryFile() as psql_errors, tempfile.TemporaryFile() as restore_errors:
        psql = subprocess.Popen([tools.path("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_errors, env=env)
        assert psql.stdin is not None
        try:
            psql.stdin.write(b"begin;\n" + prologue.encode())
            for dump in dumps:
                _stream_restore(tools, dump, psql.stdin, restore_errors, env)
            psql.stdin.write(epilogue.encode() + b"\ncommit;\n")
            psql.stdin.close()
        except (BrokenPipeError, BackupError) as err:
            psql.kill()  # no COMMIT was sent: the server rolls the transaction back
            psql.wait()
            detail = _tail(psql_errors) or str(err)
            raise BackupError(f"restore failed and was rolled back, nothing was changed: {detail}") from None
        if psql.wait() != 0:
            raise BackupError(f"restore failed and was rolled back, nothing was changed: {_tail(psql_errors)}")


def _stream_restore(tools: pgtools.PgTools, dump: Path, sink, errors, env: dict[str, str]) -> None:
    restore = subprocess.Popen([tools.path("pg_restore"), "--file=-", str(dump)],
                               stdout=subprocess.PIPE, stderr=errors, env=env)
    assert restore.stdout is not None
    shutil.copyfileobj(restore.stdout, sink, 1 << 16)
    if restore.wait() != 0:
        raise BackupError(f"pg_restore could not read {dump.name}: {_tail(errors)}")


def _tail(stream, limit: int = 2000) -> str:
    stream.seek(0)
    lines = stream.read().decode(errors="replace").strip().splitlines()
    errors = [line for line in lines if "ERROR" in line or "DETAIL" in line or "FATAL" in line] or lines
    return "\n".join(errors)[-limit:]


def _source_mentions(conn: psycopg.Connection, source: ProjectNames, target: ProjectNames) -> list[str]:
    """Function bodies are text: in a clone they still name the source's schema. Say which."""
    if source.project == target.project:
        return []
    rows = conn.execute(
        "select p.oid::regprocedure::text from pg_proc p where p.pronamespace = %s::regnamespace "
        "and (p.prosrc ~ %s or array_to_string(p.proconfig, ',') ~ %s)",
        (target.schema, rf"\m{source.schema}\s*\.", rf"\m{source.schema}\M")).fetchall()
    return [f"function {f} mentions schema {source.schema!r} in its body or settings: it still reads the "
            "source project's objects (which the clone's roles cannot access); fix it in the clone" for (f,) in rows]
