"""SupabaseProject: one isolated project inside the shared Postgres.

Roles and schema come first; the migrations resource builds the tables inside them; the
grants that open the project to PostgREST depend on the migrations, so on removal Pulumi
revokes them first, then archives (or drops) the schema, then drops the roles.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_postgresql as postgresql

from components import keys
from components.config import ProjectConfig
from components.naming import AUTHENTICATOR, ProjectNames
from components.sql_migrations import ProjectMigrations


@dataclass(frozen=True)
class ProjectArgs:
    config: ProjectConfig
    template_dir: Path
    dsn: pulumi.Input[str]
    jwt_secret: pulumi.Input[str]
    rest_url: pulumi.Input[str]
    hostname: Optional[str] = None


class SupabaseProject(pulumi.ComponentResource):
    def __init__(self, name: str, args: ProjectArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:SupabaseProject", name, None, opts)
        self.names = names = ProjectNames(args.config.name)
        child = pulumi.ResourceOptions(parent=self)
        roles = {r.name: postgresql.Role(
            r.name, name=r.name, login=False, bypass_row_level_security=r.bypass_rls, opts=child)
            for r in names.roles()}
        schema = postgresql.Schema(
            f"{name}-schema", name=names.schema, owner=roles[names.owner].name, opts=child)
        self.migrations = ProjectMigrations(
            f"{name}-sql",
            project=names.project,
            template=args.config.template,
            template_dir=args.template_dir,
            on_delete=args.config.on_delete,
            dsn=args.dsn,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[schema, *roles.values()])),
        )
        self._open_to_postgrest(name, names, roles, pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[self.migrations])))

        self.anon_key = keys.role_key(args.jwt_secret, names.anon, public=True)
        self.service_key = keys.role_key(args.jwt_secret, names.service, public=False)
        self.info = pulumi.Output.all(
            anon=self.anon_key, tables=self.migrations.tables, views=self.migrations.views, rest=args.rest_url
        ).apply(lambda v: {
            "schema": names.schema,
            "restUrl": v["rest"],
            "anonKey": v["anon"],
            "hostname": args.hostname,
            "tables": v["tables"] or [],
            "views": v["views"] or [],
            "template": args.config.template,
        })
        self.register_outputs({"info": self.info, "serviceKey": self.service_key})

    @staticmethod
    def _open_to_postgrest(name, names, roles, opts) -> None:
        """authenticator may switch to the project's API roles, which may use its schema."""
        for role in names.api_roles():
            postgresql.GrantRole(f"{role}-authenticator", role=AUTHENTICATOR, grant_role=roles[role].name, opts=opts)
            postgresql.Grant(f"{role}-usage", role=roles[role].name, database="postgres", schema=names.schema,
                             object_type="schema", privileges=["USAGE"], opts=opts)
        for d in names.default_privileges():
            postgresql.DefaultPrivileges(
                f"{name}-{d.role}-default-{d.object_type}s", owner=roles[d.owner].name, role=roles[d.role].name,
                database="postgres", schema=d.schema, object_type=d.object_type, privileges=list(d.privileges),
                opts=opts)
