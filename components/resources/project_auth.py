"""ProjectAuth: a project's own GoTrue, user pool and auth settings (`auth.mode: own`).

Per project: a LOGIN role `<p>_auth_admin` (generated password, search_path `<p>_auth`, as
upstream sets it for supabase_auth_admin) that owns the schema `<p>_auth` and nothing
else; GoTrue's own migrations create the user pool there on start
(`GOTRUE_DB_NAMESPACE`). The container `auth-<p>` runs the stack's pinned GoTrue image;
its tokens carry `role` = `<p>_authenticated` and are signed with the project's own ES256
key (GOTRUE_JWT_KEYS); its HS256 secret is its own too, so its admin API accepts only the
project's service key, never a token signed with the stack's secret or another project's
key. It joins only the auth network (components/resources/network.py): Postgres and Kong.
No shared container changes when a project is added or removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_postgresql as postgresql
import pulumi_random as random

from components.resources import gotrue
from components.core.config import ProjectAuthConfig
from components.core.naming import ProjectNames
from components.core.options import after
from components.resources.postgres import internal_url
from components.resources.service import ServiceSpec, declare

# A project's GoTrue keeps at most gotrue.PROJECT_TUNING's pool of connections; the role's limit is
# the hard stop if that ever fails (migrations open one more).
AUTH_ADMIN_CONNECTION_LIMIT = 10
STACK_AUTH_HOST = "auth"  # the stack's GoTrue (components/resources/services.py), for `auth.mode: shared`


def service_name(project: str) -> str:
    """`auth-<p>` with `_` as `-`: a DNS label, the container's alias on the stack network.
    Injective, since project names never contain `-`."""
    return f"auth-{project.replace('_', '-')}"


def identity(names: ProjectNames, auth_url: str, project_url: str) -> gotrue.GoTrueIdentity:
    return gotrue.GoTrueIdentity(
        auth_url=auth_url, namespace=names.auth_schema, signed_in_role=names.authenticated,
        admin_role=names.service, audience=names.project, default_site_url=project_url,
        tuning=tuple(gotrue.PROJECT_TUNING.items()))


@dataclass(frozen=True)
class ProjectAuthArgs:
    names: ProjectNames
    settings: ProjectAuthConfig
    auth_url: str
    project_url: str
    network_name: pulumi.Input[str]  # the auth network
    signing_keys: pulumi.Input[str]  # GOTRUE_JWT_KEYS (components/core/project_keys.py)
    jwt_secret: pulumi.Input[str]  # the project's own HS256 secret, shared with nothing
    image_id: pulumi.Input[str]


class ProjectAuth(pulumi.ComponentResource):
    """Role, schema and GoTrue container of one project's user pool."""

    def __init__(self, name: str, args: ProjectAuthArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:ProjectAuth", name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        role = postgresql.Role(
            names.auth_admin, name=names.auth_admin, login=True, password=password.result,
            search_paths=[names.auth_schema], connection_limit=AUTH_ADMIN_CONNECTION_LIMIT, opts=child)
        self.schema = postgresql.Schema(f"{name}-schema", name=names.auth_schema, owner=names.auth_admin,
                                        opts=after(child, [role]))
        database_url = pulumi.Output.secret(password.result).apply(
            lambda pw: internal_url("postgres", names.auth_admin, pw))
        self.container = declare(ServiceSpec(
            name=service_name(names.project), network_name=args.network_name, image_id=args.image_id,
            env=gotrue.env(args.settings, identity(names, args.auth_url, args.project_url)),
            secret_env=gotrue.secret_env(args.settings, database_url, args.jwt_secret, args.signing_keys),
            healthcheck=gotrue.healthcheck(), wait=True,
        ), after(child, [self.schema]))
        self.register_outputs({})
