"""SupabaseProject: one isolated project inside the shared Postgres.

Roles and schema come first; the migrations resource builds the tables inside them; the
grants that open the project to PostgREST depend on the migrations, so on removal Pulumi
revokes them first, then archives (or drops) the schema, then drops the roles.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_postgresql as postgresql

from components import buckets, keys
from components.config import ProjectConfig
from components.naming import AUTHENTICATOR, DATABASE, ProjectNames
from components.sql_migrations import ProjectMigrations
from components.options import after


@dataclass(frozen=True)
class ProjectArgs:
    config: ProjectConfig
    template_dir: Path
    dsn: pulumi.Input[str]
    jwt_secret: pulumi.Input[str]
    rest_url: str
    hostname: Optional[str] = None
    # The Storage and Realtime containers: they create the schemas the project's SQL step
    # extends (it then waits for their migrations, components/service_schemas.py).
    services: Sequence[pulumi.Resource] = ()


class SupabaseProject(pulumi.ComponentResource):
    def __init__(self, name: str, args: ProjectArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:SupabaseProject", name, None, opts)
        self.names = names = ProjectNames(args.config.name)
        declared = buckets.spec(names.project, args.config.storage.buckets)
        child = pulumi.ResourceOptions(parent=self)
        roles = [postgresql.Role(r.name, name=r.name, login=False, bypass_row_level_security=r.bypass_rls, opts=child)
                 for r in names.roles()]
        # Plain names plus explicit depends_on: the same ordering as Output names, fewer Outputs.
        schema = postgresql.Schema(f"{name}-schema", name=names.schema, owner=names.owner,
                                   opts=after(child, roles))
        self.migrations = ProjectMigrations(
            f"{name}-sql",
            project=names.project,
            template=args.config.template,
            template_dir=args.template_dir,
            on_delete=args.config.on_delete,
            dsn=args.dsn,
            buckets=declared,
            opts=after(child, [schema, *args.services]),
        )
        self._open_to_postgrest(name, names, after(child, [self.migrations]))

        self.anon_key = keys.role_key(args.jwt_secret, names.anon, public=True)
        self.service_key = keys.role_key(args.jwt_secret, names.service, public=False)
        static = {"schema": names.schema, "restUrl": args.rest_url, "hostname": args.hostname,
                  "template": args.config.template, "buckets": declared}
        self.info = pulumi.Output.all(self.anon_key, self.migrations.tables, self.migrations.views,
                                      self.migrations.published).apply(
            lambda v: {**static, "anonKey": v[0], "tables": v[1] or [], "views": v[2] or [],
                       "realtimeTables": v[3] or []})
        self.register_outputs({"schema": names.schema})

    @staticmethod
    def _open_to_postgrest(name: str, names: ProjectNames, opts: pulumi.ResourceOptions) -> None:
        """authenticator may switch to the project's API roles, which may use its schema."""
        for role in names.api_roles():
            postgresql.GrantRole(f"{role}-authenticator", role=AUTHENTICATOR, grant_role=role, opts=opts)
            postgresql.Grant(f"{role}-usage", role=role, database=DATABASE, schema=names.schema,
                             object_type="schema", privileges=["USAGE"], opts=opts)
        for d in names.default_privileges():
            postgresql.DefaultPrivileges(
                f"{name}-{d.role}-default-{d.object_type}s", owner=d.owner, role=d.role, database=DATABASE,
                schema=d.schema, object_type=d.object_type, privileges=list(d.privileges), opts=opts)

