"""A template's own Storage and Realtime policies, declared in its `policies.json`.

Template SQL runs as the project's owner, which owns neither `storage.objects` nor
`realtime.messages`, so it cannot create policies there. A template declares them instead:

    {"storage.objects": [{"name": "team_reads_docs", "command": "select", "roles": ["authenticated"],
                          "using": "bucket_id = {{ buckets.docs | literal }}"}],
     "realtime.messages": [{"name": "anon_only_listens", "as": "restrictive", "command": "insert",
                            "roles": ["anon"], "check": "false"}]}

and the project's superuser-run SQL step (sql/projects/_template_policies.sql.j2) creates
them. Roles are the template's abstract ones, mapped to the project's; expressions render
in the migrations' sandbox with the template variables plus `buckets` (config name -> id)
and `topic_prefix`. Because the superuser runs CREATE POLICY with an expression the template
wrote, each statement is built here and parsed with PostgreSQL's own parser (pglast, i.e.
libpg_query): it must be exactly one CREATE POLICY on the declared table, for the declared
command and roles, with the declared expressions, and carry no comment, dollar quote or
semicolon; anything else is refused before it reaches the database.

Policies are named `<project>:<name>`: project names never contain `:`, so the prefix
names exactly one project's policies, and removal (a policy left out of the file, an
archived or dropped project) is exact.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import jinja2
import pglast
from psycopg import sql

from components.core.naming import ProjectNames
from components.core.sql_templates import TemplateRefused, render_text
from components.core.template_files import QuickstartError

FILE = "policies.json"
# The shared tables a template may add policies to, and the commands that mean something there:
# buckets are config-only (the project roles may only read them), Realtime reads and inserts.
COMMANDS = {
    "storage.objects": ("select", "insert", "update", "delete", "all"),
    "storage.buckets": ("select",),
    "realtime.messages": ("select", "insert", "all"),
}
ROLES = ("anon", "authenticated", "service")
KINDS = ("permissive", "restrictive")
KEYS = ("name", "as", "command", "roles", "using", "check")
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_NAME = 63  # Postgres identifiers
MAX_EXPRESSION = 4000
# The comment the SQL step writes on each policy: an unchanged statement is left alone.
COMMENT_PREFIX = "supabase-multi-instance template policy "
# Tokens an expression never needs and an injection does: a statement separator, comments, and
# dollar quotes (an SCONST token that starts with `$`).
REFUSED_TOKENS = {"ASCII_59": "a semicolon", "SQL_COMMENT": "a comment", "C_COMMENT": "a comment"}


class PolicyError(QuickstartError):
    """A template's policies.json is malformed or unsafe; the message names the file and key."""


@dataclass(frozen=True)
class Declared:
    """One entry of policies.json, as written (roles abstract, expressions unrendered)."""

    table: str
    index: int
    name: str
    kind: str
    command: str
    roles: tuple[str, ...]
    using: Optional[str]
    check: Optional[str]

    @property
    def where(self) -> str:
        return f"{self.table}[{self.index}]"


@functools.lru_cache(maxsize=None)
def load(template_dir: Path) -> tuple[Declared, ...]:
    """The template's declared policies (none without policies.json); PolicyError on bad structure."""
    path = Path(template_dir) / FILE
    if not path.is_file():
        return ()
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PolicyError(f"{path}: not JSON ({err})") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: must be an object whose keys are tables ({', '.join(COMMANDS)})")
    found: list[Declared] = []
    for table, entries in raw.items():
        if table not in COMMANDS:
            raise PolicyError(f"{path}: {table!r} is not a table a template may add policies to; "
                              f"one of {', '.join(COMMANDS)}")
        if not isinstance(entries, list):
            raise PolicyError(f"{path}: {table} must be a list of policies")
        found += [_declared(path, table, i, entry) for i, entry in enumerate(entries)]
    seen: set[tuple[str, str]] = set()
    for d in found:
        if (d.table, d.name) in seen:
            raise PolicyError(f"{path}: {d.where}.name: {d.name!r} is already used on {d.table}")
        seen.add((d.table, d.name))
    return tuple(found)


def _declared(path: Path, table: str, index: int, entry: Any) -> Declared:
    where = f"{path}: {table}[{index}]"
    if not isinstance(entry, dict):
        raise PolicyError(f"{where}: must be an object with keys {', '.join(KEYS)}")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise PolicyError(f"{where}.{unknown[0]}: unknown key; known keys: {', '.join(KEYS)}")
    name, kind, command = entry.get("name"), entry.get("as", "permissive"), entry.get("command")
    roles, using, check = entry.get("roles"), entry.get("using"), entry.get("check")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PolicyError(f"{where}.name: {name!r} must be 1-63 characters of a-z, 0-9 and _, starting with a letter")
    if kind not in KINDS:
        raise PolicyError(f"{where}.as: {kind!r} must be one of {', '.join(KINDS)}")
    if command not in COMMANDS[table]:
        raise PolicyError(f"{where}.command: {command!r} must be one of {', '.join(COMMANDS[table])} on {table}")
    if (not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles)
            or set(roles) - set(ROLES)):
        raise PolicyError(f"{where}.roles: {roles!r} must be a non-empty list of the template's roles "
                          f"{', '.join(ROLES)} (the project's <p>_anon, <p>_authenticated, <p>_service)")
    for key, value in (("using", using), ("check", check)):
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > MAX_EXPRESSION):
            raise PolicyError(f"{where}.{key}: must be one SQL expression as text (at most {MAX_EXPRESSION} characters)")
    if command == "insert" and using is not None:
        raise PolicyError(f"{where}.using: an insert policy has only `check` (the rows it lets in)")
    if command in ("select", "delete") and check is not None:
        raise PolicyError(f"{where}.check: a {command} policy has only `using` (the rows it lets be seen)")
    if using is None and check is None or command in ("select", "delete") and using is None \
            or command == "insert" and check is None:
        raise PolicyError(f"{where}: needs {'`check`' if command == 'insert' else '`using`'}"
                          f"{' and/or `check`' if command in ('update', 'all') else ''}")
    return Declared(table, index, name, kind, command, tuple(dict.fromkeys(roles)), using, check)


def for_project(template_dir: Path, names: ProjectNames, buckets: Sequence[dict[str, Any]] = (),
                template: str = "") -> list[dict[str, Any]]:
    """The template's policies for one project, rendered, built and checked: what its SQL step
    creates (`buckets` is components/core/buckets.spec() of its config). Computed once per
    program run for config validation and the project's resource alike."""
    ids = tuple((b["name"], b["id"]) for b in buckets)
    return [{**p, "roles": list(p["roles"])}
            for p in _for_project(Path(template_dir), names, ids, template or Path(template_dir).name)]


@functools.lru_cache(maxsize=4096)
def _for_project(folder: Path, names: ProjectNames, bucket_ids: tuple[tuple[str, str], ...],
                 template: str) -> tuple[dict[str, Any], ...]:
    context = names.context() | {"template": template, "buckets": dict(bucket_ids),
                                 "topic_prefix": f"{names.project}:"}
    return tuple(_policy(folder / FILE, folder, d, names, context) for d in load(folder))


def _policy(path: Path, folder: Path, d: Declared, names: ProjectNames, context: dict) -> dict[str, Any]:
    where = f"{path}: {d.where}"
    full_name = names.policy_prefix + d.name
    if len(full_name) > MAX_NAME:
        raise PolicyError(f"{where}.name: {d.name!r} is too long for project {names.project!r}: "
                          f"{full_name!r} must fit Postgres's {MAX_NAME} characters")
    roles = [_role(where, r, names) for r in d.roles]
    using = _expression(f"{where}.using", d.using, folder, context)
    check = _expression(f"{where}.check", d.check, folder, context)
    statement = build(d.table, full_name, d.kind, d.command, roles, using, check)
    policy = {"table": d.table, "name": full_name, "as": d.kind, "command": d.command, "roles": roles,
              "using": using, "check": check, "statement": statement,
              "comment": COMMENT_PREFIX + hashlib.sha256(statement.encode()).hexdigest()[:16]}
    try:
        verify(policy, names)
    except PolicyError as err:
        raise PolicyError(f"{where}: {err}") from None
    return policy


def _role(where: str, role: str, names: ProjectNames) -> str:
    if role == "authenticated" and not names.own_auth:
        raise PolicyError(
            f"{where}.roles: 'authenticated' is, for a project with auth.mode shared, the stack's shared "
            "`authenticated` role, which belongs to no one project: a template policy may name only the project's "
            "own roles; use auth.mode own for this project, or leave `authenticated` out of this policy")
    return {"anon": names.anon, "authenticated": names.authenticated, "service": names.service}[role]


def _expression(where: str, source: Optional[str], folder: Path, context: dict) -> Optional[str]:
    """The rendered expression, refused unless it is one expression that stays inside its parentheses."""
    if source is None:
        return None
    try:
        text = render_text(source, folder, **context).strip()
    except (TemplateRefused, jinja2.TemplateError, ValueError) as err:
        raise PolicyError(f"{where}: {source!r} does not render: {err}") from None
    problem = expression_problem(text)
    if problem:
        raise PolicyError(f"{where}: {text!r} {problem}")
    return text


def expression_problem(text: str) -> Optional[str]:
    """Why `text` cannot stand between the parentheses of USING (...) or WITH CHECK (...), or None.

    libpg_query's scanner reads it as Postgres would: a parenthesis inside a string constant is
    not one, and an unterminated string or quoted name is an error."""
    if not text or len(text) > MAX_EXPRESSION:
        return f"must be one SQL expression of at most {MAX_EXPRESSION} characters"
    problem, tokens = _scan(text)
    if problem:
        return problem
    depth = 0
    for token in tokens:
        depth += {"ASCII_40": 1, "ASCII_41": -1}.get(token.name, 0)
        if depth < 0:
            return "closes a parenthesis it did not open: it must be one expression"
    if depth:
        return "leaves a parenthesis open: it must be one expression"
    return None if tokens else "is empty"


def _scan(text: str) -> tuple[Optional[str], list]:
    """libpg_query's tokens of `text`, and why they are refused (a statement separator, a comment,
    a dollar quote: what an injection uses and an expression never needs), or None."""
    try:
        tokens = pglast.parser.scan(text)
    except pglast.parser.ParseError as err:
        return f"is not SQL ({err})", []
    data = text.encode()  # token offsets count bytes
    for token in tokens:
        if token.name in REFUSED_TOKENS:
            return f"contains {REFUSED_TOKENS[token.name]}: an expression never needs one", tokens
        if token.name == "SCONST" and data[token.start:token.start + 1] == b"$":
            return "contains a dollar-quoted string: write string constants in single quotes", tokens
    return None, tokens


def build(table: str, name: str, kind: str, command: str, roles: Sequence[str], using: Optional[str],
          check: Optional[str]) -> str:
    """The CREATE POLICY statement; names are quoted by psycopg, the table is one of COMMANDS."""
    if table not in COMMANDS:
        raise PolicyError(f"{table!r} is not a table a template may add policies to")
    head = sql.SQL("create policy {} on {} as {} for {} to {}").format(
        sql.Identifier(name), sql.SQL(table), sql.SQL(kind), sql.SQL(command),
        sql.SQL(", ").join(map(sql.Identifier, roles))).as_string(None)
    return head + (f" using ({using})" if using is not None else "") + (f" with check ({check})" if check is not None else "")


def verify(policy: dict[str, Any], names: ProjectNames) -> None:
    """`policy["statement"]` is exactly the one CREATE POLICY the other keys describe, for a table a
    template may use and this project's own roles only. Run again by the provider before the SQL
    step, on what the resource's inputs hold. PolicyError says what differs."""
    statement = policy.get("statement")
    if not isinstance(statement, str):
        raise PolicyError("the policy has no statement")
    problem, _ = _scan(statement)
    if problem:
        raise PolicyError(problem)
    try:  # the parse tree as JSON: an order of magnitude faster than pglast's Python nodes
        parsed = json.loads(pglast.parser.parse_sql_json(statement)).get("stmts") or []
    except pglast.parser.ParseError as err:
        raise PolicyError(f"is not a valid CREATE POLICY statement ({err})") from None
    if len(parsed) != 1 or set(parsed[0]["stmt"]) != {"CreatePolicyStmt"}:
        raise PolicyError(f"must be exactly one CREATE POLICY statement; it parses as {len(parsed)} statement(s)")
    stmt = parsed[0]["stmt"]["CreatePolicyStmt"]
    relation = stmt.get("table") or {}
    table = f"{relation.get('schemaname')}.{relation.get('relname')}"
    specs = [r.get("RoleSpec") or {} for r in stmt.get("roles") or ()]
    roles = [r.get("rolename") for r in specs]
    found = {
        "table": table if "catalogname" not in relation else None,
        "name": stmt.get("policy_name"),
        "as": "permissive" if stmt.get("permissive") else "restrictive",
        "command": stmt.get("cmd_name"),
        "roles": roles,
        "using": "qual" in stmt,
        "check": "with_check" in stmt,
    }
    wanted = {**{k: policy.get(k) for k in ("table", "name", "as", "command", "roles")},
              "using": policy.get("using") is not None, "check": policy.get("check") is not None}
    differs = sorted(k for k in wanted if found[k] != wanted[k])
    if differs:
        raise PolicyError(f"the statement does not say what the policy declares ({', '.join(differs)} differ): "
                          "an expression must not leave its parentheses")
    name = found["name"]
    if table not in COMMANDS or found["command"] not in COMMANDS[table]:
        raise PolicyError(f"{table} for {found['command']} is not a policy a template may add")
    prefix = names.policy_prefix
    if not name.startswith(prefix) or not NAME.fullmatch(name[len(prefix):]):
        raise PolicyError(f"{name!r} is not named {prefix}<name>")
    own = set(names.authenticator_members())
    if not roles or not set(roles) <= own or any(r.get("roletype") != "ROLESPEC_CSTRING" for r in specs):
        raise PolicyError(f"roles {roles!r}: a template policy may name only the project's own roles "
                          f"{', '.join(sorted(own))}")


def clear_caches() -> None:
    """Forget the files read so far (tests rewrite a template's policies.json within one process)."""
    load.cache_clear()
    _for_project.cache_clear()
