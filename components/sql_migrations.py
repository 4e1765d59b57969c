"""Dynamic resources over components/migrations.py: the stack bootstrap and a project's SQL.

Pulumi diffs the list of migration checksums: a new file is an update that applies only
that file; removing the project runs archive or drop, whichever its state recorded.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.dynamic import Resource

from components import migrations
from components.dynamic_base import ConvergingProvider
from components.naming import ProjectNames
from components.sql_templates import SQL_ROOT

REPO_ROOT = Path(__file__).resolve().parent.parent


def _portable(path: Path) -> str:
    """Template folders inside the repository are stored relative to it, so state moves with it."""
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


@functools.lru_cache(maxsize=None)
def _plan(template_dir: Path) -> tuple[str, list[dict]]:
    """Read each template folder once per program run, however many projects use it."""
    return _portable(template_dir), migrations.plan_names(migrations.discover(template_dir))


def _load(props: dict[str, Any]) -> list[migrations.Migration]:
    """The migrations on disk, checked against what the plan recorded at preview time."""
    found = migrations.discover(REPO_ROOT / props["template_dir"])
    if migrations.plan_names(found) != props["migrations"]:
        raise migrations.MigrationError(
            f"{props['template_dir']} changed between preview and update; run `pulumi up` again"
        )
    return found


class BootstrapProvider(ConvergingProvider):
    """No delete: the registry outlives the stack's resources, it records archived projects."""

    def resource_id(self, props: dict[str, Any]) -> str:
        return "stack-bootstrap"

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        migrations.apply_bootstrap(props["dsn"], _load(props), props["template_dir"])
        return props


class StackBootstrap(Resource, module="supabase", name="StackBootstrap"):
    """Registry schema and PostgREST pre-config function."""

    def __init__(self, name: str, dsn: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None):
        folder = SQL_ROOT / "bootstrap"
        props = {
            "dsn": pulumi.Output.secret(dsn),
            "template_dir": _portable(folder),
            "migrations": migrations.plan_names(migrations.discover(folder)),
        }
        super().__init__(BootstrapProvider(), name, props, opts)


class ProjectMigrationsProvider(ConvergingProvider):
    REPLACE_ON = frozenset({"project"})
    # Outputs computed by create/update; a preview must not count them as changes.
    IGNORE = frozenset({"tables", "views", "published"})

    def resource_id(self, props: dict[str, Any]) -> str:
        return props["project"]

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        names = ProjectNames(props["project"])
        migrations.apply_project(props["dsn"], names, props["template"], _load(props), props["template_dir"],
                                 buckets=props.get("buckets") or [])
        return {**props, **migrations.describe(props["dsn"], names.schema)}

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        names = ProjectNames(props["project"])
        if props.get("on_delete") == "drop":
            migrations.drop_project(props["dsn"], names)
        else:
            migrations.archive_project(props["dsn"], names)


class ProjectMigrations(Resource, module="supabase", name="ProjectMigrations"):
    """A project's tables, policies and views, its registry row and PostgREST exposure, its
    Storage buckets and its Realtime access. The buckets are inputs: adding or changing one
    is an in-place update of this resource, nothing else."""

    tables: pulumi.Output[list]
    views: pulumi.Output[list]
    published: pulumi.Output[list]

    def __init__(
        self,
        name: str,
        *,
        project: str,
        template: str,
        template_dir: Path,
        on_delete: str,
        dsn: pulumi.Input[str],
        buckets: Optional[list[dict[str, Any]]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        folder, planned = _plan(Path(template_dir))
        props = {
            "project": project,
            "template": template,
            "template_dir": folder,
            "migrations": planned,
            "on_delete": on_delete,
            "dsn": pulumi.Output.secret(dsn),
            "buckets": buckets or [],
            "tables": None,
            "views": None,
            "published": None,
        }
        super().__init__(ProjectMigrationsProvider(), name, props, opts)
