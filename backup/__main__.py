"""python -m backup: dump, restore and clone one project; list, verify; the scheduled service.

    python -m backup dump blog                      # -> $BACKUP_DIR/blog/blog-<UTC stamp>.tar
    python -m backup restore blog FILE [--force]    # the backup of blog, back into blog
    python -m backup clone FILE blog_copy [--force] # a backup of blog into project blog_copy
    python -m backup list [blog] | verify FILE | projects | run-once | schedule
    python -m backup upgrade-major --target-dsn URL --work DIR   # Postgres major upgrade (README)
    python -m backup move blog --from-dsn URL --to-dsn URL       # to another cell (docs/cells.md)

The database comes from --dsn or DATABASE_URL (`pulumi stack output databaseUrl --show-secrets`);
pg_dump/pg_restore/psql of the server's major version from --pg-bin, PG_BIN or the system.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional

from backup.errors import BackupError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"),
                        help="the stack's admin connection URL (default: $DATABASE_URL)")
    parser.add_argument("--pg-bin", default=os.environ.get("PG_BIN"),
                        help="folder of pg_dump, pg_restore and psql of the server's major version")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("BACKUP_DIR", "backups")),
                        help="where backups are written and listed (default: $BACKUP_DIR or ./backups)")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="back up one project (or --all)")
    d.add_argument("project", nargs="?")
    d.add_argument("--all", action="store_true", help="every active project")
    for name, helptext in (("restore", "restore a backup into its own project"),
                           ("clone", "copy a backup into another project of the same template")):
        r = sub.add_parser(name, help=helptext)
        if name == "restore":
            r.add_argument("project")
            r.add_argument("file", type=Path)
        else:
            r.add_argument("file", type=Path)
            r.add_argument("project", help="the target project (declared in the stack, `pulumi up` done)")
        r.add_argument("--force", action="store_true",
                       help="replace a target that holds data (its current contents are archived, not dropped)")
        r.add_argument("--templates-dir", type=Path, help="the stack's templatesDir, for a template of your own")
    ls = sub.add_parser("list", help="backups in --dir")
    ls.add_argument("project", nargs="?")
    v = sub.add_parser("verify", help="check a backup file completely (manifest, checksums)")
    v.add_argument("file", type=Path)
    sub.add_parser("projects", help="the stack's active projects")
    u = sub.add_parser("upgrade-major", help="copy the whole database into a new, empty cluster of a newer "
                       "major, verified (resumable: run it again after a failure)")
    u.add_argument("--target-dsn", required=True, help="superuser URL of the new cluster (the new image, new volume)")
    u.add_argument("--work", type=Path, required=True, help="folder for the backups, the dump and state.json")
    u.add_argument("--target-pg-bin", help="folder of pg_dumpall and psql of the new major (the new image's)")
    mv = sub.add_parser("move", help="copy one project from this cell's database into another cell's, where "
                        "`pulumi up` made it with the source's keys.seeds; verified; the source is only read")
    mv.add_argument("project")
    mv.add_argument("--from-dsn", help="the source cell's admin URL (default: --dsn or $DATABASE_URL)")
    mv.add_argument("--to-dsn", required=True, help="the target cell's admin URL (its databaseUrl output)")
    mv.add_argument("--to-pg-bin", help="pg_restore and psql of the target server's major (default: --pg-bin)")
    mv.add_argument("--force", action="store_true",
                    help="replace a target that already holds data (archived there, not dropped)")
    mv.add_argument("--templates-dir", type=Path, help="the stack's templatesDir, for a template of your own")
    sub.add_parser("run-once", help="one scheduled round now: every project, retention, S3 (env settings)")
    sub.add_parser("schedule", help="the backup service: rounds on BACKUP_SCHEDULE, forever")
    return parser


def _dsn(args: argparse.Namespace) -> str:
    if not args.dsn:
        raise BackupError("no database: pass --dsn or set DATABASE_URL "
                          "(export DATABASE_URL=\"$(pulumi stack output databaseUrl --show-secrets)\")")
    return args.dsn


def _tools(args: argparse.Namespace, dsn: str):
    import psycopg

    from backup import pgtools

    with psycopg.connect(dsn) as conn:
        return pgtools.find(pgtools.server_major(conn.info.server_version), args.pg_bin)


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except BackupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from backup import archive, retention, schedule

    if args.command == "verify":
        manifest = archive.read_manifest(args.file)
        print(f"{args.file}: ok, project {manifest['project']} (template {manifest['template']}), "
              f"{sum(t['rows'] for t in manifest['tables'])} rows, taken {manifest['created_at']}")
        return 0
    if args.command == "list":
        names = [args.project] if args.project else sorted(p.name for p in args.dir.iterdir() if p.is_dir()) \
            if args.dir.is_dir() else []
        for name in names:
            for path in retention.backups_of(args.dir, name):
                print(f"{path}\t{path.stat().st_size}")
        return 0
    if args.command in ("schedule", "run-once"):
        settings = schedule.Settings.from_env()
        if args.command == "schedule":
            schedule.loop(settings)
        failures = schedule.run_once(settings, tools=_tools(args, settings.dsn))
        return 1 if failures else 0
    if args.command == "move":
        return _move(args)
    dsn = _dsn(args)
    if args.command == "projects":
        print("\n".join(schedule.projects(dsn)))
        return 0
    if args.command == "upgrade-major":
        return _upgrade_major(args, dsn)
    tools = _tools(args, dsn)
    if args.command == "dump":
        return _dump(args, dsn, tools)
    from backup import restore

    action = restore.restore if args.command == "restore" else restore.clone
    result = action(dsn, args.file, args.project, force=args.force, tools=tools, templates_dir=args.templates_dir)
    print(f"restored {result.source} into {result.project}: {result.rows} rows; "
          f"its previous contents were {result.replaced}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _upgrade_major(args: argparse.Namespace, dsn: str) -> int:
    import psycopg

    from backup import major_upgrade, pgtools

    with psycopg.connect(args.target_dsn) as conn:
        tools = pgtools.find(pgtools.server_major(conn.info.server_version), args.target_pg_bin)

    def refuse_reset() -> None:
        raise BackupError("the new cluster holds a half-done restore: remove its volume, initialise it again "
                          "(README, \"Upgrading Postgres to a new major\") and run this again")

    result = major_upgrade.upgrade(major_upgrade.Plan(dsn, args.target_dsn, args.work, tools, tools, refuse_reset))
    print(f"PostgreSQL {result.source_major} -> {result.target_major}: {result.tables} tables, {result.rows} rows, "
          f"{result.roles} roles verified; project backups: {', '.join(result.backups) or 'none'}")
    return 0


def _move(args: argparse.Namespace) -> int:
    import psycopg

    from backup import move, pgtools

    source = args.from_dsn or _dsn(args)
    with psycopg.connect(args.to_dsn) as conn:
        to_tools = pgtools.find(pgtools.server_major(conn.info.server_version), args.to_pg_bin or args.pg_bin)
    result = move.move(source, args.to_dsn, args.project, args.dir, force=args.force,
                       from_tools=_tools(args, source), to_tools=to_tools, templates_dir=args.templates_dir)
    storage = ", ".join(f"{n} storage.{t} rows" for t, n in result.storage.items())
    print(f"moved {result.project}: {sum(result.rows.values())} rows in {len(result.rows)} tables, "
          f"{result.users} users{', ' + storage if storage else ''}; the same counts in the backup and the target "
          f"cell (backup kept: {result.backup}). The source cell still has it: remove it from that cell's config "
          "when the edge sends its hostname to the target cell (docs/cells.md)")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _dump(args: argparse.Namespace, dsn: str, tools) -> int:
    from backup import dump, schedule

    if bool(args.all) == bool(args.project):
        raise BackupError("name one project, or pass --all")
    for project in schedule.projects(dsn) if args.all else [args.project]:
        path = dump.dump(dsn, project, args.dir, tools=tools)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
