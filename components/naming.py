"""A project's database names and privileges, declared once.

`components/project.py` turns these into pulumi-postgresql resources; the SQL tests turn
the same specs into the statements those resources run. One list, two readers.
"""
from __future__ import annotations

from dataclasses import dataclass

AUTHENTICATOR = "authenticator"  # the role PostgREST logs in as (supabase/postgres image)
DATABASE = "postgres"  # the one database of the stack; projects are schemas in it
# How long one request of a project's API roles may run (`projects[].statementTimeout`):
# Supabase's own `authenticated` default, and what its `authenticator` login carries.
DEFAULT_STATEMENT_TIMEOUT = "8s"


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
    def service(self) -> str:
        return f"{self.project}_service"

    def context(self) -> dict[str, str]:
        """Template variables for sql/projects/*."""
        return {"project": self.project, "schema": self.schema, "owner": self.owner,
                "anon": self.anon, "service": self.service}

    def roles(self) -> list[RoleSpec]:
        """NOLOGIN roles; only the service role bypasses RLS, and it can reach this schema only."""
        return [RoleSpec(self.owner), RoleSpec(self.anon), RoleSpec(self.service, bypass_rls=True)]

    def api_roles(self) -> list[str]:
        """Roles PostgREST switches to for this project's keys: members of authenticator, schema usage."""
        return [self.anon, self.service]

    def default_privileges(self) -> list[DefaultPrivilegeSpec]:
        """Tables the owner creates later (Studio, psql) stay reachable by the service key."""
        return [DefaultPrivilegeSpec(self.owner, self.schema, self.service, "table",
                                     ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"))]
