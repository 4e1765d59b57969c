"""The dynamic providers' create/update/delete, called as the Pulumi engine calls them."""
from __future__ import annotations

import psycopg
import pytest

from components.core import migrations as m
from components.core import template_files
from components.core.config import BUILTIN_TEMPLATES
from components.providers.dynamic_base import changed_keys
from components.core.naming import ProjectNames
from components.providers.sql_migrations import BootstrapProvider, ProjectMigrationsProvider, _portable
from components.core.sql_templates import SQL_ROOT
from tests import pg


def project_props(dsn: str, project: str, on_delete: str = "archive") -> dict:
    return {
        "project": project, "auth_mode": "own", "template": "blog",
        "published_tables": list(template_files.published(BUILTIN_TEMPLATES / "blog")), "template_dir": _portable(BUILTIN_TEMPLATES / "blog"),
        "migrations": m.plan_names(m.discover(BUILTIN_TEMPLATES / "blog")), "on_delete": on_delete, "dsn": dsn,
        "statement_timeout": "8s", "tables": None, "views": None, "functions": None, "sequences": None,
    }


def bootstrap_props(dsn: str) -> dict:
    return {"dsn": dsn, "template_dir": _portable(SQL_ROOT / "bootstrap"),
            "migrations": m.plan_names(m.discover(SQL_ROOT / "bootstrap"))}


@pytest.mark.parametrize("on_delete, schema_left", [("archive", True), ("drop", False)])
def test_provider_lifecycle(db, on_delete, schema_left):
    BootstrapProvider().create(bootstrap_props(db))
    names = ProjectNames("crm")
    pg.provider_create(db, names)
    provider = ProjectMigrationsProvider()
    created = provider.create(project_props(db, "crm", on_delete))
    assert created.id == "crm"
    assert [t["name"] for t in created.outs["tables"]] == ["posts", "users"]
    assert [f["name"] for f in created.outs["functions"]] == ["set_updated_at()"]
    assert [s["name"] for s in created.outs["sequences"]] == []
    assert provider.update("crm", created.outs, project_props(db, "crm", on_delete)).outs["tables"] == created.outs["tables"]
    pg.provider_grant(db, names)
    provider.update("crm", created.outs, {**project_props(db, "crm", on_delete), "statement_timeout": "2s"})
    assert {r: pg.role_settings(db)[r] for r in names.api_roles()} == \
        {r: {"statement_timeout": "2s"} for r in names.api_roles()}
    pg.provider_revoke(db, names)
    provider.delete("crm", created.outs)
    with psycopg.connect(db) as conn:
        archived = [n for (n,) in conn.execute(
            "select nspname from pg_namespace where nspname like '\\_archived\\_crm\\_%' order by nspname")]
    # The project's schema and its user pool are archived together, or dropped together.
    assert len(archived) == (2 if schema_left else 0)
    assert not schema_left or archived[1] == archived[0] + "_auth"


def test_files_changed_since_preview_are_refused(db):
    BootstrapProvider().create(bootstrap_props(db))
    props = project_props(db, "crm")
    props["migrations"] = [{**props["migrations"][0], "checksum": "0" * 64}]
    with pytest.raises(m.MigrationError, match="changed between preview and update"):
        ProjectMigrationsProvider().create(props)


def test_diff_updates_on_new_migrations_and_replaces_on_rename():
    provider = ProjectMigrationsProvider()
    olds = {"project": "a", "migrations": [1], "dsn": "x", "tables": [{"name": "t"}], "__provider": "p1"}
    assert not provider.diff("a", olds, {**olds, "tables": None, "__provider": "p2"}).changes
    update = provider.diff("a", olds, {**olds, "migrations": [1, 2]})
    assert update.changes and not update.replaces
    assert provider.diff("a", olds, {**olds, "project": "b"}).replaces == ["project"]
    assert changed_keys({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == ["b", "c"]


def test_check_refuses_an_applied_migration_edited_or_removed_but_not_a_new_one():
    """What preview sees (tests/test_engine_sql_migrations.py runs it under the engine)."""
    provider = ProjectMigrationsProvider()
    olds = project_props("dsn", "crm")
    first = olds["migrations"][0]
    applied = olds["migrations"]
    later = {"version": applied[-1]["version"] + 1, "filename": "0099_more.sql.j2", "checksum": "1" * 64}
    added = {**olds, "migrations": [*applied, later]}
    assert provider.check(olds, added).failures == []
    assert provider.check({}, olds).failures == []  # a create: nothing applied yet
    assert provider.check(olds, {**olds, "template": "empty"}).failures == []  # refused by the update, with its reason
    edited = provider.check(olds, {**olds, "migrations": [{**first, "checksum": "0" * 64}, *applied[1:]]}).failures
    assert [f.reason.split(" (")[0] for f in edited] == [f"{olds['template_dir']}/{first['filename']} was changed after it was applied"]
    removed = provider.check(olds, {**olds, "migrations": added["migrations"][1:]}).failures
    assert "was applied but is no longer in the template" in removed[0].reason
    assert BootstrapProvider().check(bootstrap_props("dsn"), bootstrap_props("dsn")).failures == []
def test_provider_applies_buckets_and_reports_published_tables(db):
    BootstrapProvider().create(bootstrap_props(db))
    names = ProjectNames("crm")
    pg.provider_create(db, names)
    provider = ProjectMigrationsProvider()
    props = {**project_props(db, "crm"), "buckets": pg.bucket_spec("crm", [{"name": "files"}])}
    created = provider.create(props)
    assert created.outs["published"] == ["posts", "users"]
    more = {**props, "buckets": pg.bucket_spec("crm", [{"name": "files"}, {"name": "pics", "public": True}])}
    provider.update("crm", created.outs, more)
    with psycopg.connect(db) as conn:
        assert conn.execute("select id, public from storage.buckets order by id").fetchall() == [
            ("crm-files", False), ("crm-pics", True)]


def test_project_step_waits_for_storage_and_realtime_and_names_what_is_missing(db):
    from components.core import service_schemas

    with psycopg.connect(db, autocommit=True) as conn:
        assert service_schemas.missing(conn) == []
        conn.execute("alter table realtime.messages rename to messages_later")
        conn.execute("drop publication supabase_realtime")
        assert service_schemas.missing(conn) == ["Realtime (realtime.messages)", "the supabase_realtime publication"]
        with pytest.raises(TimeoutError, match=r"still lacks what Realtime \(realtime\.messages\), the "
                                               r"supabase_realtime publication create\(s\) after 0 s"):
            service_schemas.wait_until_ready(conn, timeout=0)
