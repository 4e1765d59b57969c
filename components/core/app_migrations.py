"""A Supabase CLI folder (`projects[].supabaseDir`) as a project's migrations.

The CLI names each migration `<timestamp>_<name>.sql` and applies them in the order of
their timestamps; here each file is one recorded, checksummed migration like a template's
(an edited applied file is refused, a new one applied on the next `up`), its checksum
taken over the file as the app wrote it. Its statements are rewritten for the project on
the parse tree (components/core/app_sql_rewrite.py) before anything runs; what the owner
may not run goes to the superuser steps: buckets, Storage policies and published tables
join the project's own lists, triggers on its user pool run after the migrations that
declare them. `seed.sql` ([db.seed] of config.toml) runs once, when the project is created.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import psycopg
from psycopg import sql

from components.core import migrations
from components.core.app_sql_rewrite import AppSqlRefused, Rewritten, rewrite_file
from components.core.naming import ProjectNames
from components.core.sql_templates import render_named

MIGRATION_FILE = re.compile(r"([0-9]+)_(.*)\.sql")
RUNNER = "projects/_owner_runner.sql.j2"


def migration_files(folder: Path) -> list[tuple[int, Path]]:
    """`migrations/<timestamp>_<name>.sql` in the CLI's order; two files of one timestamp are refused."""
    found: dict[int, Path] = {}
    where = Path(folder) / "migrations"
    for path in sorted(where.glob("*.sql")) if where.is_dir() else []:
        match = MIGRATION_FILE.fullmatch(path.name)
        if not match:
            raise migrations.MigrationError(f"{path}: Supabase CLI migrations are named <timestamp>_<name>.sql")
        version = int(match.group(1))
        if version in found:
            raise migrations.MigrationError(f"{path}: timestamp {version} is also {found[version].name}")
        found[version] = path
    return [(v, found[v]) for v in sorted(found)]


def discover(folder: Path) -> list[migrations.Migration]:
    """The app's migrations as written (what the resource records: versions and checksums)."""
    return [migrations.Migration(v, p.name, migrations.checksum(p.read_text()), p.read_text(), None, True)
            for v, p in migration_files(folder)]


@dataclass
class AppPlan:
    """One app for one project: its files rewritten, what goes to the superuser steps, its seed."""

    folder: Path
    names: ProjectNames
    files: list[tuple[migrations.Migration, Rewritten]] = field(default_factory=list)
    seed: Optional[Rewritten] = None
    seed_label: str = ""

    @property
    def migrations(self) -> list[migrations.Migration]:
        """What the owner runs: each file's rewritten statements, under the checksum of the file as written."""
        return [migrations.Migration(m.version, m.filename, m.checksum, ";\n".join(r.owner_sql) + ";\n"
                                     if r.owner_sql else "select 1;\n", None, True) for m, r in self.files]

    def routed(self, key: str) -> list[Any]:
        return [item for _, r in self.files for item in getattr(r, key)]

    @property
    def published(self) -> list[str]:
        return list(dict.fromkeys(self.routed("published")))

    @property
    def policies(self) -> list[dict[str, Any]]:
        return self.routed("policies")

    @property
    def buckets(self) -> list[dict[str, Any]]:
        return self.routed("buckets")

    def before_owner(self, conn: psycopg.Connection, names: ProjectNames) -> None:
        """The owner may reference its user pool's users (`references auth.users`), and name
        Storage's helper functions (`storage.foldername()` in an app's SQL function, checked when
        it is created) as the project's API roles may: usage on the schema, no table privilege."""
        if conn.execute("select pg_catalog.to_regnamespace('storage')").fetchone()[0] is not None:
            conn.execute(sql.SQL("grant usage on schema storage to {}").format(sql.Identifier(names.owner)))
        pool = f"{names.auth_schema}.users"
        if conn.execute("select pg_catalog.to_regclass(%s)", (pool,)).fetchone()[0] is not None:
            conn.execute(sql.SQL("grant usage on schema {} to {}; grant references on {}.users to {}").format(
                sql.Identifier(names.auth_schema), sql.Identifier(names.owner),
                sql.Identifier(names.auth_schema), sql.Identifier(names.owner)))

    def after_finishing(self, conn: psycopg.Connection, names: ProjectNames, done: Sequence[str],
                        created: bool) -> None:
        """Supabase's default privileges, the triggers of the files just applied, then the seed."""
        migrations._run(conn, "sql/projects/_app_privileges.sql.j2",
                        render_named("projects/_app_privileges.sql.j2", **names.context()))
        for m, rewritten in self.files:
            if m.filename in done:
                for statement in rewritten.triggers:
                    migrations._run(conn, f"{self.folder.name}/migrations/{m.filename}", statement)
        if created and self.seed is not None and self.seed.owner_sql:
            conn.execute(render_named(RUNNER, **names.context()))
            migrations._run_as_owner(conn, self.seed_label, ";\n".join(self.seed.owner_sql) + ";\n")
            conn.execute("drop function pg_temp.supabase_multi_run_as_owner(text)")
            conn.execute("reset role")


def plan(folder: Path, names: ProjectNames, seed_paths: Sequence[str] = ("./seed.sql",),
         seed: bool = True, extensions: Sequence[str] = ()) -> AppPlan:
    """Every file of the app rewritten for `names`; AppSqlRefused names each statement refused.
    `extensions`: the stack config's allowed extensions."""
    folder = Path(folder).resolve()
    found = AppPlan(folder, names)
    problems: list[str] = []
    for m in discover(folder):
        try:
            found.files.append((m, rewrite_file(f"{folder.name}/migrations/{m.filename}", m.source, names, extensions)))
        except AppSqlRefused as err:
            problems += err.problems
    if seed:
        texts = [(p, (folder / p).read_text()) for p in seed_paths if (folder / p).is_file()]
        label = ", ".join(f"{folder.name}/{Path(p).as_posix().lstrip('./')}" for p, _ in texts)
        try:
            if texts:
                found.seed = rewrite_file(label, "\n".join(t for _, t in texts), names, extensions)
                found.seed_label = label
        except AppSqlRefused as err:
            problems += err.problems
    if problems:
        raise AppSqlRefused(problems)
    return found
