"""DatabasePasswords: the running Postgres takes postgresPassword before any service gets it.

Changing `postgresPassword` after the first `up` changes every service's env, but the
database set its role passwords only when its volume was initialised. This resource
connects with the password it recorded in the state (or the new one, if a previous run
got that far), sets the new one on the stack's login roles in one transaction, and the
provider, the bootstrap and every service container depend on it: none of them starts
with a password the database does not have yet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
from psycopg.conninfo import make_conninfo
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from components.core import role_passwords
from components.providers.dynamic_base import BaseProvider

RESOURCE_ID = "stack-role-passwords"


def conninfo(props: dict[str, Any]) -> str:
    """The admin connection without its password (passed separately, never in a DSN string)."""
    return make_conninfo(host=props["host"], port=str(props["port"]), user=props["user"], dbname=props["database"],
                         sslmode="disable", application_name="supabase-multi-instance")


class DatabasePasswordsProvider(BaseProvider):
    """Create sets the password too (idempotent); update passes the recorded one; delete keeps the roles."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        role_passwords.apply(conninfo(props), props["password"], internal_database=props["internal_database"])
        return CreateResult(RESOURCE_ID, props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        role_passwords.apply(conninfo(news), news["password"], olds.get("password"),
                             internal_database=news["internal_database"])
        return UpdateResult(news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class DatabasePasswordsArgs:
    host: str
    port: int
    user: str
    database: str
    internal_database: str
    password: pulumi.Input[str]


class DatabasePasswords(Resource, module="supabase", name="DatabasePasswords"):
    """The stack's login roles (role_passwords.STACK_PASSWORD_ROLES) have `password` in the live database."""

    def __init__(self, name: str, args: DatabasePasswordsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props = {"host": args.host, "port": args.port, "user": args.user, "database": args.database,
                 "internal_database": args.internal_database, "password": pulumi.Output.secret(args.password)}
        super().__init__(DatabasePasswordsProvider(), name, props, opts)
