"""SupabaseProject: one isolated project inside the shared Postgres.

Roles and schema come first; with `auth.mode: own` the project's GoTrue (ProjectAuth)
creates its user pool next; the migrations resource builds the tables; the grants that
open the project to PostgREST depend on the migrations. On removal Pulumi therefore
revokes the grants first, stops the auth container, archives (or drops) the schemas,
then drops the roles.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_postgresql as postgresql

from components.core import app_config, app_migrations, buckets, template_files, template_policies
from components.core.config import BucketConfig, ProjectConfig
from components.core.naming import AUTHENTICATOR, DATABASE, ProjectNames
from components.core.signing_keys import SigningKey
from components.core.options import after
from components.resources.gateway import ProjectGateway
from components.resources.project_credentials import ProjectCredentials
from components.resources.project_auth import STACK_AUTH_HOST, ProjectAuth, ProjectAuthArgs, service_name
from components.providers.sql_migrations import ProjectMigrations


@dataclass(frozen=True)
class ProjectArgs:
    config: ProjectConfig
    template_dir: Path
    dsn: pulumi.Input[str]
    stack_key: pulumi.Output[SigningKey]  # the stack GoTrue's key: shared-mode users' tokens
    url: str  # the project's one URL (components/urls.project_url)
    network_name: pulumi.Input[str]
    auth_image_id: pulumi.Input[str]  # the stack's pinned GoTrue image, pulled once
    hostname: Optional[str] = None
    # The Storage and Realtime containers: they create the schemas the project's SQL step
    # extends (it then waits for their migrations, components/core/service_schemas.py).
    services: Sequence[pulumi.Resource] = ()
    # The project's own services for the status page ({name, image, healthUrl}; services.project_status).
    status: Sequence[dict] = ()
    # The stack config's `extensions`: an app's `create extension` of one is a no-op of the app.
    extensions: Sequence[str] = ()

    @property
    def rest_url(self) -> str:
        return f"{self.url}/rest/v1"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth/v1"


class SupabaseProject(pulumi.ComponentResource):
    def __init__(self, name: str, args: ProjectArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:SupabaseProject", name, None, opts)
        self.names = names = ProjectNames(args.config.name, args.config.auth.mode)
        app = self._app(args.config, names, args.extensions)
        declared = buckets.spec(names.project, args.config.storage.buckets)
        # Buckets the app's SQL inserts, unless config.toml or the stack config declares them.
        declared += buckets.spec(names.project, [BucketConfig(name=b["name"], public=b["public"]) for b in
                                                 (app.buckets if app else []) if b["name"] not in {d["name"] for d in declared}])
        child = pulumi.ResourceOptions(parent=self)
        self.credentials = creds = ProjectCredentials(name, names, args.config.keys, child, args.stack_key)
        roles = [postgresql.Role(r.name, name=r.name, login=False, bypass_row_level_security=r.bypass_rls, opts=child)
                 for r in names.roles()]
        # Plain names plus explicit depends_on: the same ordering as Output names, fewer Outputs.
        # if_not_exists=False: never CREATE SCHEMA IF NOT EXISTS. The provider still ALTERs the
        # owner of a schema that exists; sql/bootstrap/0002 refuses that for an unrecorded one.
        schema = postgresql.Schema(f"{name}-schema", name=names.schema, owner=names.owner, if_not_exists=False,
                                   opts=after(child, roles))
        self.migrations = ProjectMigrations(
            f"{name}-sql",
            project=names.project,
            auth_mode=names.auth_mode,
            template=args.config.source,
            template_dir=args.template_dir,
            supabase_dir=args.config.supabase_dir,
            app_seed=self._seed(args.config),
            app_extensions=args.extensions,
            on_delete=args.config.on_delete,
            dsn=args.dsn,
            statement_timeout=args.config.statement_timeout,
            buckets=declared,
            published=app.published if app else template_files.published(args.template_dir),
            policies=app.policies if app else template_policies.for_project(
                args.template_dir, names, declared, args.config.template),
            jwks=creds.jwks,
            opts=after(child, [schema, *args.services, *self._own_auth(name, args, names, creds, after(child, roles))]),
        )
        self._open_to_postgrest(name, names, after(child, [self.migrations]))

        self.anon_key, self.service_key = creds.anon_key, creds.service_key
        self.secret_key = creds.secret_key
        auth = args.config.auth
        static = {"url": args.url, "schema": names.schema, "restUrl": args.rest_url, "authUrl": args.auth_url,
                  "hostname": args.hostname, "template": args.config.source,
                  "quickstart": None if app else template_files.load(args.template_dir), "buckets": declared,
                  "lastMigration": self.migrations.last_migration, "services": list(args.status),
                  "auth": {"mode": auth.mode, "signup": auth.signup, "autoconfirm": auth.confirms_automatically,
                           "providers": sorted(n for n, p in auth.external.items() if p.enabled)}}
        m = self.migrations
        self.info = pulumi.Output.all(self.anon_key, m.tables, m.views, m.functions, m.sequences, m.published,
                                      m.policies, creds.publishable_key, creds.jwks).apply(
            lambda v: {**static, "anonKey": v[0], "tables": v[1] or [], "views": v[2] or [],
                       "functions": v[3] or [], "sequences": v[4] or [], "realtimeTables": v[5] or [],
                       "policies": v[6] or [], "publishableKey": v[7], "jwks": {"keys": v[8]},
                       "signingKeyId": v[8][0]["kid"]})
        self._hostname = args.hostname
        self._buckets = {d["name"]: d["id"] for d in declared}
        self.register_outputs({"schema": names.schema})

    @staticmethod
    def _app(config: ProjectConfig, names: ProjectNames, extensions: Sequence[str] = ()) -> Optional[app_migrations.AppPlan]:
        """A `supabaseDir` project's app, rewritten for it (checked once already by the config)."""
        if config.supabase_dir is None:
            return None
        enabled, paths = app_config.project_seed(config)
        plan = app_migrations.plan(config.supabase_dir, names, paths, enabled, extensions)
        return plan

    @staticmethod
    def _seed(config: ProjectConfig) -> Optional[dict]:
        if config.supabase_dir is None:
            return None
        enabled, paths = app_config.project_seed(config)
        return {"enabled": enabled, "paths": paths}

    def gateway(self) -> ProjectGateway:
        """What Kong needs to route this project's URL to its services, for its keys only."""
        names = self.names
        c = self.credentials
        return ProjectGateway(names.project, c.anon_key, c.service_key, c.publishable_key, c.secret_key,
                              c.verifying_keys, self._hostname, roles=tuple(names.api_roles()),
                              auth_host=service_name(names.project) if names.own_auth else STACK_AUTH_HOST,
                              buckets=self._buckets)

    @staticmethod
    def _own_auth(name: str, args: ProjectArgs, names: ProjectNames, creds: ProjectCredentials,
                  opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """The project's GoTrue (own mode); the migrations wait for its user pool to exist."""
        if not names.own_auth:
            return []
        auth = ProjectAuth(f"{name}-auth", ProjectAuthArgs(
            names=names, settings=args.config.auth, auth_url=args.auth_url, project_url=args.url,
            network_name=args.network_name, signing_keys=creds.gotrue_keys, jwt_secret=creds.gotrue_secret,
            image_id=args.auth_image_id), opts=opts)
        return [auth.schema, auth.container]

    @staticmethod
    def _open_to_postgrest(name: str, names: ProjectNames, opts: pulumi.ResourceOptions) -> None:
        """authenticator may switch to the project's API roles, which may use its schema."""
        for role in names.authenticator_members():
            postgresql.GrantRole(f"{role}-authenticator", role=AUTHENTICATOR, grant_role=role, opts=opts)
        previous: list[pulumi.Resource] = []
        for role in names.api_roles():
            # Own roles keep their first release's resource name (a rename would revoke after re-granting).
            resource = f"{role}-usage" if role.startswith(f"{names.project}_") else f"{name}-{role}-usage"
            # Each GRANT/REVOKE on the schema rewrites its one pg_namespace row; two at once fail with
            # "tuple concurrently updated" (seen under the real engine at 10 projects; the provider
            # locks roles, not schemas: terraform-provider-postgresql issue #178). So they take turns.
            previous = [postgresql.Grant(resource, role=role, database=DATABASE, schema=names.schema,
                                         object_type="schema", privileges=["USAGE"], opts=after(opts, previous))]
        for d in names.default_privileges():
            postgresql.DefaultPrivileges(
                f"{name}-{d.role}-default-{d.object_type}s", owner=d.owner, role=d.role, database=DATABASE,
                schema=d.schema, object_type=d.object_type, privileges=list(d.privileges), opts=opts)
