"""Ordered, checksummed SQL migrations over psycopg: the code path `pulumi up` runs.

Each step (create, update, archive, drop) is one transaction under one advisory lock:
it applies completely or not at all, and parallel project updates never interleave DDL.
The dynamic provider in `sql_migrations.py` only wraps these functions, so the tests
exercise exactly what a deployment does.

A project's template files run as the project's owner role, not as the superuser the
connection logs in as (sql/projects/_owner_runner.sql.j2); each file is then audited for
objects outside the project's schema. The superuser runs only the named steps that need
it: the registry, _owner_grants, _role_settings, _finalize (ownership, grants, NOTIFY),
_archive and _drop.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import psycopg

from components.core import service_schemas
from components.core.naming import AUTHENTICATOR, DEFAULT_STATEMENT_TIMEOUT, ProjectNames
from components.core.pg_pool import connect
from components.core.sql_templates import TemplateRefused, render_named, render_text

MIGRATION_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql\.j2")
STACK_SCOPE = "_stack"
LOCK_KEY = 0x5B3A_0001  # one lock for all registry/project DDL of this program
MAX_IDENTIFIER = 63
ARCHIVE_PREFIX = "_archived_"
ARCHIVE_STAMP = "%Y%m%d%H%M%S"
ARCHIVE_HASH = 8  # hex digits of the full name kept when a long name is shortened
POSTGREST_BASE_SCHEMAS = "public,storage,graphql_public"


class MigrationError(Exception):
    """A step failed and was rolled back; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    checksum: str
    source: str
    folder: Optional[Path] = None  # the only folder its {% include %} may read
    raw: bool = False  # an app's file, already rewritten on the parse tree: no Jinja


def discover(template_dir: Path) -> list[Migration]:
    """The template's migrations in order; refuses ambiguous or misnamed files."""
    migrations: dict[int, Migration] = {}
    for path in sorted(Path(template_dir).iterdir()):
        if path.name.startswith(("_", ".")) or not path.name.endswith(".sql.j2"):
            continue
        match = MIGRATION_FILE.fullmatch(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_lowercase_name.sql.j2")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path}: version {version:04d} is also {migrations[version].filename}")
        source = path.read_text()
        migrations[version] = Migration(version, path.name, checksum(source), source, Path(template_dir))
    if not migrations:
        raise MigrationError(f"{template_dir}: the template has no NNNN_name.sql.j2 migration")
    return [migrations[v] for v in sorted(migrations)]


def checksum(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _begin_locked(conn: psycopg.Connection, ensure_registry: bool = False) -> None:
    """Serialize all registry/project DDL; create the registry if this database lacks it.

    The superuser's own statements run with an empty search_path: nothing a template
    made can shadow a function or operator they call."""
    conn.execute("select pg_advisory_xact_lock(%s), set_config('search_path', '', true)", (LOCK_KEY,))
    # The newest registry column doubles as its version: older registries are upgraded in place.
    missing = conn.execute(
        "select not exists (select 1 from pg_catalog.pg_attribute"
        " where attrelid = pg_catalog.to_regclass('supabase_multi.projects') and attname = 'auth_mode')"
        " or not exists (select 1 from pg_catalog.pg_attribute where attrelid = pg_catalog.to_regclass("
        "'supabase_multi.migrations') and attname = 'version' and atttypid = 'pg_catalog.int8'::pg_catalog.regtype)"
    ).fetchone()[0]
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
    """The server's message and, when it can be told, the line of `text` that failed."""
    diag = err.diag
    position = diag.statement_position or (diag.internal_position if diag.internal_query == text else None)
    line = text[: int(position)].count("\n") + 1 if position else None
    statement = re.search(r'SQL statement "(.*?)"\n', (diag.context or "") + "\n", re.S)
    if line is None and statement and statement.group(1) in text:
        line = text[: text.index(statement.group(1))].count("\n") + 1
    return f"{diag.message_primary or err}{f' (line {line})' if line else ''}"


def _render(m: Migration, label: str, context: dict) -> str:
    if m.raw:
        return m.source
    try:
        return render_text(m.source, m.folder, **context)
    except TemplateRefused as err:
        raise MigrationError(f"{label}: {err}; nothing was applied") from None


def _record(conn: psycopg.Connection, scope: str, m: Migration) -> None:
    conn.execute(
        "insert into supabase_multi.migrations (scope, version, filename, checksum) values (%s, %s, %s, %s)",
        (scope, m.version, m.filename, m.checksum),
    )


def apply_bootstrap(dsn: str, migrations: list[Migration], where: str = "sql/bootstrap", jwt_secret: Optional[str] = None,
                    jwks: Optional[Sequence[dict[str, Any]]] = None, extensions: Sequence[str] = ()) -> list[str]:
    """The stack's own schema objects (this repository's sql/bootstrap, run as the superuser,
    each file once, in order): PostgREST's pre-config function, the schema-adoption guard,
    the Storage and Realtime registry functions, Realtime's private-only tenant guard, the
    registry of verifying keys. Then, in the same transaction, the stack's legacy JWT secret
    and its own public keys, checked by components/core/jwks_registry.py (None: leave them),
    and the extensions the stack config allows apps (components/core/extensions.py)."""
    context = {"authenticator": AUTHENTICATOR, "base_schemas": POSTGREST_BASE_SCHEMAS}
    with connect(dsn) as conn, conn.transaction():
        _begin_locked(conn, ensure_registry=True)
        done = []
        for m in pending(_applied(conn, STACK_SCOPE), migrations, where):
            label = f"{where}/{m.filename}"
            _run(conn, label, _render(m, label, context))
            _record(conn, STACK_SCOPE, m)
            done.append(m.filename)
        if extensions:
            from components.core.extensions import install

            install(conn, extensions)
        if jwt_secret is not None or jwks is not None:  # _run names the line, never echoes the secret
            _run(conn, "sql/stack/stack_jwt.sql.j2", render_named(
                "stack/stack_jwt.sql.j2", secret=jwt_secret, jwks_json=None if jwks is None else json.dumps(list(jwks))))
        return done


def apply_project(
    dsn: str, names: ProjectNames, template: str, migrations: list[Migration], where: Optional[str] = None,
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT, buckets: Sequence[dict[str, Any]] = (),
    published: Sequence[str] = (), policies: Sequence[dict[str, Any]] = (), jwks: Sequence[dict[str, Any]] = (),
    app: Optional[Any] = None,
) -> list[str]:
    """Create or update a project: new migrations as its owner, then the superuser's steps:
    role settings, ownership, grants, registry, its public signing keys (`jwks`: every live
    generation, checked by components/core/jwks_registry.py), its Storage buckets and policies,
    its Realtime policies and published tables, its template's own Storage and Realtime policies, NOTIFY.
    `buckets` is components/buckets.spec() of its config; `published` the tables its template
    publishes (components/template_files); `policies` its template's policies, built and checked
    by components/core/template_policies.py (which this module does not import: the backup
    image runs it without the SQL parser)."""
    where = where or f"sql/projects/{template}"
    context = project_context(names) | {"template": template}
    finishing = finishing_context(names, template, buckets, published, policies, jwks)
    with connect(dsn) as conn:
        service_schemas.wait_until_ready(conn)
        with conn.transaction():
            _begin_locked(conn)
            _refuse_identity_change(conn, names, template)
            _refuse_adoption(conn, names)
            created = not _applied(conn, names.schema)
            if app is not None:
                app.before_owner(conn, names)
            done = _apply_as_owner(conn, names, where, migrations, context)
            settings = {"roles": names.authenticator_members(), "statement_timeout": statement_timeout}
            _run(conn, "sql/projects/_role_settings.sql.j2", render_named("projects/_role_settings.sql.j2", **settings))
            for step in FINISHING_STEPS:
                _run(conn, f"sql/{step}", render_named(step, **finishing))
            if app is not None:  # components/core/app_migrations.py: its routed statements, its seed
                app.after_finishing(conn, names, done, created)
            return done


# After a create/update step's migrations, in this order, in the same transaction.
FINISHING_STEPS = ("projects/_finalize.sql.j2", "projects/_jwks.sql.j2", "projects/_storage.sql.j2",
                   "projects/_realtime.sql.j2", "projects/_template_policies.sql.j2", "projects/_auth_roles.sql.j2")
# Removing a project (onDelete archive or drop): its template policies and its keys go by
# the steps that manage them (project_context declares none).
_LEAVE = ("projects/_unpublish.sql.j2", "projects/_template_policies.sql.j2", "projects/_jwks.sql.j2",
          "projects/_leave_storage_realtime.sql.j2")
ARCHIVE_STEPS = (*_LEAVE, "projects/_archive.sql.j2")
DROP_STEPS = (*_LEAVE, "projects/_drop.sql.j2")
# Making room for a restore (backup/restore.py): the project lives on, so its Storage and
# Realtime grants, its registered API roles and its template's policies stay; only the
# contents put away leave the publication (the restore publishes the restored tables again).
MAKE_ROOM_ARCHIVE_STEPS = ("projects/_unpublish.sql.j2", "projects/_archive.sql.j2")
MAKE_ROOM_DROP_STEPS = ("projects/_unpublish.sql.j2", "projects/_drop.sql.j2")


def finishing_context(names: ProjectNames, template: str, buckets: Sequence[dict[str, Any]] = (),
                      published: Sequence[str] = (), policies: Sequence[dict[str, Any]] = (),
                      jwks: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """What FINISHING_STEPS see: the project's context plus its buckets, published tables,
    its template's policies and its public keys, as JSON."""
    return project_context(names) | {
        "template": template, "buckets_json": json.dumps(list(buckets)), "published_json": json.dumps(list(published)),
        "policies_json": json.dumps(list(policies)), "jwks_json": json.dumps(list(jwks))}


def project_context(names: ProjectNames) -> dict[str, Any]:
    """What sql/projects/_*.sql.j2 see: the template variables plus the roles' kinds, and no
    template policies and no keys (finishing_context gives the project's)."""
    return names.context() | {"api_role_kinds": names.api_role_kinds(), "policies_json": "[]", "jwks_json": "[]"}


def _apply_as_owner(conn: psycopg.Connection, names: ProjectNames, where: str, migrations: list[Migration],
                    context: dict) -> list[str]:
    """The new files as the owner role, one audit of what they made, then recorded; any
    refusal rolls all back."""
    todo = pending(_applied(conn, names.schema), migrations, where)
    if not todo:
        return []
    _run(conn, "sql/projects/_owner_grants.sql.j2", render_named("projects/_owner_grants.sql.j2", **context))
    conn.execute(render_named("projects/_owner_runner.sql.j2", **context))
    labels = [f"{where}/{m.filename}" for m in todo]
    for m, label in zip(todo, labels):
        _run_as_owner(conn, label, _render(m, label, context))
    conn.execute("drop function pg_temp.supabase_multi_run_as_owner(text)")
    # Settings the files made for the session (a read-only default, a tiny statement timeout)
    # end with them: the superuser's steps after them run with their own.
    conn.execute("reset all")
    conn.execute("select pg_catalog.set_config('search_path', '', true)")
    _refuse_foreign_objects(conn, ", ".join(labels), names)
    for m in todo:
        _record(conn, names.schema, m)
    return [m.filename for m in todo]


def _run_as_owner(conn: psycopg.Connection, label: str, text: str) -> None:
    """One file through the owner's runner (sql/projects/_owner_runner.sql.j2)."""
    try:
        conn.execute("select pg_temp.supabase_multi_run_as_owner(%s)", (text,))
    except psycopg.Error as err:
        raise MigrationError(f"{label}: {_explain(err, text)}; nothing was applied") from err


def _refuse_foreign_objects(conn: psycopg.Connection, label: str, names: ProjectNames) -> None:
    """A template may create objects in its schema and security_invoker public views over it only."""
    found = conn.execute("select kind, identity, reason from supabase_multi.foreign_objects_of(%s, %s)",
                         (names.schema, names.owner)).fetchall()
    if found:
        listed = "; ".join(f"{kind} {identity}: {reason}" for kind, identity, reason in found)
        raise MigrationError(
            f"{label}: a template may create objects only in schema {names.schema!r} (plus security_invoker "
            f"views in public over its tables); refused: {listed}; nothing was applied")


def _refuse_adoption(conn: psycopg.Connection, names: ProjectNames) -> None:
    """Defence in depth behind the event trigger of sql/bootstrap/0002: never take over a schema."""
    problem = conn.execute("select supabase_multi.adoption_problem(%s, %s, %s)",
                           (names.schema, names.project, names.owner)).fetchone()[0]
    if problem:
        raise MigrationError(
            f"project {names.project!r}: schema {names.schema!r} exists and is not recorded as this project's "
            f"in supabase_multi.projects ({problem}); refusing to adopt it. Choose another project name, or "
            "move the existing schema away first")


def _refuse_identity_change(conn: psycopg.Connection, names: ProjectNames, template: str) -> None:
    """A project keeps the template it was created from and its user pool (moving pools would
    strand its users): the registry row, read once, decides both."""
    row = conn.execute(
        "select template, auth_mode from supabase_multi.projects where schema_name = %s", (names.schema,)
    ).fetchone()
    if row and row[0] != template:
        raise MigrationError(
            f"project {names.project!r} was created from template {row[0]!r} and cannot switch to {template!r}; "
            "add a new project instead, or put the change in a new migration of its template"
        )
    if row and row[1] and row[1] != names.auth_mode:
        raise MigrationError(
            f"project {names.project!r} has auth mode {row[1]!r} and cannot switch to {names.auth_mode!r}: its "
            "users live in that user pool; back it up and create a new project instead"
        )


AUTH_ARCHIVE_SUFFIX = "_auth"


def archived_schema_name(project: str, when: datetime, suffix: str = "") -> str:
    """`_archived_<name>_<UTC timestamp><suffix>` within Postgres's 63 bytes. The auth schema's
    archive ends in `_auth`, after the timestamp: no project archive can end so.

    A name too long to keep whole keeps its start plus 8 hex digits of a hash of the whole
    name, so two long names that share a start never share an archive name."""
    stamp = when.astimezone(timezone.utc).strftime(ARCHIVE_STAMP)
    room = MAX_IDENTIFIER - len(ARCHIVE_PREFIX) - len(stamp) - 1 - len(suffix)
    if len(project) > room:
        digest = hashlib.sha256(project.encode()).hexdigest()[:ARCHIVE_HASH]
        project = f"{project[:room - ARCHIVE_HASH - 1]}_{digest}"
    return f"{ARCHIVE_PREFIX}{project}_{stamp}{suffix}"


def archive_names(conn: psycopg.Connection, project: str, when: datetime) -> dict[str, str]:
    """The context _archive.sql.j2 needs besides the project's names: the archive names of its
    data and its user pool for the first second from `when` on for which both are free. Unique
    by construction when the lookup and the renames happen under the advisory lock in one
    transaction (archive_project; a restore checks again in its own transaction)."""
    while True:
        found = {"archived_schema": archived_schema_name(project, when),
                 "archived_auth_schema": archived_schema_name(project, when, AUTH_ARCHIVE_SUFFIX)}
        if not any(_schema_exists(conn, name) for name in found.values()):
            return found
        when += timedelta(seconds=1)


def archive_project(dsn: str, names: ProjectNames, when: Optional[datetime] = None) -> str:
    """Unexpose and rename the schema; returns the archived schema's name. Data stays.

    The revokes, the renames and the registry update are one transaction: a rename that fails
    leaves every grant in place."""
    with connect(dsn) as conn, conn.transaction():
        _begin_locked(conn)
        if not _schema_exists(conn, names.schema):
            return ""
        context = project_context(names) | archive_names(conn, names.project, when or datetime.now(timezone.utc))
        for step in ARCHIVE_STEPS:
            _run(conn, f"sql/{step}", render_named(step, **context))
    return context["archived_schema"]


def drop_project(dsn: str, names: ProjectNames) -> None:
    """onDelete: drop. Schema, public views and registry rows go; roles go with their resources."""
    with connect(dsn) as conn, conn.transaction():
        _begin_locked(conn)
        if _schema_exists(conn, names.schema):
            for step in DROP_STEPS:
                _run(conn, f"sql/{step}", render_named(step, **project_context(names)))


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


def plan_names(migrations: Iterable[Migration]) -> list[dict]:
    """What the resource records in its inputs: enough to diff, no SQL text in state."""
    return [{"version": m.version, "filename": m.filename, "checksum": m.checksum} for m in migrations]
