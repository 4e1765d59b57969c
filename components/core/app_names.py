"""How the names a Supabase app's SQL uses map onto one project, on PostgreSQL's parse tree.

An app written for Supabase's hosted platform names `public` for its data, `auth.users` for
its users and the roles `anon`, `authenticated`, `service_role`. Here each of them is the
project's own: its schema, its user pool (`<p>_auth`, or the stack's `auth` for
`auth.mode: shared`) and its roles (components/core/naming.py). This module rewrites the
nodes of one statement that name them, in place, and collects the schemas it still names,
so app_sql_rewrite.py can refuse a statement that reaches outside the project.

`auth.uid()`, `auth.role()`, `auth.jwt()` and `auth.email()` stay: they are the image's
shared functions that read the request's claims, whichever GoTrue signed them.
"""
from __future__ import annotations

from typing import Any

from pglast import ast

from components.core.naming import ProjectNames

APP_ROLES = ("anon", "authenticated", "service_role")
# Schemas a statement may still name once rewritten: the shared functions of `auth` and
# `extensions`, and pg_catalog's types and functions.
SHARED_FUNCTION_SCHEMAS = frozenset({"auth", "extensions", "pg_catalog"})


class Mapper:
    """Rewrites one project's names in parse-tree nodes; `schemas` collects what stays named."""

    def __init__(self, names: ProjectNames):
        self.names = names
        self.roles = {"anon": names.anon, "authenticated": names.authenticated, "service_role": names.service}
        self.tables: set[tuple[str, str]] = set()  # (schema, relation) of every RangeVar, rewritten
        self.functions: set[str] = set()  # schemas of called or named functions, rewritten

    def schema(self, name: str) -> str:
        return {"public": self.names.schema, "auth": self.names.auth_schema}.get(name, name)

    def walk(self, node: Any) -> Any:
        """The node with every name of the app mapped to the project's (nodes are changed in place)."""
        if isinstance(node, tuple):
            return tuple(self.walk(n) for n in node)
        if not isinstance(node, ast.Node):
            return node
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is not None:
            handler(node)
        for field in node:
            value = getattr(node, field)
            if isinstance(value, (ast.Node, tuple)):
                setattr(node, field, self.walk(value))
        return node

    # -- nodes that carry names ------------------------------------------------------

    def _RangeVar(self, node: ast.RangeVar) -> None:
        if node.schemaname:
            node.schemaname = self.schema(node.schemaname)
        self.tables.add((node.schemaname or "", node.relname))

    def _RoleSpec(self, node: ast.RoleSpec) -> None:
        if node.rolename in self.roles:
            node.rolename = self.roles[node.rolename]

    def _qualified(self, names: tuple, function: bool) -> tuple:
        """A dotted name (schema, object): `public` -> the project's schema; `auth.<table>` ->
        the user pool, but the shared `auth.*()` functions stay."""
        if len(names) < 2 or not isinstance(names[0], ast.String):
            return names
        first = names[0].sval
        if function and first == "auth":
            self.functions.add("auth")
            return names
        mapped = self.schema(first)
        if function:
            self.functions.add(mapped)
        return (ast.String(sval=mapped), *names[1:])

    def _FuncCall(self, node: ast.FuncCall) -> None:
        node.funcname = self._qualified(node.funcname, True)

    def _ObjectWithArgs(self, node: ast.ObjectWithArgs) -> None:
        node.objname = self._qualified(node.objname, True)

    def _CreateFunctionStmt(self, node: ast.CreateFunctionStmt) -> None:
        node.funcname = self._qualified(node.funcname, True)

    def _CreateTrigStmt(self, node: ast.CreateTrigStmt) -> None:
        node.funcname = self._qualified(node.funcname, True)

    def _TypeName(self, node: ast.TypeName) -> None:
        if node.names and len(node.names) == 2:
            node.names = self._qualified(node.names, False)

    def _GrantStmt(self, node: ast.GrantStmt) -> None:
        """`grant ... on all tables in schema public` and `grant usage on schema public`."""
        if node.targtype == 1 or node.objtype == 31:  # ACL_TARGET_ALL_IN_SCHEMA, OBJECT_SCHEMA
            node.objects = tuple(ast.String(sval=self.schema(s.sval)) if isinstance(s, ast.String) else s
                                 for s in node.objects or ())

    def _AlterDefaultPrivilegesStmt(self, node: ast.AlterDefaultPrivilegesStmt) -> None:
        for option in node.options or ():
            if option.defname == "schemas":
                option.arg = tuple(ast.String(sval=self.schema(s.sval)) for s in option.arg)

    def _A_Expr(self, node: ast.A_Expr) -> None:
        """`auth.role() = 'authenticated'`: a role name written as a string, compared with the role."""
        sides = (node.lexpr, node.rexpr)
        if not any(isinstance(s, ast.FuncCall) and _dotted(s.funcname) in ("auth.role", "current_role", "current_user")
                   for s in sides):
            return
        for attr in ("lexpr", "rexpr"):
            value = getattr(node, attr)
            if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String) and value.val.sval in self.roles:
                setattr(node, attr, ast.A_Const(isnull=False, val=ast.String(sval=self.roles[value.val.sval])))

    def _VariableSetStmt(self, node: ast.VariableSetStmt) -> None:
        """`set search_path = public` (a function's SET clause): the project's schema."""
        if node.name == "search_path":
            node.args = tuple(_string_const(self.schema(_const(a))) if _const(a) is not None else a
                              for a in node.args or ())


def _dotted(names: tuple) -> str:
    return ".".join(n.sval for n in names if isinstance(n, ast.String))


def _const(node: Any):
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return node.val.sval
    return None


def _string_const(value: str) -> ast.A_Const:
    return ast.A_Const(isnull=False, val=ast.String(sval=value))
