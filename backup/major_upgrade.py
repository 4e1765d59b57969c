"""One explicit, resumable PostgreSQL major upgrade of the stack's database (15 -> 17), by dump and restore.

Why dump and restore rather than pg_upgrade: upstream's utils/upgrade-pg17.sh (supabase/supabase)
runs pg_upgrade inside the old image with binaries copied out of the new one, because the two
images have different system users and libraries; a plain dump of the whole cluster read by the
new image's own tools needs neither, and never writes to the old data volume. The old volume
stays exactly as it was: a failure at any point leaves it usable, and a rollback is starting the
old image on it again (README, "Upgrading Postgres to a new major").

The phases, each recorded in `<work>/state.json` when it is done, so a second run resumes:

    backups      python -m backup's own dump of every active project (one archive each)
    fingerprint  every role and every table's rows (count and digest) and sequence of the old cluster
    dump         pg_dumpall of the old cluster (its checksum recorded: a damaged file is taken again)
    restore      the dump into the new, empty cluster (a half-done restore is reset first)
    verify       the new cluster's fingerprint equals the old one's, and every project's tables hold
                 the rows its backup counted; the old cluster is fingerprinted again: it must not
                 have changed meanwhile (the services are stopped during the upgrade)
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backup import dump as project_dump
from backup import archive, pgtools, schedule
from backup.errors import BackupError

PHASES = ("backups", "fingerprint", "dump", "restore", "verify")
# Extensions the PostgreSQL 17 images do not have (upstream's utils/upgrade-pg17.sh drops them
# before its pg_upgrade): the restore would fail on them, so the upgrade refuses to start.
INCOMPATIBLE_EXTENSIONS = ("timescaledb", "plv8", "plcoffee", "plls")
SKIPPED_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
STATE = "state.json"
TEXT_SETTINGS = ("set timezone = 'UTC'; set datestyle = 'ISO, MDY'; set intervalstyle = 'postgres'; "
                 "set extra_float_digits = 1; set bytea_output = 'hex'")
DUMP_FILE = "cluster.sql"


class UpgradeError(BackupError):
    """The upgrade stopped; the old cluster is untouched and `state.json` says where to resume."""


@dataclass
class Plan:
    source_dsn: str  # the running old cluster, as a superuser (the stack's supabase_admin)
    target_dsn: str  # the new cluster: initialised by the new image, never started with the stack
    work_dir: Path  # holds the backups, the dump and state.json; keep it until the upgrade is verified
    dump_tools: pgtools.PgTools  # pg_dumpall of the new major (the new image's), reading the old server
    restore_tools: pgtools.PgTools  # psql of the new major
    reset_target: Callable[[], None]  # make the new cluster empty again (after a half-done restore)
    before_phase: Callable[[str], None] = lambda phase: None  # a hook (the tests inject failures there)


@dataclass
class Result:
    source_major: int
    target_major: int
    backups: list[str]
    tables: int
    rows: int
    roles: int
    resumed_from: Optional[str] = None
    done: list[str] = field(default_factory=list)


def upgrade(plan: Plan) -> Result:
    """Run every phase not yet done; raise UpgradeError naming the phase that failed."""
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    state = _load(plan.work_dir)
    source_major, target_major = _major(plan.source_dsn), _major(plan.target_dsn)
    if target_major <= source_major:
        raise UpgradeError(f"the target runs PostgreSQL {target_major}, not newer than the source's {source_major}")
    state.setdefault("from", source_major)
    state.setdefault("to", target_major)
    if (state["from"], state["to"]) != (source_major, target_major):
        raise UpgradeError(f"{plan.work_dir / STATE} records an upgrade {state['from']} -> {state['to']}, not "
                           f"{source_major} -> {target_major}: use another --work folder")
    _refuse_incompatible_extensions(plan.source_dsn)
    resumed = next((p for p in PHASES if p not in state.get("done", [])), None) if state.get("done") else None
    for phase in PHASES:
        if phase in state.setdefault("done", []) and _still_valid(plan, state, phase):
            continue
        plan.before_phase(phase)
        try:
            PHASE_STEPS[phase](plan, state)
        except BackupError as err:
            raise UpgradeError(f"phase {phase} failed, the old cluster is untouched: {err}") from None
        except psycopg.Error as err:
            raise UpgradeError(f"phase {phase} failed, the old cluster is untouched: {err}") from None
        state["done"] = [p for p in state["done"] if p != phase] + [phase]
        _save(plan.work_dir, state)
    fp = state["fingerprint"]
    return Result(source_major, target_major, state["backups"], len(fp["tables"]),
                  sum(t["rows"] for t in fp["tables"].values()), len(fp["roles"]), resumed, list(state["done"]))


def _refuse_incompatible_extensions(source_dsn: str) -> None:
    found = []
    with psycopg.connect(_database(source_dsn, "postgres")) as conn:
        databases = [d for (d,) in conn.execute("select datname from pg_database where datallowconn and not datistemplate")]
    for database in databases:
        with psycopg.connect(_database(source_dsn, database)) as conn:
            found += [f"{database}: {e}" for (e,) in conn.execute(
                "select extname from pg_extension where extname = any(%s) order by 1", (list(INCOMPATIBLE_EXTENSIONS),))]
    if found:
        raise UpgradeError(f"extensions the new major's image does not have: {', '.join(found)}; drop them "
                           "(DROP EXTENSION ... CASCADE, after a backup) and run the upgrade again")


def _still_valid(plan: Plan, state: dict, phase: str) -> bool:
    """A recorded dump whose file is gone or changed is taken again (and everything after it)."""
    if phase == "dump":
        path = plan.work_dir / DUMP_FILE
        if not path.is_file() or _sha256(path) != state.get("dump_sha256"):
            state["done"] = [p for p in state["done"] if PHASES.index(p) < PHASES.index("dump")]
            return False
    return True


def _backups(plan: Plan, state: dict) -> None:
    out = plan.work_dir / "backups"
    state["backups"] = [str(project_dump.dump(plan.source_dsn, p, out, tools=_source_tools(plan)))
                        for p in schedule.projects(plan.source_dsn)]


def _source_tools(plan: Plan) -> pgtools.PgTools:
    """The backups are the stack's ordinary ones: pg_dump of the old server's major, when present."""
    try:
        return pgtools.find(_major(plan.source_dsn))
    except BackupError:
        return plan.dump_tools


def _fingerprint_phase(plan: Plan, state: dict) -> None:
    state["fingerprint"] = fingerprint(plan.source_dsn)


def _dump(plan: Plan, state: dict) -> None:
    path, partial = plan.work_dir / DUMP_FILE, plan.work_dir / (DUMP_FILE + ".partial")
    pgtools.run(plan.dump_tools, "pg_dumpall", ["--no-password", f"--file={partial}", "--database=postgres"],
                plan.source_dsn)
    partial.replace(path)
    state["dump_sha256"] = _sha256(path)
    state["done"] = [p for p in state.get("done", []) if PHASES.index(p) < PHASES.index("dump")]


def _restore(plan: Plan, state: dict) -> None:
    if state.get("restore_started") or _has_user_objects(plan.target_dsn):
        plan.reset_target()  # a restore that stopped half-way, or a target that is not empty
        if _has_user_objects(plan.target_dsn):
            raise BackupError("the target cluster is not empty after its reset; give an empty, new cluster")
    state["restore_started"] = True
    _save(plan.work_dir, state)
    bootstrap = _current_user(plan.target_dsn)
    result = subprocess.run(
        [plan.restore_tools.path("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=0", "-f", str(plan.work_dir / DUMP_FILE)],
        env=pgtools.libpq_env(_database(plan.target_dsn, "postgres")), capture_output=True, text=True)
    errors = [line for line in result.stderr.splitlines() if "ERROR:" in line
              and f'role "{bootstrap}" already exists' not in line]  # initdb made it; the dump re-creates it
    if result.returncode != 0 or errors:
        raise BackupError("the restore into the new cluster failed: " + "; ".join(errors[:5] or [result.stderr[-500:]]))
    state["restore_started"] = False


def _verify(plan: Plan, state: dict) -> None:
    before, after = state["fingerprint"], fingerprint(plan.target_dsn)
    if fingerprint(plan.source_dsn) != before:
        raise BackupError("the old cluster changed during the upgrade (were the services stopped?); run it again")
    problems = compare(before, after)
    database = conninfo_to_dict(plan.source_dsn).get("dbname", "postgres")
    for path in state["backups"]:
        manifest = archive.read_manifest(Path(path))
        for table in manifest["tables"]:
            key = f"{database}:{table['schema']}.{table['table']}"
            if after["tables"].get(key, {}).get("rows") != table["rows"]:
                problems.append(f"{key}: the backup of {manifest['project']} counted {table['rows']} rows")
    if problems:
        raise BackupError("the new cluster differs from the old one: " + "; ".join(problems[:10]))


PHASE_STEPS: dict[str, Callable[[Plan, dict], None]] = {
    "backups": _backups, "fingerprint": _fingerprint_phase, "dump": _dump, "restore": _restore, "verify": _verify}


def fingerprint(server_dsn: str) -> dict[str, Any]:
    """Roles (attributes, password hash, memberships) and, in every database, each table's row
    count and a digest of its rows' text, and each sequence's position."""
    with psycopg.connect(_database(server_dsn, "postgres")) as conn:
        roles = {name: list(rest) for name, *rest in conn.execute(
            "select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, "
            "rolbypassrls, rolconnlimit, coalesce(rolpassword, ''), coalesce((select string_agg("
            "coalesce(d.datname, '*') || ':' || s.setconfig::text, ',' order by 1) from pg_db_role_setting s "
            "left join pg_database d on d.oid = s.setdatabase where s.setrole = a.oid), '') "
            "from pg_authid a where rolname !~ '^pg_' order by 1")}
        members = [list(r) for r in conn.execute(
            "select r.rolname, m.rolname from pg_auth_members a join pg_roles r on r.oid = a.roleid "
            "join pg_roles m on m.oid = a.member where r.rolname !~ '^pg_' order by 1, 2")]
        databases = [d for (d,) in conn.execute(
            "select datname from pg_database where datallowconn and not datistemplate order by 1")]
    tables: dict[str, dict[str, Any]] = {}
    sequences: dict[str, list] = {}
    for database in databases:
        with psycopg.connect(_database(server_dsn, database)) as conn:
            conn.execute(TEXT_SETTINGS)  # rows as text read the same on both servers, whatever their defaults
            for kind, schema, name in conn.execute(
                    "select c.relkind, n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where c.relkind in ('r', 'S') and n.nspname <> all(%s) and n.nspname !~ '^pg_temp' order by 2, 3",
                    (list(SKIPPED_SCHEMAS),)):
                ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
                key = f"{database}:{schema}.{name}"
                if kind == "S":
                    sequences[key] = list(conn.execute(sql.SQL("select last_value, is_called from {}").format(ident)).fetchone())
                    continue
                count, digest = conn.execute(sql.SQL(
                    "select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from {} t"
                ).format(ident)).fetchone()
                tables[key] = {"rows": count, "md5": digest}
    return {"roles": roles, "members": members, "databases": databases, "tables": tables, "sequences": sequences}


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, one line each."""
    problems = []
    for part in ("roles", "tables", "sequences"):
        old, new = before[part], after[part]
        problems += [f"{part[:-1]} {k}: missing" for k in sorted(set(old) - set(new))]
        problems += [f"{part[:-1]} {k}: {old[k]} became {new[k]}" for k in sorted(set(old) & set(new)) if old[k] != new[k]]
    if before["members"] != after["members"]:
        problems.append("role memberships differ")
    if before["databases"] != after["databases"]:
        problems.append(f"databases {before['databases']} became {after['databases']}")
    return problems


def _has_user_objects(server_dsn: str) -> bool:
    with psycopg.connect(_database(server_dsn, "postgres")) as conn:
        extra_db = conn.execute("select count(*) from pg_database where datname not in "
                                "('postgres', 'template0', 'template1')").fetchone()[0]
        extra_roles = conn.execute("select count(*) from pg_roles where rolname !~ '^pg_' "
                                   "and rolname <> current_user").fetchone()[0]
        return bool(extra_db or extra_roles)


def _major(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return pgtools.server_major(conn.info.server_version)


def _current_user(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select current_user").fetchone()[0]


def _database(dsn: str, database: str) -> str:
    return make_conninfo(**(conninfo_to_dict(dsn) | {"dbname": database}))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(work_dir: Path) -> dict:
    path = work_dir / STATE
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(work_dir: Path, state: dict) -> None:
    tmp = work_dir / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(work_dir / STATE)
