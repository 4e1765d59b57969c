"""The dashboard's model: the stack outputs, read defensively and vetted by `Sanitizer`.

Older or hand-edited outputs still render: a value of the wrong shape is skipped with a
warning instead of failing the build.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

from components.core.template_files import validate as validate_quickstart
from dashboard.bucket_model import Bucket, buckets as _buckets
from dashboard.cells_model import CellSummary, cells as cells_of
from dashboard.examples import Example, examples, realtime_example, requests_for, storage_example
from dashboard.key_filter import SECRET_PLACEHOLDER, Sanitizer, find_jwts

PROJECT_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
PUBLISHABLE_RE = re.compile(r"sb_publishable_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}")  # components/core/opaque_keys.py
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
# Secret outputs by contract: never read, whatever they hold.
IGNORED_OUTPUTS = ("serviceRoleKey", "projectServiceKeys")
PLACEHOLDER_API_URL = "https://YOUR-API-HOST"


class InputError(ValueError):
    """The outputs cannot be used at all (not an object, ...): the CLI exits with 2."""


@dataclass
class Column:
    name: str
    type: str


@dataclass
class Relation:
    name: str
    columns: list[Column]


@dataclass
class Project:
    name: str
    schema: str
    template: str
    url: str  # the one URL for createClient(url, key)
    rest_url: str
    auth_url: str
    anon_key: str | None
    anon_key_note: str
    hostname: str | None
    auth: AuthFacts
    publishable_key: str | None  # sb_publishable_...: the key apps use; anon_key is its legacy JWT
    tables: list[Relation]
    views: list[Relation]
    buckets: list[Bucket] = field(default_factory=list)
    realtime_tables: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    last_migration: str | None = None  # the template's newest migration file (what `up` applied)
    services: list[Service] = field(default_factory=list)  # its own GoTrue, or the stack's it signs in with
    cell: str | None = None  # the cell it runs in, on a deployment's merged dashboard (cells_model.py)

    @property
    def health_url(self) -> str:
        """The check that decides the project's health on the index: its GoTrue's."""
        return next((s.health_url for s in self.services if s.health_url), "")

    @property
    def migration_label(self) -> str:
        """`0002_project_users.sql.j2` -> `0002 project users`: short enough for a table cell."""
        if not self.last_migration:
            return ""
        stem = self.last_migration.split(".", 1)[0]
        return stem.replace("_", " ", 1).replace("_", " ")


@dataclass(frozen=True)
class AuthFacts:
    """How the project's users sign in, from the `auth` entry of its output."""

    mode: str = "own"
    signup: str = "open"
    autoconfirm: bool = True
    providers: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        pool = "its own users" if self.mode == "own" else "the stack's shared users"
        if self.signup == "closed":
            how = "sign-up closed (users are invited or created with the service key)"
        else:
            how = "sign-up open, " + ("confirmed automatically" if self.autoconfirm else "confirmed by e-mail")
        extra = f"; also {', '.join(self.providers)}" if self.providers else ""
        return f"{pool}: {how}{extra}"


@dataclass
class Service:
    name: str
    image: str | None
    health_url: str | None
    shared: bool = False  # a project's entry that is the stack's own service (shared auth)


@dataclass
class Site:
    stack: str
    built_at: datetime
    api_url: str | None
    studio_url: str | None
    dashboard_url: str | None
    anon_key: str | None
    projects: list[Project]
    services: list[Service]
    cells: list[CellSummary] = field(default_factory=list)

    @property
    def templates(self) -> list[str]:
        return sorted({p.template for p in self.projects})

    def count(self, **facts: str) -> int:
        """Projects whose auth mode (`mode=`) or template (`template=`) is the one given."""
        return sum(all((p.auth.mode if k == "mode" else getattr(p, k)) == v for k, v in facts.items())
                   for p in self.projects)

    @property
    def built_at_iso(self) -> str:
        return self.built_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def built_at_text(self) -> str:
        return self.built_at.strftime("%Y-%m-%d %H:%M UTC")


def _relations(value: Any, where: str, s: Sanitizer) -> list[Relation]:
    """Tables or views as `Relation`s; accepts bare names so older outputs still render."""
    value = s.items(value, where)
    relations = []
    for i, item in enumerate(value):
        spot = f"{where}[{i}]"
        raw_name = item.get("name") if isinstance(item, dict) else item
        name = s.text(raw_name, f"{spot}.name")
        if not name:
            s.warn(f"{spot}: no name, ignored")
            continue
        raw_columns = item.get("columns") if isinstance(item, dict) else None
        relations.append(Relation(name, _columns(raw_columns, f"{spot}.columns", s)))
    return relations


def _columns(value: Any, where: str, s: Sanitizer) -> list[Column]:
    """Columns as `Column`s; a column without a type still shows its name."""
    if not isinstance(value, list):
        return []
    columns = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            item = {"name": item}
        name = s.text(item.get("name"), f"{where}[{i}].name")
        if name:
            columns.append(Column(name, s.text(item.get("type"), f"{where}[{i}].type") or "?"))
    return columns


def _names(value: Any, where: str, s: Sanitizer) -> list[str]:
    """Plain table names (published tables); anything else is dropped with a warning."""
    value = s.items(value, where)
    names = [s.text(v, f"{where}[{i}]") for i, v in enumerate(value)]
    kept = [n for n in names if n and SCHEMA_RE.fullmatch(n)]
    if len(kept) != len(value):
        s.warn(f"{where}: ignored entries that are not table names")
    return kept


def _strip_rest(url: str | None) -> str | None:
    """The API base of a `.../rest/v1` URL: supabase clients want the base, not the REST path."""
    if url and url.rstrip("/").endswith("/rest/v1"):
        return url.rstrip("/")[: -len("/rest/v1")]
    return None


def _hostname(value: Any, where: str, s: Sanitizer) -> str | None:
    """A valid DNS name or None: it goes into URLs, so anything odd is refused."""
    text = s.text(value, where)
    if text is None:
        return None
    if not HOSTNAME_RE.fullmatch(text.lower()):
        s.warn(f"{where}: {text!r} is not a hostname, ignored")
        return None
    return text.lower()


def _anon_key(value: Any, name: str, where: str, s: Sanitizer) -> tuple[str | None, str]:
    """The project's anon key and, when there is none to show, the reason."""
    if value == SECRET_PLACEHOLDER:
        return None, "secret output: not shown (anon keys should be plain outputs)"
    key = s.text(value, where)
    if key is None:
        return None, "not available"
    tokens = find_jwts(key)
    if tokens:
        role = jwt.decode(tokens[0], options={"verify_signature": False}).get("role")
        if role not in (f"{name}_anon", "anon"):
            s.warn(f"{where}: role {role!r} is not {name}_anon; check the stack program")
    return key, ""


def _publishable_key(value: Any, where: str, s: Sanitizer) -> str | None:
    """The project's sb_publishable_ key, or None (older stacks have none)."""
    key = s.text(value, where)
    if key is not None and not PUBLISHABLE_RE.fullmatch(key):
        s.warn(f"{where}: {key[:20]!r}... is not an sb_publishable_ key, ignored")
        return None
    return key


def _auth_facts(value: Any, where: str, s: Sanitizer) -> AuthFacts:
    if not isinstance(value, dict):
        return AuthFacts()
    providers = value.get("providers") if isinstance(value.get("providers"), list) else []
    return AuthFacts(
        mode="shared" if value.get("mode") == "shared" else "own",
        signup="closed" if value.get("signup") == "closed" else "open",
        autoconfirm=value.get("autoconfirm") is not False,
        providers=tuple(p for p in (s.text(x, f"{where}.providers") for x in providers) if p and SCHEMA_RE.fullmatch(p)),
    )


def _quickstart(value: Any, where: str, s: Sanitizer) -> dict | None:
    """The template's quickstart as the program validated it; anything odd drops it."""
    if value is None:
        return None
    try:
        return validate_quickstart(value, Path(where))
    except ValueError as err:
        s.warn(f"{where}: ignored ({err})")
        return None


def _project(name: str, raw: dict, s: Sanitizer) -> Project | None:
    """One project from its output entry, or None (with a warning) when it cannot be shown."""
    where = f"projects.{name}"
    schema = s.text(raw.get("schema"), f"{where}.schema") or name
    if not SCHEMA_RE.fullmatch(schema):
        s.warn(f"{where}.schema: {schema!r} is not a plain schema name, project skipped")
        return None
    url = s.text(raw.get("url"), f"{where}.url")
    if not is_http_url(url):
        s.warn(f"{where}: no http(s) url in the outputs; examples use a placeholder")
        url = PLACEHOLDER_API_URL
    anon_key, anon_note = _anon_key(raw.get("anonKey"), name, f"{where}.anonKey", s)
    publishable = _publishable_key(raw.get("publishableKey"), f"{where}.publishableKey", s)
    auth = _auth_facts(raw.get("auth"), f"{where}.auth", s)
    tables = _relations(raw.get("tables"), f"{where}.tables", s)
    project = Project(
        name=name, schema=schema, template=s.text(raw.get("template"), f"{where}.template") or "unknown",
        url=url, rest_url=f"{url}/rest/v1", auth_url=f"{url}/auth/v1", anon_key=anon_key, anon_key_note=anon_note,
        publishable_key=publishable,
        hostname=_hostname(raw.get("hostname"), f"{where}.hostname", s), auth=auth, tables=tables,
        views=_relations(raw.get("views"), f"{where}.views", s),
        buckets=_buckets(raw.get("buckets"), f"{where}.buckets", s),
        realtime_tables=_names(raw.get("realtimeTables"), f"{where}.realtimeTables", s),
        last_migration=_migration(raw.get("lastMigration"), f"{where}.lastMigration", s),
        services=_services(raw.get("services"), s, f"{where}.services"),
        cell=s.text(raw.get("cell"), f"{where}.cell"),
    )
    steps = requests_for(_quickstart(raw.get("quickstart"), f"{where}.quickstart", s),
                         tables[0].name if tables else None, auth.signup == "open")
    key = publishable or anon_key  # examples use the key upstream now tells apps to use
    project.examples = [*examples(url, key, steps, placeholder_table=not tables),
                        storage_example(url, key, name, project.buckets),
                        realtime_example(url, key, name, schema, project.realtime_tables)]
    return project


def _project_entries(value: Any, s: Sanitizer) -> list[tuple[str, Any]]:
    """(name, entry) pairs from the `projects` map; a list of objects with `name` also works."""
    if value is None:
        return []
    if value == SECRET_PLACEHOLDER:
        s.warn("projects: the output is secret, so no project can be shown; keep it plain")
        return []
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return [(item.get("name") if isinstance(item, dict) else item, item) for item in value]
    s.warn(f"projects: expected a map of projects, got {type(value).__name__}; ignored")
    return []


def _projects(value: Any, s: Sanitizer) -> list[Project]:
    """Valid projects in output order; bad names are skipped because they become file names."""
    projects = []
    for name, raw in _project_entries(value, s):
        if not isinstance(name, str) or not PROJECT_NAME_RE.fullmatch(name):
            s.warn(f"projects: skipped {str(name)[:60]!r}: names must match {PROJECT_NAME_RE.pattern}")
            continue
        if not isinstance(raw, dict):
            s.warn(f"projects.{name}: expected an object, skipped")
            continue
        project = _project(name, raw, s)
        if project:
            projects.append(project)
    if not projects:
        s.warn("the stack has no projects yet; the page says how to add one")
    return projects


def _services(value: Any, s: Sanitizer, where: str = "services") -> list[Service]:
    """Services for the status page; a health URL that is not http(s) becomes unknown."""
    value = s.items(value, where)
    services = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            s.warn(f"{where}[{i}]: expected an object, ignored")
            continue
        name = s.text(item.get("name"), f"{where}[{i}].name") or f"service {i + 1}"
        url = s.text(item.get("healthUrl"), f"{where}[{i}].healthUrl")
        if url and not is_http_url(url):
            s.warn(f"{where}[{i}].healthUrl: {url!r} is not an http(s) URL, shown as unknown")
            url = None
        services.append(Service(name, s.text(item.get("image"), f"{where}[{i}].image"), url,
                                shared=item.get("shared") is True))
    return services


MIGRATION_RE = re.compile(r"[0-9]{4}_[A-Za-z0-9_]+\.sql(?:\.j2)?")


def _migration(value: Any, where: str, s: Sanitizer) -> str | None:
    text = s.text(value, where)
    if text is not None and not MIGRATION_RE.fullmatch(text):
        s.warn(f"{where}: {text[:40]!r} is not a migration file name, ignored")
        return None
    return text


def stack_name(outputs: dict, stack: str | None) -> str:
    """The stack's name: from the outputs, else the caller, else $PULUMI_STACK."""
    for candidate in (outputs.get("stack"), stack, os.environ.get("PULUMI_STACK")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return "unknown"


def build_model(outputs: dict, s: Sanitizer, stack: str | None, now: datetime | None) -> Site:
    """Everything the templates print, already vetted by `s`."""
    outputs = {k: v for k, v in outputs.items() if k not in IGNORED_OUTPUTS}
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    api_url = s.text(outputs.get("apiUrl"), "apiUrl")
    return Site(
        stack=s.text(stack_name(outputs, stack), "stack") or "unknown",
        built_at=now.astimezone(timezone.utc),
        api_url=api_url,
        studio_url=s.text(outputs.get("studioUrl"), "studioUrl"),
        dashboard_url=s.text(outputs.get("dashboardUrl"), "dashboardUrl"),
        anon_key=s.text(outputs.get("anonKey"), "anonKey"),
        projects=_projects(outputs.get("projects"), s),
        services=_services(outputs.get("services"), s),
        cells=cells_of(outputs.get("cells"), s, is_http_url),
    )


def is_http_url(value: Any) -> bool:
    """Only http(s) URLs become links: a `javascript:` URL in outputs must not be clickable."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
