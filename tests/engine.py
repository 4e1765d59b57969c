"""The program's SQL resources under the real Pulumi engine: the CLI that scripts/build-pulumi.sh
builds, a local file backend in a tmp folder and a real PostgreSQL.

The whole program (`__main__.py`, every resource, stand-in provider plugins) runs in
tests/stack_engine.py and tests/test_engine_program.py. This smaller inline program stays
for the SQL-migration tests that need many quick stacks on scratch databases of the shared
server (the whole program needs a PostgreSQL of its own, whose passwords it rotates, and
~20 s per first `up`): edits of applied migrations, removal orders, refresh of one resource.

An Automation API inline program reads the stack config with `load_config` and declares the
stack bootstrap and each project's SQL resource as components/ declares them (same classes,
names, parents and dependencies, and the same inputs: buckets, statement timeout, published
tables and template policies, so a number in the config reaches the provider as the engine
hands it over, a float). What the pulumi-postgresql provider would do (its plugin
cannot be built here) the tests do around each operation with tests/pg.py: roles and schema
before `up`, grants after, revokes before a removal, roles dropped after it.
"""
from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import psycopg
import pulumi
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pulumi import automation as auto

from components.core import buckets, template_files, template_policies
from components.core.naming import ProjectNames
from components.core.signing_keys import SigningKey
from components.providers import sql_migrations
from components.core.config import NAMESPACE, load_config
from components.providers.sql_migrations import ProjectMigrations, StackBootstrap
from tests._tools import require_file
from tests.inline_channels import own_subchannels

own_subchannels()  # before any inline program opens a channel: tests/inline_channels.py

ROOT = Path(__file__).resolve().parent.parent
CLI_VERSION = (ROOT / "scripts" / "pulumi-cli.version").read_text().strip()
CLI_ROOT = ROOT / ".tools" / f"pulumi-{CLI_VERSION}"
STACK = "engine"
# Encrypts the throwaway stack's secrets in its tmp backend; a test value, not a credential.
PASSPHRASE = "engine-tests-passphrase"


def require_cli() -> auto.PulumiCommand:
    """The pinned CLI and the Python dynamic-provider plugin next to it; fails under CI when missing."""
    hint = "run scripts/build-pulumi.sh (scripts/test.sh does)"
    require_file(CLI_ROOT / "bin" / "pulumi", hint)
    require_file(CLI_ROOT / "bin" / "pulumi-resource-pulumi-python", hint)
    return auto.PulumiCommand(root=str(CLI_ROOT))


class StandIn(pulumi.ComponentResource):
    """A component's place in the tree (Postgres, SupabaseProject) without its other children."""

    def __init__(self, typ: str, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(f"supabase-multi-instance:index:{typ}", name, None, opts)


def engine_key(owner: str) -> SigningKey:
    """The signing key of a project (or of the stack, `@stack`) in these stacks."""
    return SigningKey(owner, 1, f"engine-seed-of-{owner}")


def declare(admin_dsn: pulumi.Output[str], jwt_secret: Optional[pulumi.Output[str]] = None) -> None:
    """The inline program: __main__.py's SQL resources, wired the way components/ wires them
    (the keys as project.py is to pass them: the stack's secret and key to StackBootstrap,
    each project's public JWKs to its ProjectMigrations)."""
    sql_migrations._plan.cache_clear()  # one test process runs many programs; the CLI runs each in a fresh one
    template_policies.clear_caches()
    config = load_config()
    database = StandIn("Postgres", "db")  # components/resources/postgres.py
    bootstrap = StackBootstrap("db-bootstrap", admin_dsn, opts=pulumi.ResourceOptions(parent=database),
                               jwt_secret=jwt_secret, jwks=[engine_key("@stack").public_jwk()])
    database.register_outputs({})
    outputs = {}
    for p in config.projects:  # components/resources/project.py, with __main__.py's options
        component = StandIn("SupabaseProject", p.name, pulumi.ResourceOptions(depends_on=[bootstrap]))
        folder, declared = config.template_path(p.template), buckets.spec(p.name, p.storage.buckets)
        resource = ProjectMigrations(
            f"{p.name}-sql", project=p.name, auth_mode=p.auth.mode, template=p.template, template_dir=folder,
            on_delete=p.on_delete, dsn=admin_dsn, statement_timeout=p.statement_timeout, buckets=declared,
            published=template_files.published(folder), opts=pulumi.ResourceOptions(parent=component),
            jwks=[engine_key(p.name).public_jwk()],
            policies=template_policies.for_project(folder, ProjectNames(p.name, p.auth.mode), declared, p.template))
        component.register_outputs({"schema": p.name})
        outputs[p.name] = {"tables": resource.tables, "views": resource.views}
    pulumi.export("projects", outputs)


DYNAMIC_PROVIDER = "pulumi-python provider"


def step_name(urn: str) -> str:
    """A resource's name; the default provider of the Python dynamic resources as DYNAMIC_PROVIDER."""
    typ, name = urn.split("::")[-2:]
    return DYNAMIC_PROVIDER if typ == "pulumi:providers:pulumi-python" else name


@dataclass
class Operation:
    """What one engine operation did: the step of each resource, the summary of counts."""

    steps: dict[str, str] = field(default_factory=dict)  # resource name -> op ("create", "update", ...)
    summary: dict[str, int] = field(default_factory=dict)

    def on_event(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event:
            meta = event.resource_pre_event.metadata
            self.steps[step_name(meta.urn)] = str(getattr(meta.op, "value", meta.op))
        if event.summary_event:
            self.summary = {str(getattr(k, "value", k)): v for k, v in event.summary_event.resource_changes.items()}

    def changed(self) -> dict[str, str]:
        return {name: op for name, op in self.steps.items() if op != "same"}


def engine_login(db_dsn: str) -> tuple[str, str]:
    """A login role with a generated password for the engine's DSN; returns (dsn, password).

    The role is created in the server, so scratch_database drops it with the test database.
    """
    password = secrets.token_urlsafe(24)
    role = f"engine_{secrets.token_hex(4)}"
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login superuser password {}").format(
            sql.Identifier(role), sql.Literal(password)))
    params = conninfo_to_dict(db_dsn) | {"user": role}
    params.pop("password", None)
    return make_conninfo(**params), password


@dataclass
class EngineStack:
    """One stack of the inline program in a tmp backend; the project list is its stack config."""

    stack: auto.Stack
    backend: Path
    password: str
    templates_dir: Path
    first_up: Optional[Operation] = None

    def set_projects(self, projects: list[dict[str, Any]]) -> None:
        self.stack.set_config("projects", auto.ConfigValue(json.dumps(projects)))

    def _run(self, verb: str, **kwargs: Any) -> Operation:
        op = Operation()
        getattr(self.stack, verb)(on_event=op.on_event, color="never", **kwargs)
        return op

    def up(self) -> Operation:
        return self._run("up")

    def preview(self) -> Operation:
        return self._run("preview", diff=True)

    def refresh(self) -> Operation:
        return self._run("refresh")

    def destroy(self) -> Operation:
        return self._run("destroy")

    def outputs(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.stack.outputs().items()}

    def state_files(self) -> dict[Path, str]:
        """Everything the backend wrote: the stack's state, its backups and update history."""
        return {p: p.read_text(errors="replace") for p in self.backend.rglob("*") if p.is_file()}

    def state(self) -> dict[str, Any]:
        """The stack's state file as the backend stored it (`export_stack` would decrypt secrets)."""
        path = self.backend / ".pulumi" / "stacks" / NAMESPACE / f"{STACK}.json"
        return json.loads(path.read_text())["checkpoint"].get("latest") or {}

    def resource_state(self, name: str) -> dict[str, Any]:
        (found,) = [r for r in self.state().get("resources", []) if r["urn"].endswith(f"::{name}")]
        return found


def open_stack(tmp: Path, db_dsn: str, templates_dir: Path, projects: list[dict[str, Any]],
               cli: Optional[auto.PulumiCommand] = None) -> EngineStack:
    """A fresh stack of the inline program: local file backend, passphrase secrets, no plugin downloads."""
    cli = cli or require_cli()
    dsn, password = engine_login(db_dsn)
    backend, work, home = tmp / "backend", tmp / "work", tmp / "pulumi-home"
    for folder in (backend, work, home):
        folder.mkdir(parents=True, exist_ok=True)

    def program() -> None:
        password_config = pulumi.Config().require_secret("postgresPassword")
        # The generated password doubles as the stack's JWT secret: the state tests look for it.
        declare(pulumi.Output.secret(password_config.apply(lambda pw: make_conninfo(dsn, password=pw))),
                jwt_secret=password_config)

    env = {
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # A real `pulumi up` starts the provider in the project folder, where `components` imports.
        "PYTHONPATH": str(ROOT),
    }
    # A real `pulumi up` passes Pulumi.yaml's runtime options to the dynamic-provider plugin as
    # PULUMI_RUNTIME_<OPTION> (pkg resource/plugin/provider_plugin.go); for an inline program the
    # CLI's runtime is `client` (cmd/pulumi/operations/io.go), so they are set here. Without a
    # virtualenv the plugin script runs PULUMI_PYTHON_CMD.
    runtime = _runtime()
    env.update({f"PULUMI_RUNTIME_{k.upper()}": str(v) for k, v in (runtime.options or {}).items()})
    if not runtime.options:
        env["PULUMI_PYTHON_CMD"] = sys.executable
    settings = auto.ProjectSettings(name=NAMESPACE, runtime=runtime, backend=auto.ProjectBackend(f"file://{backend}"))
    stack = auto.create_stack(STACK, project_name=NAMESPACE, program=program, opts=auto.LocalWorkspaceOptions(
        work_dir=str(work), pulumi_home=str(home), env_vars=env, project_settings=settings, pulumi_command=cli))
    stack.set_all_config({
        "postgresPassword": auto.ConfigValue(password, secret=True),
        "templatesDir": auto.ConfigValue(str(templates_dir)),
        "projects": auto.ConfigValue(json.dumps(projects)),
    })
    return EngineStack(stack, backend, password, templates_dir)


def _runtime() -> auto.ProjectRuntimeInfo:
    """Pulumi.yaml's runtime: the engine hands `virtualenv` to the dynamic-provider plugin."""
    if sys.prefix == sys.base_prefix:
        return auto.ProjectRuntimeInfo(name="python")
    return auto.ProjectRuntimeInfo(name="python", options={"toolchain": "pip", "virtualenv": sys.prefix})

