"""The Postgres major upgrade (backup/major_upgrade.py) on real servers of both majors: a stack's
database on PostgreSQL 15 with projects holding rows, users, buckets and keys, moved into a new
PostgreSQL 17 cluster and checked row for row; failures injected half-way leave the old
cluster as it was, and a second run resumes where the first stopped."""
from __future__ import annotations


import psycopg
import pytest

from backup import major_upgrade as mu
from backup import pgtools
from tests import pg, pg_majors
from tests._tools import in_ci
from tests.backup_projects import database_state, new_project, rows, seed

BUCKETS = [{"name": "avatars", "public": True}, {"name": "files", "fileSizeLimit": "1MB"}]


@pytest.fixture(scope="module", autouse=True)
def servers_installed():
    reason = pg_majors.missing()
    if reason:
        (pytest.fail if in_ci() else pytest.skip)(reason)


@pytest.fixture
def old():
    """A stack's database on 15: Supabase's roles and schemas, the registry, two seeded projects."""
    with pg_majors.cluster(15) as cluster:
        dsn = cluster.dsn
        pg.run(dsn, "create role postgres superuser login")  # the image's; supabase_admin bootstrapped the cluster
        pg.setup_cluster(dsn)
        pg.setup_database(dsn)
        pg.bootstrap(dsn, jwt_secret="s" * 40)
        for name in ("alpha", "beta"):
            new_project(dsn, name, buckets=BUCKETS)
            seed(dsn, name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("insert into storage.objects (bucket_id, name, metadata) values "
                         "('alpha-avatars', 'a/1.png', '{\"size\": 3}'), ('beta-files', 'x.txt', null)")
        yield cluster


@pytest.fixture
def new():
    with pg_majors.cluster(17) as cluster:
        yield cluster


def plan(old, new, work, **hooks) -> mu.Plan:
    tools = pgtools.find(15, str(pg_majors.BIN[15]))  # 17's npm build has no client tools (see README)
    return mu.Plan(old.dsn, new.dsn, work, dump_tools=tools, restore_tools=tools, reset_target=new.reset, **hooks)


def _without_maintain(owner: str, acl):
    acl = acl and acl.replace("xtm", "xt").replace("t*m*", "t*")
    return None if acl == f"{{{owner}=arwdDxt/{owner}}}" else acl  # the owner's default, stored as NULL


def everything(dsn: str) -> dict:
    """database_state (tests/backup_projects.py) with what 17 spells differently by design put
    the same way for both: MAINTAIN (`m`, new in 17) is part of an owner's ALL; a schema ACL equal
    to its owner's default is stored as NULL by the restore; 17's new predefined pg_* roles;
    policies name their roles (OIDs differ between clusters); temp schemas are per session."""
    state = database_state(dsn)
    state["schemas"] = [(n, o, None if acl == f"{{{o}=UC/{o}}}" else acl) for n, o, acl in state["schemas"]
                        if not n.startswith(("pg_temp_", "pg_toast_temp_"))]
    state["relations"] = [(n, o, _without_maintain(o, acl)) for n, o, acl in state["relations"]]
    state["roles"] = [r for r in state["roles"] if not r[0].startswith("pg_")]
    with psycopg.connect(dsn) as conn:
        state["policies"] = conn.execute("select schemaname, tablename, policyname, roles::text, cmd, qual, with_check "
                                         "from pg_policies order by 1, 2, 3").fetchall()
    state["rows"] = {s: rows(dsn, s) for s in ("alpha", "alpha_auth", "beta", "beta_auth", "storage",
                                               "supabase_multi")}
    return state


def test_an_upgrade_moves_every_row_user_bucket_and_key_to_17(old, new, tmp_path):
    before = everything(old.dsn)
    result = mu.upgrade(plan(old, new, tmp_path))
    assert (result.source_major, result.target_major) == (15, 17)
    assert len(result.backups) == 2 and result.done == list(mu.PHASES)
    with psycopg.connect(new.dsn) as conn:
        assert conn.info.server_version // 10000 == 17
        assert conn.execute("select count(*) from storage.buckets").fetchone()[0] == 4
        assert conn.execute("select count(*) from alpha_auth.users").fetchone()[0] == 3
    after = everything(new.dsn)
    assert after["rows"] == before["rows"]  # row for row: projects, user pools, buckets, objects, registry keys
    assert after == before  # schemas, owners, grants, policies, roles too
    assert mu.compare(mu.fingerprint(old.dsn), mu.fingerprint(new.dsn)) == []
    # A project's own roles still log in and see only their project, on the new server.
    with pg.request(new.dsn, "alpha_anon", "alpha") as conn:
        assert conn.execute("select count(*) from alpha.posts").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from beta.posts")


def test_a_failure_half_way_leaves_the_old_cluster_as_it_was_and_the_next_run_resumes(old, new, tmp_path):
    before = everything(old.dsn)
    seen = []

    def fail_at_verify(phase):
        seen.append(phase)
        if phase == "verify" and seen.count("verify") == 1:
            raise mu.UpgradeError("injected: the machine went down")

    with pytest.raises(mu.UpgradeError, match="injected"):
        mu.upgrade(plan(old, new, tmp_path, before_phase=fail_at_verify))
    assert everything(old.dsn) == before  # the old cluster was only read
    assert mu._load(tmp_path)["done"] == ["backups", "fingerprint", "dump", "restore"]
    result = mu.upgrade(plan(old, new, tmp_path, before_phase=fail_at_verify))
    assert result.resumed_from == "verify" and seen.count("backups") == 1  # nothing done twice
    assert everything(new.dsn)["rows"] == before["rows"]


def test_a_restore_that_breaks_mid_file_is_reset_and_redone_and_the_old_data_stays(old, new, tmp_path):
    before = everything(old.dsn)

    def truncate_the_dump(phase):
        if phase == "restore" and not (tmp_path / "broken").exists():
            (tmp_path / "broken").touch()
            dump_file = tmp_path / mu.DUMP_FILE
            text = dump_file.read_text()
            dump_file.write_text(text[: len(text) // 2] + "\nthis is not sql;\n")  # a disk that filled up

    with pytest.raises(mu.UpgradeError, match="phase restore failed"):
        mu.upgrade(plan(old, new, tmp_path, before_phase=truncate_the_dump))
    assert everything(old.dsn) == before
    with psycopg.connect(new.dsn) as conn:  # the new cluster holds half a stack
        assert conn.execute("select count(*) from pg_roles where rolname = 'alpha_owner'").fetchone()[0] == 1
    result = mu.upgrade(plan(old, new, tmp_path))  # the changed dump is taken again, the target reset
    assert result.done == list(mu.PHASES)
    assert everything(new.dsn) == before


def test_writes_during_the_upgrade_fail_the_verification(old, new, tmp_path):
    def write_meanwhile(phase):
        if phase == "verify":
            with psycopg.connect(old.dsn, autocommit=True) as conn:
                conn.execute("insert into alpha.posts (title, slug, user_id) select 'late', 'late', id from alpha.users limit 1")

    with pytest.raises(mu.UpgradeError, match="changed during the upgrade"):
        mu.upgrade(plan(old, new, tmp_path, before_phase=write_meanwhile))


def test_the_target_must_be_a_newer_major(old, tmp_path):
    with pg_majors.cluster(15) as same:
        with pytest.raises(mu.UpgradeError, match="not newer"):
            mu.upgrade(plan(old, same, tmp_path))


def test_an_extension_the_new_image_lacks_stops_the_upgrade_before_it_starts(old, new, tmp_path, monkeypatch):
    """Upstream's upgrade-pg17.sh drops timescaledb, plv8, plcoffee and plls first; here the
    upgrade names them and does nothing (pg_trgm stands in: Debian's 15 has none of those)."""
    monkeypatch.setattr(mu, "INCOMPATIBLE_EXTENSIONS", ("pg_trgm",))
    pg.run(old.dsn, "create extension pg_trgm")
    with pytest.raises(mu.UpgradeError, match="postgres: pg_trgm"):
        mu.upgrade(plan(old, new, tmp_path))
    assert not (tmp_path / mu.STATE).exists() and not (tmp_path / "backups").exists()


def test_servers_with_other_time_zones_still_compare_row_for_row(old, new, tmp_path):
    """A row's text depends on the session's TimeZone (timestamptz): the fingerprint reads both
    servers with the same settings, so an old server configured for another zone verifies."""
    with psycopg.connect(old.dsn, autocommit=True) as conn:
        conn.execute("alter system set timezone = 'Pacific/Auckland'")
        conn.execute("select pg_reload_conf()")
    assert mu.upgrade(plan(old, new, tmp_path)).done == list(mu.PHASES)


def test_the_command_wants_the_client_tools_of_the_new_major(old, new, tmp_path, capsys):
    """`python -m backup upgrade-major` dumps and restores with the new major's pg_dumpall and
    psql (the new image's, or postgresql-client-17): given 15's, it says so and does nothing."""
    from backup.__main__ import main

    code = main(["--dsn", old.dsn, "upgrade-major", "--target-dsn", new.dsn, "--work", str(tmp_path / "w"),
                 "--target-pg-bin", str(pg_majors.BIN[15])])
    assert code == 1 and "postgresql-client-17" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
