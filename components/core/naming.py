"""A project's database names and privileges, declared once.

`components/resources/project.py` turns these into pulumi-postgresql resources; the SQL tests turn
the same specs into the statements those resources run. One list, two readers.
"""
from __future__ import annotations

from dataclasses import dataclass

AUTHENTICATOR = "authenticator"  # the role PostgREST logs in as (supabase/postgres image)
DATABASE = "postgres"  # the one database of the stack; projects are schemas in it
# How long one request of a project's API roles may run (`projects[].statementTimeout`):
# Supabase's own `authenticated` default, and what its `authenticator` login carries.
DEFAULT_STATEMENT_TIMEOUT = "8s"
SHARED_AUTHENTICATED = "authenticated"  # signed-in users of the stack's own GoTrue
SHARED_AUTH_SCHEMA = "auth"  # the stack GoTrue's user pool (supabase/postgres image)
OWN, SHARED = "own", "shared"  # projects[].auth.mode


@dataclass(frozen=True)
class RoleSpec:
    name: str
    bypass_rls: bool = False


@dataclass(frozen=True)
class DefaultPrivilegeSpec:
    owner: str
    schema: str
    role: str
    object_type: str
    privileges: tuple[str, ...]


@dataclass(frozen=True)
class ProjectNames:
    """Every name of project `project`. With auth mode `own` (the default) the project has
    its own user pool (`<p>_auth`, written by `<p>_auth_admin`) and its own signed-in role
    (`<p>_authenticated`); with `shared` it uses the stack's `auth` and `authenticated`."""

    project: str
    auth_mode: str = OWN

    @property
    def schema(self) -> str:
        return self.project

    @property
    def owner(self) -> str:
        return f"{self.project}_owner"

    @property
    def anon(self) -> str:
        return f"{self.project}_anon"

    @property
    def authenticated(self) -> str:
        return f"{self.project}_authenticated" if self.own_auth else SHARED_AUTHENTICATED

    @property
    def service(self) -> str:
        return f"{self.project}_service"

    @property
    def own_auth(self) -> bool:
        return self.auth_mode == OWN

    @property
    def auth_schema(self) -> str:
        return f"{self.project}_auth" if self.own_auth else SHARED_AUTH_SCHEMA

    @property
    def policy_prefix(self) -> str:
        """What a template's own policies on the shared Storage and Realtime tables are named
        after (`<project>:<name>`, components/core/template_policies.py): no project name has a `:`."""
        return f"{self.project}:"

    @property
    def auth_admin(self) -> str:
        """The LOGIN role of the project's GoTrue (own mode only): it owns `<p>_auth`, nothing else."""
        return f"{self.project}_auth_admin"

    def context(self) -> dict[str, str]:
        """Template variables for sql/projects/*."""
        return {"project": self.project, "schema": self.schema, "owner": self.owner, "anon": self.anon,
                "authenticated": self.authenticated, "service": self.service, "auth_schema": self.auth_schema,
                "auth_admin": self.auth_admin if self.own_auth else "", "own_auth": self.own_auth,
                "own_api_roles": self.authenticator_members(), "policy_prefix": self.policy_prefix}

    def roles(self) -> list[RoleSpec]:
        """The project's NOLOGIN roles. None bypasses RLS: the service key reaches every row of its
        own schema through a policy on each table (sql/projects/_finalize.sql.j2), while row level
        security keeps it to its own buckets and topics in the shared storage and realtime tables,
        where a BYPASSRLS role would see every project's rows."""
        own = [RoleSpec(self.authenticated)] if self.own_auth else []
        return [RoleSpec(self.owner), RoleSpec(self.anon), *own, RoleSpec(self.service)]

    def api_roles(self) -> list[str]:
        """Roles the APIs switch to for this project's keys and users: each gets USAGE on the schema."""
        return [self.anon, self.authenticated, self.service]

    def authenticator_members(self) -> list[str]:
        """The project's own API roles, granted to authenticator (the shared `authenticated` already is)."""
        return [r for r in self.api_roles() if r != SHARED_AUTHENTICATED]

    def api_role_kinds(self) -> list[tuple[str, str]]:
        """(role, kind) of the project's own API roles, as the registry records them for the storage
        and realtime policies; the shared `authenticated` belongs to no single project."""
        kinds = [(self.anon, "anon"), (self.authenticated, "authenticated"), (self.service, "service")]
        return [(role, kind) for role, kind in kinds if role != SHARED_AUTHENTICATED]

    def default_privileges(self) -> list[DefaultPrivilegeSpec]:
        """Tables the owner creates later (Studio, psql) stay reachable by the service key."""
        return [DefaultPrivilegeSpec(self.owner, self.schema, self.service, "table",
                                     ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"))]
