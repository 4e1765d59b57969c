"""Stand-in for pulumi-resource-postgresql (pulumi-postgresql 3.x, which bridges
terraform-provider-postgresql): the real SQL, on the real database, statement for statement.

Each operation runs the statements terraform-provider-postgresql runs for it, in the same
transaction boundaries and order (github.com/cyrilgdn/terraform-provider-postgresql at
ff936b9, read for this file; no code copied):
- Role: postgresql/resource_postgresql_role.go. Create: `CREATE ROLE .. WITH [ENCRYPTED
  PASSWORD ..] VALID UNTIL 'infinity' CONNECTION LIMIT n [NO]SUPERUSER [NO]CREATEDB
  [NO]CREATEROLE [NO]INHERIT [NO]LOGIN [NO]BYPASSRLS [NO]REPLICATION`, then GRANT of `roles`,
  `ALTER ROLE .. SET search_path TO ..|DEFAULT` (always), statement and idle timeouts when
  set. Delete (pgLockRole in helpers.go, then): `REASSIGN OWNED BY .. TO <provider user>`,
  `DROP OWNED BY ..`, `DROP ROLE ..`.
- Schema: resource_postgresql_schema.go. Create: `CREATE SCHEMA [IF NOT EXISTS] .. AUTHORIZATION
  ..` when the name is free, else `ALTER SCHEMA .. OWNER TO ..`. Delete: nothing when the
  schema is gone, else `DROP SCHEMA .. RESTRICT|CASCADE`.
- GrantRole: resource_postgresql_grant_role.go: `REVOKE g FROM r; GRANT g TO r [WITH ADMIN
  OPTION]` in one transaction; delete `REVOKE g FROM r`.
- Grant: resource_postgresql_grant.go (createGrantQuery, createRevokeQuery): `REVOKE ALL
  PRIVILEGES ON SCHEMA|DATABASE .. FROM r; GRANT p,.. ON .. TO r`; delete the REVOKE.
- DefaultPrivileges: resource_postgresql_default_privileges.go: `ALTER DEFAULT PRIVILEGES FOR
  ROLE o [IN SCHEMA s] REVOKE ALL ON <TYPE>S FROM r`, then `.. GRANT p,.. ON <TYPE>S TO r`.
Ids are built as the provider builds them (generateGrantID and the like). Only the object
types this program uses are stood in; another one fails loudly.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Optional

import psycopg
from psycopg import sql

from tests.providers.server import ProviderError, ResourceType, StandIn, serve

ROLE_DEFAULTS = {"superuser": False, "createDatabase": False, "createRole": False, "inherit": True, "login": False,
                 "replication": False, "bypassRowLevelSecurity": False, "connectionLimit": -1,
                 "encryptedPassword": True, "validUntil": "infinity", "skipDropRole": False,
                 "skipReassignOwned": False, "searchPaths": [], "roles": [], "statementTimeout": 0,
                 "idleInTransactionSessionTimeout": 0, "assumeRole": ""}
ROLE_FLAGS = [("superuser", "SUPERUSER"), ("createDatabase", "CREATEDB"), ("createRole", "CREATEROLE"),
              ("inherit", "INHERIT"), ("login", "LOGIN"), ("bypassRowLevelSecurity", "BYPASSRLS"),
              ("replication", "REPLICATION")]
I = sql.Identifier


class Sql(ResourceType):
    """A postgresql resource: one connection per operation, as the provider's db client."""

    @contextmanager
    def transaction(self, database: Optional[str] = None) -> Iterator[psycopg.Connection]:
        c = self.plugin.config
        try:
            conn = psycopg.connect(host=c.get("host"), port=int(float(c.get("port", 5432))), user=c.get("username"),
                                   password=c.get("password"), dbname=database or c.get("database", "postgres"),
                                   sslmode=c.get("sslmode") or c.get("sslMode") or "prefer", connect_timeout=15,
                                   application_name="terraform-provider-postgresql stand-in")
        except psycopg.OperationalError as err:
            raise ProviderError(f"error connecting to PostgreSQL server {c.get('host')}: {err}") from None
        try:
            with conn, conn.transaction():
                yield conn
        except psycopg.Error as err:
            raise ProviderError(str(err).strip()) from None
        finally:
            conn.close()

    @staticmethod
    def lock_role(conn: psycopg.Connection, role: str) -> None:
        """helpers.go pgLockRole."""
        conn.execute("SET statement_timeout = 0")
        conn.execute("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_roles WHERE rolname = %s", (role,))
        conn.execute("SELECT pg_advisory_xact_lock(member::bigint) FROM pg_auth_members JOIN pg_roles "
                     "ON roleid = pg_roles.oid WHERE rolname = %s", (role,))

    def database(self, inputs: dict[str, Any]) -> str:
        return inputs.get("database") or self.plugin.config.get("database", "postgres")


class Role(Sql):
    UPDATABLE = frozenset(ROLE_DEFAULTS) | {"name", "password"}

    @staticmethod
    def _search_path(conn, name: str, paths: list[str]) -> None:
        target = sql.SQL(", ").join(map(I, paths)) if paths else sql.SQL("DEFAULT")
        conn.execute(sql.SQL("ALTER ROLE {} SET search_path TO {}").format(I(name), target))

    def create(self, inputs):
        p = {**ROLE_DEFAULTS, **inputs}
        opts = []
        if p.get("password"):
            opts.append(sql.SQL("ENCRYPTED PASSWORD {}" if p["encryptedPassword"] else "UNENCRYPTED PASSWORD {}")
                        .format(sql.Literal(p["password"])))
        opts.append(sql.SQL("VALID UNTIL {}").format(sql.Literal(p["validUntil"] or "infinity")))
        opts.append(sql.SQL("CONNECTION LIMIT {}").format(sql.Literal(int(p["connectionLimit"]))))
        opts += [sql.SQL(word if p[key] else f"NO{word}") for key, word in ROLE_FLAGS]
        with self.transaction() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} WITH {}").format(I(p["name"]), sql.SQL(" ").join(opts)))
            for granted in p["roles"]:
                conn.execute(sql.SQL("GRANT {} TO {}").format(I(granted), I(p["name"])))
            self._search_path(conn, p["name"], p["searchPaths"])
            for key, setting in (("statementTimeout", "statement_timeout"),
                                 ("idleInTransactionSessionTimeout", "idle_in_transaction_session_timeout")):
                if p[key]:
                    conn.execute(sql.SQL("ALTER ROLE {} SET {} TO {}").format(
                        I(p["name"]), sql.SQL(setting), sql.Literal(int(p[key]))))
            if p["assumeRole"]:
                conn.execute(sql.SQL("ALTER ROLE {} SET ROLE TO {}").format(I(p["name"]), I(p["assumeRole"])))
        return p["name"], p

    def read(self, id_, st, inputs):
        with self.transaction() as conn:
            row = conn.execute("SELECT rolcanlogin, rolbypassrls, rolconnlimit, rolinherit FROM pg_roles "
                               "WHERE rolname = %s", (id_,)).fetchone()
        if row is None:
            return None
        return {**st, "login": row[0], "bypassRowLevelSecurity": row[1], "connectionLimit": row[2], "inherit": row[3]}

    def update(self, id_, st, old_inputs, news):
        p, old = {**ROLE_DEFAULTS, **news}, {**ROLE_DEFAULTS, **old_inputs}
        name = p["name"]
        with self.transaction() as conn:
            if old["name"] != name:
                conn.execute(sql.SQL("ALTER ROLE {} RENAME TO {}").format(I(old["name"]), I(name)))
            if old.get("password") != p.get("password"):
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(I(name), sql.Literal(p.get("password"))))
            for key, word in ROLE_FLAGS:
                if old[key] != p[key]:
                    conn.execute(sql.SQL("ALTER ROLE {} WITH {}").format(I(name), sql.SQL(word if p[key] else f"NO{word}")))
            if old["connectionLimit"] != p["connectionLimit"]:
                conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                    I(name), sql.Literal(int(p["connectionLimit"]))))
            if old["searchPaths"] != p["searchPaths"]:
                self._search_path(conn, name, p["searchPaths"])
        return p

    def delete(self, id_, st):
        name, user = st["name"], self.plugin.config.get("username")
        with self.transaction() as conn:
            self.lock_role(conn, name)
            if not st.get("skipReassignOwned"):
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(I(name), I(user)))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(I(name)))
            if not st.get("skipDropRole"):
                conn.execute(sql.SQL("DROP ROLE {}").format(I(name)))


class Schema(Sql):
    UPDATABLE = frozenset({"name", "owner", "ifNotExists", "dropCascade", "policies"})

    def create(self, inputs):
        p = {"ifNotExists": True, "dropCascade": False, **inputs}
        database = self.database(p)
        with self.transaction(database) as conn:
            found = conn.execute("SELECT TRUE FROM pg_catalog.pg_namespace WHERE nspname = %s", (p["name"],)).fetchone()
            if found:
                conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(I(p["name"]), I(p["owner"])))
            else:
                conn.execute(sql.SQL("CREATE SCHEMA {}{}{}").format(
                    sql.SQL("IF NOT EXISTS ") if p["ifNotExists"] else sql.SQL(""), I(p["name"]),
                    sql.SQL(" AUTHORIZATION {}").format(I(p["owner"])) if p.get("owner") else sql.SQL("")))
        return f"{database}.{p['name']}", {**p, "database": database}

    def read(self, id_, st, inputs):
        with self.transaction(st.get("database")) as conn:
            row = conn.execute("SELECT pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n "
                               "WHERE n.nspname = %s", (st["name"],)).fetchone()
        return None if row is None else {**st, "owner": row[0]}

    def update(self, id_, st, old_inputs, news):
        p = {**st, **news}
        with self.transaction(st.get("database")) as conn:
            if old_inputs.get("name") != p["name"]:
                conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(I(old_inputs["name"]), I(p["name"])))
            if old_inputs.get("owner") != p.get("owner"):
                conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(I(p["name"]), I(p["owner"])))
        return p

    def delete(self, id_, st):
        with self.transaction(st.get("database")) as conn:
            if not conn.execute("SELECT TRUE FROM pg_catalog.pg_namespace WHERE nspname = %s", (st["name"],)).fetchone():
                return  # archived or dropped by the project's SQL step already
            conn.execute(sql.SQL("DROP SCHEMA {} {}").format(
                I(st["name"]), sql.SQL("CASCADE" if st.get("dropCascade") else "RESTRICT")))


class GrantRole(Sql):
    def create(self, inputs):
        p = {"withAdminOption": False, **inputs}
        with self.transaction() as conn:
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(I(p["grantRole"]), I(p["role"])))
            conn.execute(sql.SQL("GRANT {} TO {}{}").format(I(p["grantRole"]), I(p["role"]), sql.SQL(
                " WITH ADMIN OPTION" if p["withAdminOption"] else "")))
        return f"{p['role']}_{p['grantRole']}_{str(p['withAdminOption']).lower()}", p

    def read(self, id_, st, inputs):
        with self.transaction() as conn:
            row = conn.execute("SELECT TRUE FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                               "JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = %s AND g.rolname = %s",
                               (st["role"], st["grantRole"])).fetchone()
        return st if row else None

    def delete(self, id_, st):
        with self.transaction() as conn:
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(I(st["grantRole"]), I(st["role"])))


def _target(p: dict[str, Any]) -> sql.Composable:
    kind = p["objectType"].upper()
    if kind == "SCHEMA":
        return sql.SQL("SCHEMA {}").format(I(p["schema"]))
    if kind == "DATABASE":
        return sql.SQL("DATABASE {}").format(I(p["database"]))
    raise ProviderError(f"postgresql stand-in: Grant object_type {p['objectType']!r} is not stood in")


class Grant(Sql):
    UPDATABLE = frozenset({"privileges", "withGrantOption"})

    def _grant(self, p: dict[str, Any], previous: dict[str, Any]) -> None:
        with self.transaction(p["database"]) as conn:
            self.lock_role(conn, p["role"])
            conn.execute(sql.SQL("REVOKE ALL PRIVILEGES ON {} FROM {}").format(_target(previous), I(p["role"])))
            if p["privileges"]:
                conn.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(
                    sql.SQL(",").join(map(sql.SQL, p["privileges"])), _target(p), I(p["role"]),
                    sql.SQL(" WITH GRANT OPTION" if p.get("withGrantOption") else "")))

    def create(self, inputs):
        p = {"withGrantOption": False, "objects": [], "columns": [], **inputs}
        if p["objectType"] not in ("database",) and not p.get("schema"):
            raise ProviderError("parameter 'schema' is mandatory for postgresql_grant resource")
        self._grant(p, p)
        parts = [p["role"], p["database"], *([p["schema"]] if p["objectType"] != "database" else []), p["objectType"]]
        return "_".join(parts), p

    def update(self, id_, st, old_inputs, news):
        p = {**st, **news}
        self._grant(p, {**st, **old_inputs})
        return p

    def read(self, id_, st, inputs):
        if st["objectType"] != "schema":
            return st
        with self.transaction(st["database"]) as conn:
            found = conn.execute("SELECT TRUE FROM pg_namespace WHERE nspname = %s", (st["schema"],)).fetchone()
        return st if found else None

    def delete(self, id_, st):
        with self.transaction(st["database"]) as conn:
            self.lock_role(conn, st["role"])
            conn.execute(sql.SQL("REVOKE ALL PRIVILEGES ON {} FROM {}").format(_target(st), I(st["role"])))


class DefaultPrivileges(Sql):
    @staticmethod
    def _statement(p: dict[str, Any], grant: bool) -> sql.Composable:
        in_schema = sql.SQL(" IN SCHEMA {}").format(I(p["schema"])) if p.get("schema") else sql.SQL("")
        kind = sql.SQL(p["objectType"].upper() + "S")
        if not grant:
            return sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE ALL ON {} FROM {}").format(
                I(p["owner"]), in_schema, kind, I(p["role"]))
        return sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} GRANT {} ON {} TO {}{}").format(
            I(p["owner"]), in_schema, sql.SQL(",").join(map(sql.SQL, p["privileges"])), kind, I(p["role"]),
            sql.SQL(" WITH GRANT OPTION" if p.get("withGrantOption") else ""))

    def create(self, inputs):
        p = {"withGrantOption": False, **inputs}
        if p.get("schema") and p["objectType"] == "schema":
            raise ProviderError("cannot specify `schema` when `object_type` is `schema`")
        with self.transaction(p["database"]) as conn:
            self.lock_role(conn, p["owner"])
            conn.execute(self._statement(p, grant=False))
            if p["privileges"]:
                conn.execute(self._statement(p, grant=True))
        id_ = "_".join([p["role"], p["database"], p.get("schema") or "noschema", p["owner"], p["objectType"]])
        return id_, p

    def read(self, id_, st, inputs):
        with self.transaction(st["database"]) as conn:
            found = conn.execute("SELECT TRUE FROM pg_roles WHERE rolname = %s", (st["owner"],)).fetchone()
        return st if found else None

    def delete(self, id_, st):
        with self.transaction(st["database"]) as conn:
            self.lock_role(conn, st["owner"])
            conn.execute(self._statement(st, grant=False))


TYPES = {
    "postgresql:index/role:Role": Role,
    "postgresql:index/schema:Schema": Schema,
    "postgresql:index/grantRole:GrantRole": GrantRole,
    "postgresql:index/grant:Grant": Grant,
    "postgresql:index/defaultPrivileges:DefaultPrivileges": DefaultPrivileges,
}

if __name__ == "__main__":
    serve(StandIn("postgresql", TYPES))
