"""Restore a backup into its own project, or clone it into another project.

Everything happens in ONE transaction fed to psql: make room (the target's current
contents, its data and with `auth.mode: own` its user pool, are archived by its own archive
step and handed to the admin, or dropped when it holds no data), pg_restore's SQL for the
backup's schemas and public views, then the schemas take the target's names and the
restored objects the target's roles (read from the catalog, never by editing dump text),
the target's newer migrations as its owner, its own finalize SQL, its registry rows, and a
check of every table's row count against the manifest. A refused or failed restore
changes nothing.

The target must be a project of the stack (declared in config, `pulumi up` done) with the
backup's template and auth mode (users never move between user pools): its roles, grants
and keys are the ones Pulumi manages, and the restore keeps them.
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import psycopg
from psycopg import sql

from backup import archive, catalog, pgtools
from backup.dump import registration, role_kinds
from backup.errors import BackupError
from components.core import migrations as m
from components.core import project_description
from components.core.sql_templates import SQL_ROOT, TemplateRefused, render_named, render_text
from components.core.naming import OWN, SHARED, ProjectNames

DUMPS = ("schemas.dump",)
VIEW_OPTION = re.compile(r"^[a-z_]+=[a-z0-9_]+$")
PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"})
BUILTIN_TEMPLATES = SQL_ROOT / "projects"  # as components.core.config has it, without importing Pulumi
# GoTrue's record of its own migrations in the user pool: a fresh pool has rows there and no
# users, so these rows alone do not make a project "hold data".
AUTH_BOOKKEEPING = ("schema_migrations",)


@dataclass(frozen=True)
class Result:
    project: str
    source: str
    replaced: str  # "archived as <schema>[, its users as <schema>_auth]", "dropped (it held no data)"
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
        return _restore(dsn, backup, project, force, tools, templates_dir, when)


def clone(dsn: str, path: Path, project: str, *, force: bool = False, tools: Optional[pgtools.PgTools] = None,
          templates_dir: Optional[Path] = None, when: Optional[datetime] = None) -> Result:
    """Copy a backup of one project into another project of the same template."""
    with archive.opened(path) as backup:
        if backup.manifest["project"] == project:
            raise BackupError(f"{path} is a backup of {project!r} itself; use: python -m backup restore {project} {path}")
        return _restore(dsn, backup, project, force, tools, templates_dir, when)


def source_names(manifest: dict[str, Any]) -> ProjectNames:
    """The backed-up project's names. Backups from before auth modes were recorded had a user
    pool in the manifest only when the project had its own."""
    mode = manifest.get("auth_mode") or (OWN if manifest["schemas"].get("auth") else SHARED)
    return ProjectNames(manifest["project"], mode)


def _restore(dsn: str, backup: archive.OpenedBackup, project: str, force: bool,
             tools: Optional[pgtools.PgTools], templates_dir: Optional[Path], when: Optional[datetime]) -> Result:
    manifest = backup.manifest
    source = source_names(manifest)
    when = when or datetime.now(timezone.utc)
    with psycopg.connect(dsn, autocommit=True) as conn:
        tools = tools or pgtools.find(pgtools.server_major(conn.info.server_version))
        plan = _Plan(conn, backup, source, project, force, templates_dir, when)
        prologue, epilogue = plan.prologue(), plan.epilogue()
    _run(tools, dsn, prologue, [backup.file(name) for name in DUMPS if backup.has(name)], epilogue)
    warnings = list(plan.warnings)
    if plan.clone:
        with psycopg.connect(dsn, autocommit=True) as conn:
            warnings += _source_mentions(conn, source, plan.target)
    return Result(project, source.project, plan.replaced, sum(t["rows"] for t in manifest["tables"]), warnings)


class _Plan:
    """Every check before the transaction, and the SQL around pg_restore's."""

    def __init__(self, conn: psycopg.Connection, backup: archive.OpenedBackup, source: ProjectNames,
                 project: str, force: bool, templates_dir: Optional[Path], when: datetime):
        self.conn, self.backup, self.manifest = conn, backup, backup.manifest
        self.source, self.when = source, when
        self.warnings: list[str] = []
        self.clone = source.project != project
        self.target, self.template = self._target(project)
        self._check_auth_mode()
        self.has_auth = source.own_auth
        self._check_roles()
        self.admin = self._one("select current_user")  # psql logs in as this role too
        self.auth_admin_login = self.has_auth and bool(
            self._one("select rolcanlogin from pg_roles where rolname = %s", self.target.auth_admin))
        self.pending = self._pending_migrations(templates_dir)
        self.storage = self._storage()
        self.contents = self._target_contents()
        if self.contents and not force:
            raise BackupError(
                f"project {project!r} holds data ({', '.join(self.contents[:5])}"
                f"{', ...' if len(self.contents) > 5 else ''}); refused, nothing was changed. Pass --force to "
                f"replace it: its current contents are kept as archived schemas, not dropped")
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

    def _target(self, project: str) -> tuple[ProjectNames, str]:
        """The target's names in its registered auth mode, and its template (the backup's)."""
        found = registration(self.conn, project)
        if found is None:
            raise self._refuse(
                f"project {project!r} does not exist in this database: add it to the stack config "
                f"(template: {self.manifest['template']}) and run `pulumi up` first, so it has its own roles and keys")
        target, template = found
        if template != self.manifest["template"]:
            raise self._refuse(f"the backup is of template {self.manifest['template']!r}, project {project!r} "
                               f"is of template {template!r}")
        return target, template

    def _check_auth_mode(self) -> None:
        """Users live in one user pool: a backup restores only into a project of its auth mode."""
        s, t = self.source, self.target
        if s.auth_mode != t.auth_mode:
            raise self._refuse(
                f"the backup of {s.project!r} has auth mode {s.auth_mode!r} ({_users_of(s)}) and project "
                f"{t.project!r} has auth mode {t.auth_mode!r} ({_users_of(t)}): users cannot move between user pools, "
                f"so restore it into a project with `auth.mode: {s.auth_mode}`")
        if s.own_auth and not self.manifest["schemas"].get("auth"):
            raise self._refuse(f"the backup of {s.project!r} has auth mode {OWN!r} but holds no user pool")

    def _check_roles(self) -> None:
        wanted = {kind: getattr(self.target, kind) for kind in self.manifest["roles"]}
        present = {r for (r,) in self.conn.execute("select rolname from pg_roles where rolname = any(%s)",
                                                   (list(wanted.values()),))}
        missing = [f"{role} (for {self.manifest['roles'][kind]})" for kind, role in wanted.items() if role not in present]
        if missing:
            raise self._refuse(f"project {self.target.project!r} lacks role(s) {', '.join(missing)} that the backup's "
                               "objects need: run `pulumi up` for it first")

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
        context = m.project_context(self.target) | {"template": self.template}
        try:
            return [{"version": v, "filename": found[v].filename, "checksum": found[v].checksum,
                     "sql": render_text(found[v].source, found[v].folder, **context)} for v in newer]
        except TemplateRefused as err:
            raise self._refuse(f"template {self.template!r}: {err}") from None

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

    @property
    def _target_schemas(self) -> list[str]:
        """What the restore replaces: the target's schema and, with its own users, its user pool."""
        return [self.target.schema] + ([self.target.auth_schema] if self.has_auth else [])

    @property
    def _bookkeeping(self) -> list[str]:
        return [f"{self.target.auth_schema}.{t}" for t in AUTH_BOOKKEEPING] if self.has_auth else []

    def _target_contents(self) -> list[str]:
        """Non-empty tables (and storage rows) that a restore would replace."""
        full = catalog.filled_tables(self.conn, self._target_schemas, self._bookkeeping)
        if self.storage and self._one("select exists (select from storage.buckets where starts_with(id, %s))",
                                      f"{self.target.project}-"):
            full.append("storage buckets")
        return full

    # -- the SQL ---------------------------------------------------------------------

    @property
    def replaced(self) -> str:
        if not self.contents:
            return "dropped (it held no data)"
        names = self._archived_names
        users = f", its users as {names['archived_auth_schema']}" if self.has_auth else ""
        return f"archived as {names['archived_schema']}{users}"

    @functools.cached_property
    def _archived_names(self) -> dict[str, str]:
        """The archive names `onDelete: archive` would give the target now (data and user pool)."""
        return m.archive_names(self.conn, self.target.project, self.when)

    def prologue(self) -> str:
        """The target's own archive step (or drop step, when it holds no data), as `pulumi up` renders it."""
        t, s = self.target, self.source
        if self.contents:
            archive_sql = "\n".join(render_named(step, **(m.project_context(t) | self._archived_names))
                                    for step in m.MAKE_ROOM_ARCHIVE_STEPS)
            archive_sql += "\n" + self._hand_over_sql()
        else:
            archive_sql = "\n".join(render_named(step, **m.project_context(t)) for step in m.MAKE_ROOM_DROP_STEPS)
        return render_named(
            "backup/restore_prologue.sql.j2", lock_key=m.LOCK_KEY, archive_sql=archive_sql,
            empty_schemas=[] if self.contents else self._target_schemas, bookkeeping=self._bookkeeping,
            temporary_roles=self.temporary_roles, hold_schema=self.hold_schema, source_schema=s.schema,
            hold_auth=self.hold_auth, source_auth=s.auth_schema)

    def _role(self, name: str) -> bool:
        return bool(self._one("select true from pg_roles where rolname = %s", name))

    @functools.cached_property
    def _published(self) -> list[str]:
        """The target's tables in the Realtime publication: the restored ones take their place."""
        return [r for (r,) in self.conn.execute(project_description.PUBLISHED_QUERY, {"schema": self.target.schema})]

    def _public_views(self, schema: str) -> list[str]:
        return [r for (r,) in self.conn.execute(
            "select c.relname from supabase_multi.public_views_of(%s) v join pg_class c on c.oid = v.oid", (schema,))]

    def epilogue(self) -> str:
        t, s = self.target, self.source
        views = [v["name"] for v in self.manifest.get("public_views") or []]
        renames = [(v, t.project + v[len(s.project):] if v.startswith(s.project + "_") else v) for v in views]
        context = m.project_context(t) | {"template": self.template}
        return render_named(
            "backup/restore_epilogue.sql.j2", **context,
            views_sql=self._views_sql(), source_schema=s.schema, target_schema=t.schema,
            source_auth=s.auth_schema if self.has_auth else None, target_auth=t.auth_schema,
            view_renames=renames if self.clone else [],
            remap_sql=self._remap_sql([new for _, new in renames]) if self.clone else "",
            temporary_roles=self.temporary_roles, hold_schema=self.hold_schema, hold_auth=self.hold_auth,
            source_views=self.source_views, migrations=self.manifest["migrations"], pending=self.pending,
            owner_grants_sql=render_named("projects/_owner_grants.sql.j2", **context),
            owner_runner_sql=render_named("projects/_owner_runner.sql.j2", **context) if self.pending else "",
            finalize_sql=render_named("projects/_finalize.sql.j2", **context),
            realtime_sql=render_named("projects/_realtime.sql.j2",
                                      **m.finishing_context(t, self.template, published=self._published)),
            auth_admin_login=self.auth_admin_login,
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
        pairs = [(role, getattr(self.target, kind)) for kind, role in self.manifest["roles"].items()
                 if role != getattr(self.target, kind)]  # a role mapped onto itself keeps its grants
        return render_named("backup/remap_roles.sql.j2", source_roles=[a for a, _ in pairs],
                            target_roles=[b for _, b in pairs], schemas=self._target_schemas, views=views,
                            failure="the restored objects still name the source project's roles")

    def _hand_over_sql(self) -> str:
        """The archived contents pass from the project's live roles to the admin, as `onDelete:
        archive` leaves them when it drops the roles: the project's template files (run as its
        owner) and its GoTrue (its pool's owner) keep no hold on the replaced data."""
        live = [getattr(self.target, kind) for kind in role_kinds(self.target)]
        archived = [self._archived_names["archived_schema"]] + (
            [self._archived_names["archived_auth_schema"]] if self.has_auth else [])
        return render_named("backup/remap_roles.sql.j2", source_roles=live, target_roles=[self.admin] * len(live),
                            schemas=archived, views=[], failure="the archived contents still name the project's roles")

    def _storage_sql(self) -> str:
        if not self.storage:
            return ""
        part = {t: {"columns": p["columns"], "path": str(self.backup.file(p["file"]))} for t, p in self.storage.items()}
        return render_named("backup/restore_storage.sql.j2", buckets=part["buckets"],
                            objects=None if self.clone else part["objects"],
                            source_prefix=f"{self.source.project}-", target_prefix=f"{self.target.project}-",
                            target_schema=self.target.schema)

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
    """Function bodies are text: in a clone they still name the source's schemas. Say which."""
    schemas = [source.schema] + ([source.auth_schema] if source.own_auth else [])
    found = []
    for schema in schemas:
        rows = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
            "where n.nspname = any(%s) and (p.prosrc ~ %s or array_to_string(p.proconfig, ',') ~ %s) order by 1",
            ([target.schema, target.auth_schema] if target.own_auth else [target.schema],
             rf"\m{schema}\s*\.", rf"\m{schema}\M")).fetchall()
        found += [f"function {f} mentions schema {schema!r} in its body or settings: it still reads the "
                  "source project's objects (which the clone's roles cannot access); fix it in the clone" for (f,) in rows]
    return found


def _users_of(names: ProjectNames) -> str:
    return f"its users in schema {names.auth_schema!r}" if names.own_auth else "the stack's shared users"
