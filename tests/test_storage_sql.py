"""Storage per project, on a real PostgreSQL with the storage schema of storage-api v1.44.2.

Buckets and policies come from the project's own SQL step (pg.create_project, the code
path of `pulumi up`); every request is Storage's own, as tests/storage_api.py emulates it
from the pinned source: the token's role and claims, set locally in a transaction.
"""
from __future__ import annotations

import psycopg
import pytest

from components.core import buckets as bucket_ids
from components.core import migrations as m
from components.core.config import BUILTIN_TEMPLATES
from tests import pg
from tests import storage_api as storage

ALPHA_BUCKETS = [{"name": "photos", "public": True, "fileSizeLimit": "1MB", "allowedMimeTypes": ["image/*"]},
                 {"name": "docs"}]
BETA_BUCKETS = [{"name": "photos", "public": True}, {"name": "secret"}]


def count(dsn: str, query: str, *params) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params or None).fetchone()[0]


@pytest.fixture
def stack(db):
    """Projects alpha and beta with two buckets each and one object in every bucket."""
    pg.bootstrap(db)
    a = pg.create_project(db, "alpha", buckets=ALPHA_BUCKETS)
    b = pg.create_project(db, "beta", buckets=BETA_BUCKETS)
    admin = storage.as_service_role()
    for bucket in ("alpha-photos", "alpha-docs", "beta-photos", "beta-secret"):
        assert storage.upload(db, admin, bucket, "seed/file.txt")
    return db, a, b


# -- buckets as code ------------------------------------------------------------------------


def test_buckets_are_created_with_their_settings(stack):
    dsn, *_ = stack
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select id, name, public, file_size_limit, allowed_mime_types from storage.buckets "
                            "order by id").fetchall()
    assert rows == [("alpha-docs", "alpha-docs", False, None, None),
                    ("alpha-photos", "alpha-photos", True, 1_000_000, ["image/*"]),
                    ("beta-photos", "beta-photos", True, None, None),
                    ("beta-secret", "beta-secret", False, None, None)]


def test_bucket_ids_never_collide_across_projects(db):
    """`a_b` + `c` and `a` + `b_c`: the first `-` ends the project name, which has none."""
    assert bucket_ids.bucket_id("a_b", "c") != bucket_ids.bucket_id("a", "b_c")
    pg.bootstrap(db)
    pg.create_project(db, "a_b", "empty", buckets=[{"name": "c"}])
    a = pg.create_project(db, "a", "empty", buckets=[{"name": "b_c"}, {"name": "b-c"}])
    assert storage.list_buckets(db, storage.key(a.service)) == ["a-b-c", "a-b_c"]
    assert storage.list_buckets(db, storage.key("a_b_service")) == ["a_b-c"]


def test_changed_settings_update_the_bucket(stack):
    dsn, a, _ = stack
    pg.apply(dsn, a, buckets=[{"name": "photos", "public": False, "fileSizeLimit": 2048}, *ALPHA_BUCKETS[1:]])
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select public, file_size_limit, allowed_mime_types from storage.buckets "
                            "where id = 'alpha-photos'").fetchone() == (False, 2048, None)


def test_an_empty_bucket_left_out_of_the_config_is_deleted(stack):
    dsn, a, _ = stack
    pg.apply(dsn, a, buckets=[*ALPHA_BUCKETS, {"name": "scratch"}])
    assert "alpha-scratch" in storage.list_buckets(dsn, storage.key(a.service))
    pg.apply(dsn, a, buckets=ALPHA_BUCKETS)
    assert storage.list_buckets(dsn, storage.key(a.service)) == ["alpha-docs", "alpha-photos"]


def test_a_bucket_with_objects_is_never_deleted_by_a_config_change(stack):
    dsn, a, _ = stack
    with pytest.raises(m.MigrationError, match=r"bucket alpha-docs was removed from projects\[\]\.storage\.buckets "
                                               r"of alpha but still holds 1 object\(s\); empty it first"):
        pg.apply(dsn, a, buckets=ALPHA_BUCKETS[:1])
    assert count(dsn, "select count(*) from storage.objects where bucket_id = 'alpha-docs'") == 1
    assert storage.list_buckets(dsn, storage.key(a.service)) == ["alpha-docs", "alpha-photos"]


# -- the service key ------------------------------------------------------------------------


def test_service_key_manages_its_own_buckets(stack):
    dsn, a, _ = stack
    key = storage.key(a.service)
    assert storage.list_buckets(dsn, key) == ["alpha-docs", "alpha-photos"]
    assert storage.upload(dsn, key, "alpha-docs", "reports/q1.pdf")
    assert storage.find_object(dsn, key, "alpha-docs", "reports/q1.pdf")
    assert storage.list_objects(dsn, key, "alpha-docs", "reports/") == ["q1.pdf"]
    assert storage.delete_objects(dsn, key, "alpha-docs", ["reports/q1.pdf"]) == 1


def test_service_key_is_denied_on_another_projects_buckets(stack):
    dsn, a, _ = stack
    key = storage.key(a.service)
    for bucket in ("beta-photos", "beta-secret"):
        assert not storage.can_upload(dsn, key, bucket, "x.txt")
        assert not storage.can_upload(dsn, key, bucket, "seed/file.txt", upsert=True)
        assert not storage.find_object(dsn, key, bucket, "seed/file.txt")
        assert storage.list_objects(dsn, key, bucket, "seed/") == []
        assert storage.delete_objects(dsn, key, bucket, ["seed/file.txt"]) == 0
    assert count(dsn, "select count(*) from storage.objects where bucket_id like 'beta-%'") == 2


def test_no_project_role_bypasses_row_level_security(stack):
    dsn, *_ = stack
    assert count(dsn, "select count(*) from pg_roles where rolname like 'alpha\\_%' and rolbypassrls") == 0


# -- anon keys and public buckets ---------------------------------------------------------


def test_anon_key_reads_its_public_bucket_only(stack):
    dsn, a, _ = stack
    key = storage.key(a.anon)
    assert storage.find_object(dsn, key, "alpha-photos", "seed/file.txt")
    assert storage.list_objects(dsn, key, "alpha-photos", "seed/") == ["file.txt"]
    assert not storage.find_object(dsn, key, "alpha-docs", "seed/file.txt")
    assert not storage.can_upload(dsn, key, "alpha-photos", "x.png")
    assert storage.delete_objects(dsn, key, "alpha-photos", ["seed/file.txt"]) == 0


def test_anon_key_cannot_read_another_projects_public_bucket(stack):
    dsn, a, _ = stack
    key = storage.key(a.anon)
    assert not storage.find_object(dsn, key, "beta-photos", "seed/file.txt")
    assert storage.list_objects(dsn, key, "beta-photos", "seed/") == []
    assert storage.list_buckets(dsn, key) == ["alpha-docs", "alpha-photos"]


def test_stack_anon_key_and_tokens_without_a_key_reach_no_project_bucket(stack):
    dsn, *_ = stack
    for token in (storage.key("anon"), None, storage.user_token("authenticated", pg.new_user_id())):
        assert storage.list_buckets(dsn, token) == []
        assert not storage.find_object(dsn, token, "alpha-photos", "seed/file.txt")
        assert not storage.can_upload(dsn, token, "alpha-docs", "x.txt")


# -- signed-in users ----------------------------------------------------------------------


def test_user_writes_and_reads_only_their_own_folder(stack):
    dsn, a, _ = stack
    me, other = pg.new_user_id(), pg.new_user_id()
    mine, theirs = storage.user_token(a.authenticated, me), storage.user_token(a.authenticated, other)
    assert storage.upload(dsn, mine, "alpha-docs", f"{me}/cv.pdf")
    assert storage.upload(dsn, theirs, "alpha-docs", f"{other}/cv.pdf")
    assert storage.find_object(dsn, mine, "alpha-docs", f"{me}/cv.pdf")
    assert not storage.find_object(dsn, mine, "alpha-docs", f"{other}/cv.pdf")
    assert not storage.can_upload(dsn, mine, "alpha-docs", f"{other}/cv.pdf", upsert=True)
    assert not storage.can_upload(dsn, mine, "alpha-docs", "cv.pdf")
    assert storage.delete_objects(dsn, mine, "alpha-docs", [f"{other}/cv.pdf"]) == 0
    assert storage.list_objects(dsn, mine, "alpha-docs", "") == [me]
    assert storage.delete_objects(dsn, mine, "alpha-docs", [f"{me}/cv.pdf"]) == 1


def test_user_reads_public_buckets_of_their_project_only(stack):
    dsn, a, _ = stack
    token = storage.user_token(a.authenticated, pg.new_user_id())
    assert storage.find_object(dsn, token, "alpha-photos", "seed/file.txt")
    assert not storage.find_object(dsn, token, "beta-photos", "seed/file.txt")


def test_user_of_one_project_cannot_use_their_folder_in_another(stack):
    dsn, a, b = stack
    me = pg.new_user_id()
    assert storage.upload(dsn, storage.user_token(b.authenticated, me), "beta-secret", f"{me}/x.txt")
    token = storage.user_token(a.authenticated, me)
    assert not storage.can_upload(dsn, token, "beta-secret", f"{me}/y.txt")
    assert not storage.find_object(dsn, token, "beta-secret", f"{me}/x.txt")
    assert storage.delete_objects(dsn, token, "beta-secret", [f"{me}/x.txt"]) == 0


def test_buckets_themselves_are_config_only(stack):
    dsn, a, _ = stack
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        storage.update_bucket(dsn, storage.key(a.service), "alpha-photos")


def test_a_template_policy_cannot_open_another_projects_buckets(db, tmp_path):
    """Template SQL runs as the project's owner, which owns no storage table: a policy that would
    read every object is refused outright, and the other project's buckets stay closed."""
    (tmp_path / "0001_open.sql.j2").write_text(
        "create policy {{ (project ~ '_reads_everything') | ident }} on storage.objects\n"
        "    for select to {{ anon | ident }} using (true);\n")
    pg.bootstrap(db)
    pg.create_project(db, "beta", "empty", buckets=BETA_BUCKETS)
    a = pg.ProjectNames("alpha")
    pg.provider_create(db, a)
    with pytest.raises(pg.m.MigrationError, match="0001_open.sql.j2: permission denied"):
        pg.apply(db, a, "open", tmp_path, ALPHA_BUCKETS)
    pg.apply(db, a, "empty", buckets=ALPHA_BUCKETS)
    pg.provider_grant(db, a)
    admin = storage.as_service_role()
    for bucket in ("alpha-docs", "beta-secret"):
        assert storage.upload(db, admin, bucket, "f.txt")
    assert not storage.find_object(db, storage.key(a.anon), "beta-secret", "f.txt")


# -- removal ------------------------------------------------------------------------------


def test_archive_keeps_every_object_and_closes_the_buckets(stack):
    dsn, a, _ = stack
    key = storage.key(a.service)
    assert storage.upload(dsn, key, "alpha-docs", "kept.txt")
    pg.remove_project(dsn, a, "archive")
    assert count(dsn, "select count(*) from storage.objects where bucket_id like 'alpha-%'") == 3
    assert count(dsn, "select count(*) from storage.buckets where id like 'alpha-%'") == 2
    # A new project of the same name gets none of them back.
    again = pg.create_project(dsn, "alpha", "empty")
    assert storage.list_buckets(dsn, storage.key(again.service)) == []
    assert not storage.find_object(dsn, storage.key(again.service), "alpha-docs", "kept.txt")
    assert not storage.find_object(dsn, storage.key(again.anon), "alpha-photos", "seed/file.txt")


def test_archived_bucket_names_are_not_taken_over(stack):
    dsn, a, _ = stack
    pg.remove_project(dsn, a, "archive")
    names = pg.ProjectNames("alpha")
    pg.provider_create(dsn, names)
    with pytest.raises(m.MigrationError, match=r"bucket alpha-photos still belongs to the archived project "
                                               r"_archived_alpha_\d{14} \(its objects are kept\)"):
        pg.apply(dsn, names, buckets=ALPHA_BUCKETS)


def test_drop_deletes_the_buckets_and_their_objects(stack):
    dsn, a, _ = stack
    pg.remove_project(dsn, a, "drop")
    assert count(dsn, "select count(*) from storage.objects where bucket_id like 'alpha-%'") == 0
    assert count(dsn, "select count(*) from storage.buckets where id like 'alpha-%'") == 0
    assert count(dsn, "select count(*) from storage.objects where bucket_id like 'beta-%'") == 2
    assert count(dsn, "select count(*) from supabase_multi.buckets") == 2


def test_reapplying_changes_nothing(stack):
    dsn, a, _ = stack
    with psycopg.connect(dsn) as conn:
        before = conn.execute("select id, updated_at from storage.buckets order by id").fetchall()
        policies = conn.execute("select count(*) from pg_policy").fetchone()
    assert m.apply_project(dsn, a, "blog", m.discover(BUILTIN_TEMPLATES / "blog"),
                           buckets=pg.bucket_spec("alpha", ALPHA_BUCKETS)) == []
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select id, updated_at from storage.buckets order by id").fetchall() == before
        assert conn.execute("select count(*) from pg_policy").fetchone() == policies


# -- auth.mode: shared --------------------------------------------------------------------------

STACK_ROLE_GRANTS = [("storage.objects", "select"), ("storage.buckets", "select"), ("realtime.messages", "select")]


def stack_authenticated_grants(dsn: str) -> list[bool]:
    with psycopg.connect(dsn) as conn:
        grants = [conn.execute("select has_table_privilege('authenticated', %s, %s)", (t, p)).fetchone()[0]
                  for t, p in STACK_ROLE_GRANTS]
        return grants + [conn.execute("select has_schema_privilege('authenticated', %s, 'usage')", (s,)).fetchone()[0]
                         for s in ("storage", "realtime")]


@pytest.mark.parametrize("on_delete", ["archive", "drop"])
def test_removing_a_shared_auth_project_leaves_the_stacks_users_their_storage_and_realtime(db, on_delete):
    """A project with `auth.mode: shared` signs its users in as the stack's `authenticated`, whose
    Storage and Realtime grants are the images' own (every shared user's, Studio's): removing the
    project must revoke only what is the project's."""
    pg.bootstrap(db)
    before = stack_authenticated_grants(db)
    assert all(before)
    guests = pg.create_project(db, "guests", "empty", auth_mode="shared", buckets=[{"name": "files"}])
    pg.remove_project(db, guests, on_delete)
    assert stack_authenticated_grants(db) == before
