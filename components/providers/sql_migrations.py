"""Dynamic resources over components/core/migrations.py: the stack bootstrap and a project's SQL.

Pulumi diffs the list of migration checksums: a new file is an update that applies only
that file; a new statement timeout is an update that only sets it; removing the project
runs archive or drop, whichever its state recorded. The public keys the shared services
verify with are inputs too (components/core/jwks_registry.py): a project's `jwks`, the
stack's `jwt_secret` and `jwks`; a rotation is an in-place update of these resources only.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Optional, Sequence

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, Resource
from pulumi.runtime.rpc import UNKNOWN  # how a dynamic provider's check sees a value not known yet

from components.core import app_migrations, jwks_registry, migrations, project_description, template_policies
from components.providers.dynamic_base import ConvergingProvider
from components.core.naming import DEFAULT_STATEMENT_TIMEOUT, OWN, ProjectNames
from components.core.sql_templates import SQL_ROOT

REPO_ROOT = Path(__file__).resolve().parents[2]


def _portable(path: Path) -> str:
    """Template folders inside the repository are stored relative to it, so state moves with it."""
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


@functools.lru_cache(maxsize=None)
def _plan(template_dir: Path, app: bool = False) -> tuple[str, list[dict]]:
    """Read each template (or Supabase app) folder once per program run, however many projects use it."""
    found = app_migrations.discover(template_dir) if app else migrations.discover(template_dir)
    return _portable(template_dir), migrations.plan_names(found)


def _load(props: dict[str, Any]) -> list[migrations.Migration]:
    """The migrations on disk, checked against what the plan recorded at preview time."""
    app = props.get("supabase_dir")
    found = (app_migrations.discover(REPO_ROOT / app) if app else migrations.discover(REPO_ROOT / props["template_dir"]))
    if migrations.plan_names(found) != props["migrations"]:
        raise migrations.MigrationError(
            f"{props['template_dir']} changed between preview and update; run `pulumi up` again"
        )
    return found


def refuse_applied_changes(olds: dict[str, Any], news: dict[str, Any]) -> list[CheckFailure]:
    """At preview: an edited or removed migration that the last `up` applied fails, naming the file.

    `olds` are the inputs that `up` recorded; diff would only plan an update, and the update
    would refuse it only when it runs. A new project or template is left to the update.
    """
    if not olds or any(olds.get(k) != news.get(k) for k in ("project", "template", "template_dir")):
        return []
    recorded = {m["version"]: (m["filename"], m["checksum"]) for m in olds.get("migrations") or []}
    planned = [migrations.Migration(m["version"], m["filename"], m["checksum"], "") for m in news["migrations"]]
    try:
        migrations.pending(recorded, planned, news["template_dir"])
    except migrations.MigrationError as err:  # no property: the engine would print the whole list
        return [CheckFailure("", str(err))]
    return []


def refuse_bad_keys(news: dict[str, Any], owner: str) -> list[CheckFailure]:
    """At preview: a `jwks` input that is not a list of public signing JWKs (a private key, a
    JWK PostgREST could not parse) fails, naming the key. An input not known yet is left to
    the update, which checks again."""
    found = news.get("jwks")
    if not isinstance(found, list) or not all(isinstance(k, dict) for k in found) or UNKNOWN in json.dumps(found):
        return []
    try:
        jwks_registry.checked(found, owner)
    except jwks_registry.JwksRefused as err:
        return [CheckFailure("jwks", str(err))]
    return []


def _checked_keys(props: dict[str, Any], owner: str) -> list[dict[str, Any]]:
    try:
        return jwks_registry.checked(props.get("jwks") or [], owner)
    except jwks_registry.JwksRefused as err:
        raise migrations.MigrationError(f"{err}; nothing was applied") from None


class CheckedMigrations(ConvergingProvider):
    OWNER = "the stack"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        owner = f"project {news.get('project')!r}" if "project" in news else self.OWNER
        return CheckResult(news, refuse_applied_changes(olds, news) + refuse_bad_keys(news, owner))


class BootstrapProvider(CheckedMigrations):
    """No delete: the registry outlives the stack's resources, it records archived projects."""

    def resource_id(self, props: dict[str, Any]) -> str:
        return "stack-bootstrap"

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        try:
            secret = jwks_registry.checked_secret(props.get("jwt_secret"))
        except jwks_registry.JwksRefused as err:
            raise migrations.MigrationError(f"{err}; nothing was applied") from None
        jwks = _checked_keys(props, self.OWNER) if props.get("jwks") is not None else None
        migrations.apply_bootstrap(props["dsn"], _load(props), props["template_dir"], jwt_secret=secret, jwks=jwks,
                                   extensions=props.get("extensions") or ())
        return props


class StackBootstrap(Resource, module="supabase", name="StackBootstrap"):
    """Registry schema, PostgREST pre-config function, the registry of verifying keys and
    the stack's own entries in it: `jwt_secret`, the legacy HS256 secret (PostgREST's JWKS
    carries it as an `oct` key; until it is given, PostgREST keeps PGRST_JWT_SECRET), and
    `jwks`, the public JWKs of the stack's own signing key. None leaves what is recorded."""

    def __init__(self, name: str, dsn: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None, *,
                 jwt_secret: Optional[pulumi.Input[str]] = None,
                 jwks: Optional[pulumi.Input[list[dict[str, Any]]]] = None, extensions: Sequence[str] = ()):
        folder = SQL_ROOT / "bootstrap"
        props = {
            "dsn": pulumi.Output.secret(dsn),
            "template_dir": _portable(folder),
            "migrations": migrations.plan_names(migrations.discover(folder)),
            "jwt_secret": None if jwt_secret is None else pulumi.Output.secret(jwt_secret),
            "jwks": jwks,
            "extensions": list(extensions),  # stack config `extensions`, installed in schema `extensions`
        }
        super().__init__(BootstrapProvider(), name, props, opts)


def _names(props: dict[str, Any]) -> ProjectNames:
    """State written before per-project auth has no auth_mode: those projects get `own` on update."""
    return ProjectNames(props["project"], props.get("auth_mode") or OWN)


class ProjectMigrationsProvider(CheckedMigrations):
    REPLACE_ON = frozenset({"project"})
    # Outputs computed by create/update; a preview must not count them as changes.
    IGNORE = frozenset({"tables", "views", "functions", "sequences", "published", "policies"})

    def resource_id(self, props: dict[str, Any]) -> str:
        return props["project"]

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        names = _names(props)
        jwks = _checked_keys(props, f"project {names.project!r}")
        policies = props.get("template_policies") or []
        for policy in policies:  # checked at preview; again here, on what the inputs hold now
            template_policies.verify(policy, names)
        found, app = _load(props), None
        if props.get("supabase_dir"):  # the app's files rewritten for this project, refused statements named
            seed = props.get("app_seed") or {}
            app = app_migrations.plan(REPO_ROOT / props["supabase_dir"], names, seed.get("paths") or (),
                                      bool(seed.get("enabled")), props.get("app_extensions") or ())
            found = app.migrations
        migrations.apply_project(props["dsn"], names, props["template"], found, props["template_dir"], app=app,
                                 statement_timeout=props.get("statement_timeout") or DEFAULT_STATEMENT_TIMEOUT,
                                 buckets=props.get("buckets") or [], published=props.get("published_tables") or [],
                                 policies=policies, jwks=jwks)
        return {**props, **project_description.describe(props["dsn"], names.schema)}

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        names = _names(props)
        if props.get("on_delete") == "drop":
            migrations.drop_project(props["dsn"], names)
        else:
            migrations.archive_project(props["dsn"], names)


class ProjectMigrations(Resource, module="supabase", name="ProjectMigrations"):
    """A project's tables, policies and views, its registry row and PostgREST exposure, the
    statement timeout of its API roles, its public signing keys, its Storage buckets, its
    Realtime access and its template's own Storage and Realtime policies. Buckets, published
    tables, template policies and keys are inputs: adding or changing one is an in-place
    update of this resource, nothing else (a preview shows the changed policy statement).
    `jwks` is the list of the project's public JWKs, every live generation
    (components/core/project_keys.py ProjectKeySet.jwks()); archive and drop remove them."""

    tables: pulumi.Output[list]
    views: pulumi.Output[list]
    functions: pulumi.Output[list]
    sequences: pulumi.Output[list]
    published: pulumi.Output[list]
    policies: pulumi.Output[list]

    def __init__(
        self,
        name: str,
        *,
        project: str,
        auth_mode: str,
        template: str,
        template_dir: Path,
        on_delete: str,
        dsn: pulumi.Input[str],
        statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT,
        buckets: Optional[list[dict[str, Any]]] = None,
        published: Sequence[str] = (),
        policies: Sequence[dict[str, Any]] = (),
        jwks: pulumi.Input[Sequence[dict[str, Any]]] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
        supabase_dir: Optional[Path] = None,
        app_seed: Optional[dict[str, Any]] = None,
        app_extensions: Sequence[str] = (),
    ):
        folder, planned = _plan(Path(supabase_dir or template_dir), supabase_dir is not None)
        props = {
            "project": project,
            "auth_mode": auth_mode,
            "template": template,
            "template_dir": folder,
            "migrations": planned,
            "on_delete": on_delete,
            "statement_timeout": statement_timeout,
            "dsn": pulumi.Output.secret(dsn),
            "buckets": buckets or [],
            "published_tables": list(published),
            "template_policies": list(policies),
            "jwks": jwks if isinstance(jwks, pulumi.Output) else list(jwks),
            "supabase_dir": folder if supabase_dir is not None else None,
            "app_seed": app_seed,
            "app_extensions": list(app_extensions),  # stack config `extensions`: the app's no-op `create extension`s
            "tables": None,
            "views": None,
            "functions": None,
            "sequences": None,
            "published": None,
            "policies": None,
        }
        super().__init__(ProjectMigrationsProvider(), name, props, opts)
        # The newest migration of the template, for the dashboard's index (what `up` applies).
        self.last_migration = planned[-1]["filename"] if planned else None
