"""A project's database names and privileges, declared once.

`components/project.py` turns these into pulumi-postgresql resources; the SQL tests turn
the same specs into the statements those resources run. One list, two readers.
"""
from __future__ import annotations

from dataclasses import dataclass

AUTHENTICATOR = "authenticator"  # the role PostgREST logs in as (supabase/postgres image)
DATABASE = "postgres"  # the one database of the stack; projects are schemas in it


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
    project: str

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
        """The role of the project's signed-in users (the `role` claim its GoTrue issues)."""
        return f"{self.project}_authenticated"

    @property
    def service(self) -> str:
        return f"{self.project}_service"

    @property
    def auth_schema(self) -> str:
        """The project's own GoTrue keeps its user pool here."""
        return f"{self.project}_auth"

    @property
    def auth_admin(self) -> str:
        return f"{self.project}_auth_admin"

    def context(self) -> dict[str, str]:
        """Template variables for sql/projects/*."""
        return {"project": self.project, "schema": self.schema, "owner": self.owner, "anon": self.anon,
                "authenticated": self.authenticated, "service": self.service, "auth_schema": self.auth_schema}

    def roles(self) -> list[RoleSpec]:
        """NOLOGIN roles. None bypasses RLS: the service key reaches every row of its own schema
        through a policy on each table (sql/projects/_finalize.sql.j2), while row level security
        keeps it to its own buckets and topics in the shared storage and realtime tables, where a
        BYPASSRLS role would see every project's rows."""
        return [RoleSpec(self.owner), RoleSpec(self.anon), RoleSpec(self.authenticated), RoleSpec(self.service)]

    def api_roles(self) -> list[str]:
        """Roles the APIs switch to for this project's keys and users: members of authenticator, schema usage."""
        return [self.anon, self.authenticated, self.service]

    def api_role_kinds(self) -> list[tuple[str, str]]:
        """(role, kind) of the API roles, as the registry records them for storage and realtime policies."""
        return [(self.anon, "anon"), (self.authenticated, "authenticated"), (self.service, "service")]

    def default_privileges(self) -> list[DefaultPrivilegeSpec]:
        """Tables the owner creates later (Studio, psql) stay reachable by the service key."""
        return [DefaultPrivilegeSpec(self.owner, self.schema, self.service, "table",
                                     ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"))]
