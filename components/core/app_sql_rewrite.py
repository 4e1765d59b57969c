"""A Supabase app's migration file, rewritten onto one project on PostgreSQL's parse tree.

Each statement of the file is parsed by pglast (libpg_query, PostgreSQL's own parser) and
sorted into one of four kinds before anything runs:

* run as the project's owner, its names mapped (components/core/app_names.py: `public` ->
  the project's schema, `auth.users` -> its user pool, the app's roles -> the project's),
  written back with pglast's deparser;
* routed to a superuser step this program already reviews: a trigger on the user pool's
  `users`, a table added to the `supabase_realtime` publication (the project's
  `published` tables), a policy on `storage.objects` (built and checked by
  components/core/template_policies.py like a template's policies.json), a row inserted into
  `storage.buckets` (the project's buckets);
* skipped, because the stack already holds it: `create extension if not exists` of an
  extension the supabase/postgres image installs, `create extension [if not exists] X [with
  schema extensions]` of an X the operator lists in the stack config's `extensions` (installed
  by the superuser, components/core/extensions.py), ownership changes to the image's roles,
  dropping the publication a migration then recreates;
* refused, with the file, line, statement and what to change: anything else that reaches
  outside the project (other schemas, extensions, `alter system`, roles, event triggers,
  other publications).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from components.core import template_policies
from components.core.app_body_rewrite import rewrite_body
from components.core.app_names import SHARED_FUNCTION_SCHEMAS, Mapper
from components.core.naming import ProjectNames

# What the supabase/postgres image installs in `extensions` before any app runs.
IMAGE_EXTENSIONS = frozenset({"uuid-ossp", "pgcrypto", "pgjwt", "pg_stat_statements", "pg_graphql", "supabase_vault"})
IMAGE_ROLES = frozenset({"postgres", "supabase_admin", "anon", "authenticated", "service_role"})
REFUSED = {
    "AlterSystemStmt": "server settings are the stack's; remove this statement",
    "CreateRoleStmt": "a project has exactly its own roles (<p>_anon, <p>_authenticated, <p>_service); remove it",
    "AlterRoleStmt": "a project's roles are managed by the stack; remove this statement",
    "DropRoleStmt": "a project's roles are managed by the stack; remove this statement",
    "GrantRoleStmt": "role membership is the stack's; grant privileges on objects instead",
    "CreateEventTrigStmt": "event triggers act on the whole database; remove this statement",
    "CreateSchemaStmt": "a project has one schema; create the objects in it (the app's `public`)",
    "CreatePublicationStmt": "only the Realtime publication `supabase_realtime` is known here",
    "AlterPublicationStmt": "only the Realtime publication `supabase_realtime` is known here",
    "CreateForeignServerStmt": "foreign servers reach outside the project; remove this statement",
    "LoadStmt": "loading libraries is the stack's; remove this statement",
}

# Why a statement may not write the user pool, not even routed to a superuser step: the pool's
# tables are GoTrue's (their columns follow its migrations, a 32-column insert fits one GoTrue
# version), and its rows are what its tokens trust (`role` becomes the JWT's role claim,
# `raw_app_meta_data` what policies read as app_metadata, `encrypted_password` a login). A
# seed's test user with a known password would be a live account of a deployed project.
POOL_WRITE = ("the user pool is GoTrue's: only a foreign key may reference auth.users; create users through the "
              "project's auth API (sign-up, or POST <project URL>/auth/v1/admin/users with its service key: the "
              "app's triggers on auth.users then run), or turn the seed off (`projects[].seed: false` in the stack config)")
POOL_READ = ("the user pool is GoTrue's: only a foreign key may reference auth.users; read users through the "
             "project's auth API, or a trigger on auth.users that copies what the app needs into its tables")


class AppSqlRefused(Exception):
    """Statements of an app that cannot run in its project; one line each: file, line, statement, fix."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Rewritten:
    """One file, sorted: `owner_sql` runs as the project's owner; the rest goes to superuser steps."""

    owner_sql: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    buckets: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


NEWLINE = b"\n"


def _error_line(text: str, err: pglast.parser.ParseError) -> str:
    """`:N`, the line of the parser's error position (its second argument, a byte index), so the
    refusal names file and line as every other refusal does; empty if the parser gave none."""
    where = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], int) else None
    return "" if where is None else f":{text.encode()[:where].count(NEWLINE) + 1}"


def rewrite_file(label: str, text: str, names: ProjectNames, extensions: Iterable[str] = ()) -> Rewritten:
    """Every statement of `text` sorted and mapped; AppSqlRefused lists each one refused.
    `extensions`: the stack config's allowed extensions (an app's `create extension` of one is a no-op)."""
    allowed = frozenset(extensions)
    try:
        statements = pglast.parse_sql(text)
    except pglast.parser.ParseError as err:
        raise AppSqlRefused([f"{label}{_error_line(text, err)}: not SQL PostgreSQL parses ({err})"]) from None
    data, found, problems = text.encode(), Rewritten(), []
    for raw in statements:
        line = data[:raw.stmt_location].count(b"\n") + 1 + _leading_lines(data, raw)
        shown = _shown(data, raw)
        try:
            _sort(raw.stmt, names, found, shown, allowed)
        except _Refused as why:
            problems.append(f"{label}:{line}: `{shown}`: {why}")
    if problems:
        raise AppSqlRefused(problems)
    return found


class _Refused(Exception):
    pass


def _leading_lines(data: bytes, raw: ast.RawStmt) -> int:
    """Lines of comments and blanks before the statement's first word (libpg_query's location
    starts right after the previous statement's semicolon)."""
    body = data[raw.stmt_location:raw.stmt_location + (raw.stmt_len or len(data))]
    try:
        tokens = pglast.parser.scan(body.decode())
    except pglast.parser.ParseError:
        return 0
    first = next((t for t in tokens if t.name not in ("SQL_COMMENT", "C_COMMENT")), None)
    return body[:first.start].count(b"\n") if first else 0


def _shown(data: bytes, raw: ast.RawStmt) -> str:
    body = data[raw.stmt_location:raw.stmt_location + (raw.stmt_len or len(data))].decode(errors="replace")
    words = " ".join(line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("--"))
    return words if len(words) <= 100 else words[:97] + "..."


def _sort(stmt: ast.Node, names: ProjectNames, found: Rewritten, shown: str, allowed: frozenset = frozenset()) -> None:
    kind = type(stmt).__name__
    if kind == "CreateExtensionStmt":
        _extension(stmt, allowed)
        found.skipped.append(shown)
        return
    if _skipped(stmt):
        found.skipped.append(shown)
        return
    if kind in ("CreatePublicationStmt", "AlterPublicationStmt") and stmt.pubname == "supabase_realtime":
        found.published += _published_tables(stmt, names)
        return
    if kind in REFUSED:
        raise _Refused(REFUSED[kind])
    mapper = Mapper(names)
    if kind == "CreateTrigStmt" and _relation(stmt.relation) == ("auth", "users"):
        mapper.walk(stmt)
        _own_function(stmt.funcname, names, "a trigger on the user pool must call a function of the project")
        found.triggers.append(RawStream()(stmt))
        return
    if kind == "CreatePolicyStmt" and _relation(stmt.table) in (("storage", "objects"), ("storage", "buckets")):
        found.policies.append(_storage_policy(stmt, names, mapper))
        return
    if kind == "InsertStmt" and _relation(stmt.relation) == ("storage", "buckets"):
        found.buckets += _bucket_rows(stmt)
        return
    if kind == "CreateFunctionStmt":
        _function(stmt, names)
    mapper.walk(stmt)
    _inside(mapper, names)
    if kind not in ("CreateStmt", "AlterTableStmt") and any(s == names.auth_schema for s, _ in mapper.tables):
        raise _Refused(POOL_WRITE if kind in ("InsertStmt", "UpdateStmt", "DeleteStmt") else POOL_READ)
    found.owner_sql.append(RawStream()(stmt))


def _skipped(stmt: ast.Node) -> bool:
    """What the stack already holds: an image extension, the image's owners, the publication
    a migration drops to recreate."""
    kind = type(stmt).__name__
    if kind == "AlterOwnerStmt":
        return isinstance(stmt.newowner, ast.RoleSpec) and stmt.newowner.rolename in IMAGE_ROLES
    if kind == "AlterTableStmt":
        return all(c.subtype == enums.AlterTableType.AT_ChangeOwner and c.newowner.rolename in IMAGE_ROLES
                   for c in stmt.cmds)
    if kind == "DropStmt" and stmt.removeType == enums.ObjectType.OBJECT_PUBLICATION:
        return all(isinstance(o, ast.String) and o.sval == "supabase_realtime" for o in stmt.objects)
    if kind == "CommentStmt" and stmt.objtype == enums.ObjectType.OBJECT_SCHEMA:
        return isinstance(stmt.object, ast.String) and stmt.object.sval == "public"
    return False


def _extension(stmt: ast.CreateExtensionStmt, allowed: frozenset) -> None:
    """`create extension` is a no-op when the stack holds the extension where Supabase keeps it:
    one the image installs (`if not exists`), or one the operator allows, in schema `extensions`
    (or the app's `public`, whose names it then finds on the search_path)."""
    options = {o.defname: o.arg for o in stmt.options or ()}
    schema = getattr(options.get("schema"), "sval", None)
    if stmt.extname in IMAGE_EXTENSIONS and stmt.if_not_exists and set(options) <= {"schema"}:
        return
    if stmt.extname not in allowed:
        raise _Refused(f"extensions are the stack's: add {stmt.extname} to `extensions` in the stack config "
                       "(the superuser installs it in schema `extensions`), or remove this statement")
    # `with schema public`: the app's own schema is the project's, and an extension is one per
    # database, so it stays in `extensions`, on every search_path: its unqualified names resolve.
    if set(options) - {"schema"} or schema not in (None, "extensions", "public"):
        raise _Refused(f"{stmt.extname} is installed in schema `extensions`; write `create extension if not "
                       f"exists {stmt.extname} with schema extensions`")


def _relation(node: Optional[ast.RangeVar]) -> tuple[str, str]:
    return (node.schemaname or "", node.relname) if node is not None else ("", "")


def _published_tables(stmt: ast.Node, names: ProjectNames) -> list[str]:
    if type(stmt).__name__ == "AlterPublicationStmt" and stmt.action != enums.AlterPublicationAction.AP_AddObjects:
        raise _Refused("only adding tables to supabase_realtime is routed here; remove the statement")
    if getattr(stmt, "for_all_tables", False):
        raise _Refused("a publication of all tables would publish other projects' tables; list the app's tables")
    tables = []
    for obj in stmt.pubobjects or ():
        relation = obj.pubtable.relation if obj.pubtable is not None else None
        if relation is None or (relation.schemaname or "public") != "public":
            raise _Refused("only the app's own tables (in `public`) can be published; name them")
        tables.append(relation.relname)
    return tables


def _own_function(funcname: tuple, names: ProjectNames, why: str) -> None:
    schema = funcname[0].sval if len(funcname) == 2 else names.schema
    if schema != names.schema:
        raise _Refused(f"{why} ({names.schema}.<function>); create the function in `public` first")


def _storage_policy(stmt: ast.CreatePolicyStmt, names: ProjectNames, mapper: Mapper) -> dict[str, Any]:
    """The app's policy as a template policy: the project's roles, its bucket ids, checked by
    template_policies (the superuser creates it)."""
    table = f"storage.{stmt.table.relname}"
    roles = [r.rolename or "public" for r in stmt.roles or ()] or ["public"]  # no TO: PUBLIC
    abstract = {"anon": "anon", "authenticated": "authenticated", "service_role": "service"}
    if "public" in roles:  # `to public` (the default): every role of the project
        roles = ["anon", "authenticated", "service_role"]
    if set(roles) - set(abstract):
        raise _Refused(f"a storage policy may name only anon, authenticated and service_role, not {roles}")
    BucketIds(names).walk(stmt)
    Qualified(names).walk(stmt)
    mapper.walk(stmt)
    mapper.tables.discard(("storage", stmt.table.relname))
    _inside(mapper, names)
    using = RawStream()(stmt.qual) if stmt.qual is not None else None
    check = RawStream()(stmt.with_check) if stmt.with_check is not None else None
    name = _policy_name(stmt.policy_name)
    command = stmt.cmd_name
    if command not in template_policies.COMMANDS[table]:
        raise _Refused(f"a {command} policy on {table} is not one a project may add")
    full = names.policy_prefix + name
    own_roles = [mapper.roles[r] for r in roles if not (r == "authenticated" and not names.own_auth)]
    statement = template_policies.build(table, full, "permissive" if stmt.permissive else "restrictive", command,
                                        own_roles, using, check)
    policy = {"table": table, "name": full, "as": "permissive" if stmt.permissive else "restrictive",
              "command": command, "roles": own_roles, "using": using, "check": check, "statement": statement,
              "comment": template_policies.COMMENT_PREFIX + _digest(statement)}
    try:
        template_policies.verify(policy, names)
    except template_policies.PolicyError as err:
        raise _Refused(f"{err}") from None
    return policy


def _policy_name(name: str) -> str:
    """An app's policy name ("Avatar images are publicly accessible.") as a template policy name."""
    import hashlib
    import re

    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40] or "policy"
    if not slug[0].isalpha():
        slug = "p_" + slug
    return f"{slug}_{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def _digest(statement: str) -> str:
    import hashlib

    return hashlib.sha256(statement.encode()).hexdigest()[:16]


class BucketIds(Mapper):
    """In a storage policy, `bucket_id = 'avatars'`: the app's bucket name is the project's bucket id."""

    def _A_Expr(self, node: ast.A_Expr) -> None:
        from components.core.buckets import bucket_id

        sides = (node.lexpr, node.rexpr)
        if not any(isinstance(s, ast.ColumnRef) and s.fields and getattr(s.fields[-1], "sval", None)
                   in ("bucket_id", "id") for s in sides):
            return
        for attr in ("lexpr", "rexpr"):
            value = getattr(node, attr)
            if isinstance(value, ast.TypeCast):
                value = value.arg
            if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String):
                setattr(node, attr, ast.A_Const(isnull=False, val=ast.String(
                    sval=bucket_id(self.names.project, value.val.sval))))


class Qualified(Mapper):
    """In a storage policy, the app's own tables it names unqualified (`exists (select 1 from chats ...)`)
    qualified with the project's schema: the superuser creates the policy, outside the owner's search_path."""

    def _RangeVar(self, node: ast.RangeVar) -> None:
        if not node.schemaname:
            node.schemaname = "public"  # the app's schema, which the mapper then maps onto the project's


def _bucket_rows(stmt: ast.InsertStmt) -> list[dict[str, Any]]:
    """`insert into storage.buckets (id, name, public) values (...)`: the app's buckets, by name."""
    columns = [c.name for c in stmt.cols or ()]
    select = stmt.selectStmt
    if not columns or select is None or not select.valuesLists:
        raise _Refused("insert buckets as `insert into storage.buckets (id, name, public) values (...)`, "
                       "or declare them in config.toml [storage.buckets.<name>]")
    rows = []
    for values in select.valuesLists:
        row = {}
        for column, value in zip(columns, values):
            row[column] = _value(value)
        name = row.get("name") or row.get("id")
        if not isinstance(name, str):
            raise _Refused("a bucket needs its name as a string constant")
        rows.append({"name": name, "public": bool(row.get("public") or False)})
    return rows


def _value(node: Any) -> Any:
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const):
        val = node.val
        return getattr(val, "sval", None) if isinstance(val, ast.String) else getattr(val, "boolval", None)
    return None


def _function(stmt: ast.CreateFunctionStmt, names: ProjectNames) -> None:
    """The body mapped on its tokens (app_body_rewrite.py); a security definer function without
    its own search_path gets the project's, so it resolves its names in the project whoever calls it."""
    from components.core.config.rules import RESERVED_SCHEMAS  # config imports this module

    options = list(stmt.options or ())
    definer = any(o.defname == "security" and getattr(o.arg, "boolval", False) for o in options)
    has_path = any(o.defname == "set" and getattr(o.arg, "name", None) == "search_path" for o in options)
    for option in options:
        if option.defname == "as" and isinstance(option.arg, tuple) and option.arg:
            body, schemas = rewrite_body(option.arg[0].sval, names)
            # A qualifier in PL/pgSQL may be a record variable (`new.id`, `result.status`): what is
            # refused is a schema of the stack's services, which the owner's privileges do not cover.
            outside = (schemas & RESERVED_SCHEMAS) - {names.schema, names.auth_schema} - SHARED_FUNCTION_SCHEMAS
            if outside and definer:
                raise _Refused(f"a security definer function may reach only the project; its body names "
                               f"{', '.join(sorted(outside))}")
            option.arg = (ast.String(sval=body), *option.arg[1:])
    if definer and not has_path:
        options.append(ast.DefElem(defname="set", arg=ast.VariableSetStmt(
            kind=enums.VariableSetKind.VAR_SET_VALUE, name="search_path",
            args=(ast.A_Const(isnull=False, val=ast.String(sval="public")),), is_local=False)))
    stmt.options = tuple(options)


def _inside(mapper: Mapper, names: ProjectNames) -> None:
    """After mapping, a statement may name only its project's tables (and its user pool's
    `users`, which its tables reference) and the shared functions."""
    tables = {s for s, _ in mapper.tables} - {"", names.schema}
    pool = {(s, t) for s, t in mapper.tables if s == names.auth_schema}
    if tables - {names.auth_schema} or any(t != "users" for _, t in pool):
        outside = sorted({f"{s}.{t}" for s, t in mapper.tables if s not in ("", names.schema)})
        raise _Refused(f"names {', '.join(outside)}, outside the project: an app may use its own schema "
                       "(`public`) and reference auth.users only; move the object into `public`")
    functions = mapper.functions - {names.schema, "storage"} - SHARED_FUNCTION_SCHEMAS
    if functions:
        raise _Refused(f"calls functions of {', '.join(sorted(functions))}, outside the project")
