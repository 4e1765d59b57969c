"""The whole program's lifecycle under the real Pulumi engine (tests/stack_engine.py): `__main__.py`,
the real Pulumi.yaml and Pulumi.dev.yaml, every resource through the engine, the stand-in
provider plugins of tests/providers on PATH, and a real PostgreSQL.

One stack, in order, as an operator lives it: first `up` (an own-auth project, a
shared-auth one, one with buckets, published through Cloudflare so every provider runs);
`preview` is empty; a project added creates only its own resources; a new template migration
and a changed bucket update only the SQL steps (and the pages and the gateway's routes);
removals archive and drop; `refresh` finds no drift; an `up` whose CLI is SIGKILLed recovers as the README says; `destroy
--exclude-protected` keeps the data volumes. Each step asserts the engine's own step list
(its events) and what the database and the Docker record hold.

The tests share the module's stack and must run in file order (pytest's default).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import ProjectNames
from tests.stack_engine import (CLOUDFLARE, Operation, ProgramStack, child_pids, db_rows, end_orphans, kept_modules,
                                open_program, running_cli, tcp_postgres)

DOCKER_CLI = Path(__file__).parent / "providers" / "bin" / "docker"  # the stand-in docker CLI
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
    live = life.stack.standin / "containers" / "supabase-dev-kong" / "usr" / "local" / "kong" / "live.yml"
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
    # and the pages and the gateway's bucket map (a config push into the running Kong)
    assert {k for k in op.by_op("update") if k[1] not in ("dashboard-content", "gateway-routes")} == sql_steps, \
        sorted(op.changed())
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


def test_an_up_killed_half_way_recovers_with_cancel_then_up(life):
    """SIGKILL of the CLI while it adds two projects. The provider processes finish their
    in-flight steps after the CLI is gone, so the database holds what the state does not; the
    stack stays locked. README (Operating it, "An interrupted pulumi up"): `pulumi cancel`,
    `pulumi up` (the steps that were in flight run again and find their work done), then
    `pulumi refresh --clear-pending-creates` to drop the stale in-flight records."""
    stack = life.stack
    projects = [*life.projects, {"name": "alpha"}, {"name": "beta"}]
    stack.set("projects", projects)
    killed: dict[str, list[int]] = {}

    def kill_after_first_sql_step(event):
        outputs = event.res_outputs_event
        if killed or not outputs or not outputs.metadata.urn.endswith(("::alpha-sql", "::beta-sql")):
            return
        cli = running_cli()
        killed["plugins"] = child_pids(cli)
        os.kill(cli, signal.SIGKILL)

    try:
        with pytest.raises(auto.CommandError):
            stack.stack.up(on_event=kill_after_first_sql_step, color="never")
        assert killed, "the CLI was not killed half-way"
        pending = stack.checkpoint()["checkpoint"]["latest"].get("pending_operations") or []
        assert pending, "nothing was in flight when the CLI died"
        with pytest.raises(auto.CommandError, match="currently locked"):
            stack.up()
        stack.cli("cancel", "--yes")
        life.projects = projects
        op = _up_removing_orphan_containers(stack)
    finally:
        end_orphans(killed.get("plugins", []))
    assert all("alpha" in n or "beta" in n for n in names_of(op.by_op("create"))), sorted(op.by_op("create"))
    assert not op.by_op("delete") and not op.by_op("replace")
    # The `up` created again what was in flight, but the engine keeps the old pending-create
    # records (a later `up` warns about them) until a refresh clears them.
    assert stack.checkpoint()["checkpoint"]["latest"].get("pending_operations")
    refresh = stack.refresh(clear_pending_creates=True)
    assert set(refresh.summary) == {"same"}, refresh.summary
    assert not stack.checkpoint()["checkpoint"]["latest"].get("pending_operations")
    assert stack.preview().changed() == {}
    _state_and_world_agree(life)


def _up_removing_orphan_containers(stack):
    """`pulumi up`, and when it stops on a container the killed run created after the CLI died
    ("The container name ... is already in use"), `docker rm -f` of those names and `up` again:
    the README's step for it (a container holds no data; its volumes are kept)."""
    try:
        return stack.up()
    except auto.CommandError as err:
        orphans = sorted(set(re.findall(r'The container name "/([^"]+)" is already in use', str(err))))
        if not orphans:
            raise
    docker = subprocess.run([str(DOCKER_CLI), "rm", "-f", *orphans], env={**os.environ, **stack.env},
                            capture_output=True, text=True, check=True)
    assert docker.stdout.split() == orphans
    return stack.up()


def _state_and_world_agree(life):
    """Nothing lost, nothing doubled: every container, project role and SQL step in the state
    exists once in Docker and the database, and nothing there is missing from the state."""
    resources = life.stack.checkpoint()["checkpoint"]["latest"]["resources"]
    of = lambda typ: [r for r in resources if r["type"] == typ]  # noqa: E731
    containers = {r["outputs"]["name"]: r["id"] for r in of("docker:index/container:Container")}
    assert containers == {n: c["id"] for n, c in life.stack.docker()["containers"].items()}
    names = [p["name"] for p in life.projects]
    state_roles = {r["outputs"]["name"] for r in of("postgresql:index/role:Role")}
    live_roles = {r for (r,) in db_rows(life.dsn, "select rolname from pg_roles where rolname ~ %s",
                                        f"^(({'|'.join(names)})_|supabase_usage$)")}  # + the usage collector's
    assert state_roles == live_roles
    registry = [n for (n,) in db_rows(life.dsn, "select name from supabase_multi.projects where status = 'active' order by name")]
    assert registry == sorted(names)
    doubled = db_rows(life.dsn, "select scope, version, count(*) from supabase_multi.migrations "
                                "group by scope, version having count(*) > 1")
    assert doubled == []


def test_destroy_excluding_protected_keeps_the_data_volumes(life):
    protected = {r.get("outputs", {}).get("name") for r in life.stack.checkpoint()["checkpoint"]["latest"]["resources"]
                 if r.get("protect")}
    assert {"supabase-dev-db-data-17", "supabase-dev-db-config-17", "supabase-dev-storage-data"} <= protected
    op = life.stack.destroy(exclude_protected=True)
    assert op.by_op("delete") and not op.by_op("create")
    docker = life.stack.docker()
    assert set(docker["volumes"]) == protected  # only the data volumes stay, all of them
    assert docker["containers"] == {} and docker["networks"] == {}
    kept = {r["outputs"].get("name") for r in life.stack.checkpoint()["checkpoint"]["latest"]["resources"]
            if r.get("custom") and not r["type"].startswith("pulumi:providers:")}  # and their parent components
    assert kept == protected
    archived = {s for (s,) in db_rows(life.dsn, "select nspname from pg_namespace where nspname like '\\_archived\\_%%'")}
    for p in ("media", "notes", "alpha", "beta"):  # onDelete archive: the data stays
        assert any(s.startswith(f"_archived_{p}_") for s in archived), (p, archived)
