"""Every dynamic provider of the program, fed what the real engine feeds it.

The inputs are the real program's: __main__.py under Pulumi mocks with a stack config whose
buckets set `fileSizeLimit` as a number of bytes and as a size. Each provider is then
driven through tests/dynamic_host.py, the mirror of the SDK's dynamic provider host, so
every input and output crosses the SDK's serialization and a protobuf Struct (numbers
become floats) before the provider sees it, as under `pulumi up`: check, create, a clean
diff, a changed input's diff and update, delete where the provider has one. Only the connection inputs are pointed at
the test's PostgreSQL; the SQL runs on it for real.

Issue 18: the project's SQL step failed with `invalid input syntax for type bigint:
"1048576.0"`; the password step failed on the port (`invalid integer value "5432.0"`);
the dashboard showed a bucket of 1 MB as having the stack's limit (its model takes only an
int). The program's dynamic resource types must all be listed in COVERED, so a new one
gets a test here before it can ship.
"""
from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import subprocess
import tarfile

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

import components
from components.core import docker_cli
from components.core.naming import ProjectNames
from components.providers import kong_config
from components.providers.dynamic_base import BaseProvider
from pulumi.dynamic import ResourceProvider
from tests import pg
from tests.dynamic_host import DynamicHost, wire
from tests.program import ProgramRun, run_program
from tests.stack_inputs import ALL_FEATURES, config_with

DYNAMIC = "pulumi-python:dynamic/supabase:"
PASSWORDS, BOOTSTRAP, PROJECT, KONG, CONTENT = (f"{DYNAMIC}{t}" for t in (
    "DatabasePasswords", "StackBootstrap", "ProjectMigrations", "KongConfig", "DashboardContent"))
COVERED = {PASSWORDS, BOOTSTRAP, PROJECT, KONG, CONTENT}
FILES = ProjectNames("files")
BUCKETS = [{"name": "exact", "fileSizeLimit": 1048576}, {"name": "units", "fileSizeLimit": "5MB", "public": True},
           {"name": "open"}]
PROJECTS = [{"name": "files", "template": "blog", "statementTimeout": "2s", "storage": {"buckets": BUCKETS}}]
OLD, NEW = "old-stack-password-0123456789", "new-stack-password-9876543210"


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    return run_program(config_with(features=ALL_FEATURES, projects=PROJECTS))


def inputs_of(run: ProgramRun, typ: str, **overrides) -> dict:
    """The one resource of `typ`: its inputs as the engine got them from the program."""
    (resource,) = run.of_type(typ)
    return {**resource.inputs, **overrides}


def rows(dsn: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params or None).fetchall()


def test_numbers_cross_the_wire_as_floats():
    """The premise: the SDK's own round trip hands a provider 1048576.0, not 1048576."""
    received = wire({"n": 1048576, "nested": [{"port": 5432}], "flag": True})
    assert received == {"n": 1048576, "nested": [{"port": 5432}], "flag": True}
    assert type(received["n"]) is float and type(received["nested"][0]["port"]) is float
    assert received["flag"] is True


def test_every_dynamic_resource_of_the_program_is_covered(program):
    assert {r.typ for r in program.resources if r.typ.startswith("pulumi-python:dynamic/")} == COVERED


def test_every_provider_inherits_the_normalizing_base():
    """A provider that bypassed BaseProvider would see the engine's floats again."""
    found = []
    for info in pkgutil.walk_packages(components.__path__, "components."):
        module = importlib.import_module(info.name)
        found += [c for _, c in inspect.getmembers(module, inspect.isclass)
                  if issubclass(c, ResourceProvider) and c.__module__ == module.__name__]
    assert len(found) >= 5, found  # not vacuous: the providers were found
    assert [c.__name__ for c in found if not issubclass(c, BaseProvider)] == []


@pytest.fixture(scope="module")
def password_server(tmp_path_factory) -> str:
    with pg.password_checking_server(tmp_path_factory.mktemp("pgpw"), OLD) as conninfo:
        yield conninfo


def logs_in(conninfo: str, password: str) -> bool:
    try:
        psycopg.connect(conninfo, user="authenticator", password=password, connect_timeout=5).close()
        return True
    except psycopg.OperationalError as err:
        assert "password authentication failed" in str(err), err
        return False


def test_database_passwords_under_the_engine(program, password_server):
    """The port arrives as 5432.0; the provider must still connect and set the password."""
    params = conninfo_to_dict(password_server)  # a socket folder, at libpq's default port
    connection = {"host": params["host"], "port": int(params.get("port") or 5432), "user": params["user"],
                  "database": params["dbname"], "internal_database": "_supabase"}
    host = DynamicHost()
    news = inputs_of(program, PASSWORDS, **connection, password=OLD)  # the volume's first password
    inputs, failures = host.check({}, news)
    assert failures == []
    created = host.create(inputs)
    assert created.id == "stack-role-passwords" and logs_in(password_server, OLD)

    checked, _ = host.check(inputs, news)
    assert host.diff(created.id, created.outputs, checked).changes is False
    rotated, _ = host.check(inputs, {**news, "password": NEW})  # postgresPassword changed
    found = host.diff(created.id, created.outputs, rotated)
    assert (found.changes, found.replaces) == (True, [])
    host.update(created.id, created.outputs, rotated)
    assert logs_in(password_server, NEW) and not logs_in(password_server, OLD)


def bucket_limits(dsn: str) -> list[tuple]:
    return rows(dsn, "select id, file_size_limit, public from storage.buckets where id like 'files-%' order by id")


def test_stack_and_project_sql_under_the_engine(program, db):
    """Buckets of 1048576 bytes and of "5MB" reach storage.buckets; an unchanged program
    diffs clean; a new limit is an in-place update; removal archives."""
    host = DynamicHost()
    boot, _ = host.check({}, inputs_of(program, BOOTSTRAP, dsn=db))
    host.create(boot)

    pg.provider_create(db, FILES)  # postgresql.Role and Schema run before the SQL resource
    news = inputs_of(program, PROJECT, dsn=db)
    assert [b.get("fileSizeLimit") for b in news["buckets"]] == [1048576, 5000000, None]
    inputs, failures = host.check({}, news)
    assert failures == []
    created = host.create(inputs)
    pg.provider_grant(db, FILES)
    assert created.id == "files"
    assert bucket_limits(db) == [("files-exact", 1048576, False), ("files-open", None, False),
                                 ("files-units", 5000000, True)]
    assert pg.role_settings(db)[FILES.anon]["statement_timeout"] == "2s"
    assert [t["name"] for t in created.outputs["tables"]] == ["posts", "users"]

    checked, failures = host.check(inputs, news)
    assert failures == [] and host.diff(created.id, created.outputs, checked).changes is False

    bigger = {**news, "buckets": [{**news["buckets"][0], "fileSizeLimit": 2097152}, *news["buckets"][1:]]}
    checked, _ = host.check(inputs, bigger)
    found = host.diff(created.id, created.outputs, checked)
    assert (found.changes, found.replaces) == (True, [])
    outputs = host.update(created.id, created.outputs, checked)
    assert bucket_limits(db)[0] == ("files-exact", 2097152, False)

    pg.provider_revoke(db, FILES)
    host.delete(created.id, outputs)
    pg.provider_delete(db, FILES)
    assert rows(db, "select status from supabase_multi.projects where name = 'files'") == [("archived",)]


def test_kong_config_under_the_engine(program, monkeypatch):
    """No numbers among its inputs today; the round trip still holds it to the same path."""
    pushed: dict[str, str] = {}
    monkeypatch.setattr(kong_config, "push", lambda container, text, host=None: pushed.__setitem__(container, text))
    monkeypatch.setattr(kong_config, "live_digest", lambda container, host=None: kong_config.digest(pushed.get(container, "")))
    host = DynamicHost()
    news = inputs_of(program, KONG)
    inputs, _ = host.check({}, news)
    created = host.create(inputs)
    text = kong_config.rendered(inputs)
    assert pushed == {inputs["container"]: text} and "_anon" in text
    assert set(created.outputs) == {"container", "container_id", "digest", "__provider"}  # never the text

    checked, _ = host.check(inputs, news)
    assert host.diff(created.id, created.outputs, checked).changes is False
    pushed.clear()  # a Kong that lost its config: the next preview shows an update
    assert host.diff(created.id, created.outputs, checked).changes is True


def test_dashboard_content_under_the_engine(program, monkeypatch):
    """The site built from the stack outputs the engine hands it shows each bucket's limit."""
    copied: dict[str, bytes] = {}
    monkeypatch.setattr(docker_cli, "docker", lambda *args, **kwargs: "")
    monkeypatch.setattr(docker_cli, "copy_into", lambda container, _folder, archive, host=None: copied.update({container: archive}))
    host = DynamicHost()
    inputs, _ = host.check({}, inputs_of(program, CONTENT))
    created = host.create(inputs)
    (archive,) = copied.values()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        page = tar.extractfile("projects/files.html").read().decode()
    assert "1.04858 MB" in page and "5 MB" in page  # files-exact and files-units
    assert page.count("(50 MiB)") == 1  # files-open only: the stack's limit
    assert created.outputs["warnings"] == []
    checked, _ = host.check(inputs, inputs_of(program, CONTENT))
    assert host.diff(created.id, created.outputs, checked).changes is False


def test_a_supabase_app_under_the_engine(db):
    """A `supabaseDir` project's SQL step as the engine hands it over: the app's migration
    version (a CLI timestamp, 20230530034630, past int32) arrives as a float and is recorded
    as the bigint it is; an unchanged program then diffs clean."""
    from tests import apps
    from tests.test_app_import_sql import user_pool

    run = run_program(config_with(projects=[{"name": "shop", "supabaseDir": str(apps.folder("nextjs_subscription_payments"))}]))
    host = DynamicHost()
    boot, _ = host.check({}, inputs_of(run, BOOTSTRAP, dsn=db))
    host.create(boot)
    shop = ProjectNames("shop")
    pg.provider_create(db, shop)
    user_pool(db, shop)  # what the project's GoTrue migrates before the app's SQL runs
    news = inputs_of(run, PROJECT, dsn=db)
    assert wire(news)["migrations"][0]["version"] == 20230530034630.0  # what the engine sends
    inputs, failures = host.check({}, news)
    assert failures == []
    created = host.create(inputs)
    pg.provider_grant(db, shop)
    assert rows(db, "select version from supabase_multi.migrations where scope = 'shop'") == [(20230530034630,)]
    assert {t["name"] for t in created.outputs["tables"]} >= {"customers", "prices", "products", "users"}
    checked, failures = host.check(inputs, news)
    assert failures == [] and host.diff(created.id, created.outputs, checked).changes is False


def test_a_cells_docker_host_reaches_the_docker_cli_through_the_engine(monkeypatch, tmp_path):
    """The program's real wiring with a `cell` on an ssh:// host: every dynamic resource that
    calls the docker CLI gets the host through the SDK's round trip and runs the CLI against it."""
    from tests import apps

    app = apps.deployable(apps.EDGE_FUNCTIONS, tmp_path, (apps.EDGE_FUNCTIONS_UNPARSABLE,))
    cell = {"name": "eu1", "dockerHost": "ssh://deploy@10.0.0.11", "address": "10.0.0.11"}
    run = run_program(config_with(cell=cell, bindAddress="10.0.0.11", features={"functions": True},
                                  projects=[{"name": "tasks", "supabaseDir": str(app)}]))
    hosts: list[str] = []

    def docker_cli_run(argv, **kwargs):
        hosts.append((kwargs.get("env") or {}).get("DOCKER_HOST"))
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(docker_cli.subprocess, "run", docker_cli_run)
    host = DynamicHost()
    for typ in (KONG, CONTENT, f"{DYNAMIC}ProjectFunctions"):
        inputs, failures = host.check({}, inputs_of(run, typ))
        assert not failures and inputs["docker_host"] == cell["dockerHost"], typ
        before = len(hosts)
        host.create(inputs)
        assert len(hosts) > before and set(hosts[before:]) == {cell["dockerHost"]}, typ
