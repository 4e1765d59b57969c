"""The dynamic providers' create/update/delete, called as the Pulumi engine calls them."""
from __future__ import annotations

import psycopg
import pytest

from components import migrations as m
from components.config import BUILTIN_TEMPLATES
from components.dynamic_base import changed_keys
from components.naming import ProjectNames
from components.sql_migrations import BootstrapProvider, ProjectMigrationsProvider, _portable
from components.sql_templates import SQL_ROOT
from tests import pg


def project_props(dsn: str, project: str, on_delete: str = "archive") -> dict:
    return {
        "project": project, "template": "blog", "template_dir": _portable(BUILTIN_TEMPLATES / "blog"),
        "migrations": m.plan_names(m.discover(BUILTIN_TEMPLATES / "blog")), "on_delete": on_delete, "dsn": dsn,
        "tables": None, "views": None,
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
    assert provider.update("crm", created.outs, project_props(db, "crm", on_delete)).outs["tables"] == created.outs["tables"]
    pg.provider_grant(db, names)
    pg.provider_revoke(db, names)
    provider.delete("crm", created.outs)
    with psycopg.connect(db) as conn:
        archived = conn.execute("select count(*) from pg_namespace where nspname like '\\_archived\\_crm\\_%'").fetchone()
    assert archived == ((1,) if schema_left else (0,))


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
    from components import service_schemas

    with psycopg.connect(db, autocommit=True) as conn:
        assert service_schemas.missing(conn) == []
        conn.execute("alter table realtime.messages rename to messages_later")
        conn.execute("drop publication supabase_realtime")
        assert service_schemas.missing(conn) == ["Realtime (realtime.messages)", "the supabase_realtime publication"]
        with pytest.raises(TimeoutError, match=r"still lacks what Realtime \(realtime\.messages\), the "
                                               r"supabase_realtime publication create\(s\) after 0 s"):
            service_schemas.wait_until_ready(conn, timeout=0)
