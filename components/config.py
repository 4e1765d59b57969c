"""The stack config contract, validated in one place before any resource is declared.

Every problem is reported at once, one line each, naming the key path, the bad value and
the rule, so a user fixes a config in one round instead of one error per `pulumi up`.
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from components import buckets

NAMESPACE = "supabase-multi-instance"
REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_TEMPLATES = REPO_ROOT / "sql" / "projects"

PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
CLOUDFLARE_ID = re.compile(r"^[0-9a-f]{32}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Schemas Postgres, the supabase/postgres image and its services own. A project with one of
# these names would hand its roles privileges on a system schema.
RESERVED_SCHEMAS = frozenset(
    {
        "public", "auth", "storage", "realtime", "_realtime", "extensions", "graphql",
        "graphql_public", "vault", "pgsodium", "pgsodium_masks", "supabase_functions",
        "supabase_migrations", "net", "cron", "pgbouncer", "pgtle", "repack", "topology",
        "tiger", "tiger_data", "_analytics", "_supavisor", "information_schema",
        "supabase_multi",  # this program's registry
    }
)
RESERVED_PREFIXES = ("pg_", "_archived_")
# Roles the image defines; a project named like them would collide with `<name>_anon` etc.
RESERVED_ROLES = frozenset(
    {"anon", "authenticated", "service_role", "authenticator", "postgres", "supabase_admin", "dashboard_user"}
)
SECRET_KEYS = ("postgresPassword", "jwtSecret", "dashboardPassword")


class ConfigError(Exception):
    """All problems of a stack config, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid stack config ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}"
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_hostname(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip().lower().rstrip(".")
    labels = value.split(".")
    if len(labels) < 2 or len(value) > 253 or not all(HOSTNAME_LABEL.match(l) for l in labels):
        raise ValueError("must be a DNS name such as example.com (letters, digits, '-', dots)")
    return value


class BucketConfig(_Model):
    """One Storage bucket of a project; its id is `<project>-<name>` (components/buckets.py)."""

    name: str
    public: bool = False
    file_size_limit: Optional[Union[int, str]] = Field(None, alias="fileSizeLimit")
    allowed_mime_types: Optional[list[str]] = Field(None, alias="allowedMimeTypes")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not buckets.NAME.match(v):
            raise ValueError("must be 1-59 characters of a-z, 0-9, '_' and '-', starting with a letter or digit")
        return v

    @field_validator("file_size_limit")
    @classmethod
    def _size(cls, v: Union[int, str, None]) -> Optional[int]:
        return None if v is None else buckets.parse_size(v)

    @field_validator("allowed_mime_types")
    @classmethod
    def _mime_types(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        bad = [t for t in v or [] if not buckets.MIME_TYPE.match(t)]
        if bad:
            raise ValueError(f"must list MIME types such as image/png or image/*; not: {', '.join(map(repr, bad))}")
        return v


class StorageConfig(_Model):
    buckets: list[BucketConfig] = Field(default_factory=list)


class ProjectConfig(_Model):
    name: str
    template: str = "blog"
    on_delete: Literal["archive", "drop"] = Field("archive", alias="onDelete")
    hostname: Optional[str] = None
    storage: StorageConfig = Field(default_factory=StorageConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not PROJECT_NAME.match(v):
            raise ValueError(
                "must be 1-40 characters of a-z, 0-9 and _, starting with a letter (e.g. my_app)"
            )
        if v in RESERVED_SCHEMAS or v in RESERVED_ROLES or v.startswith(RESERVED_PREFIXES):
            raise ValueError("is a Postgres or Supabase system name; choose another project name")
        return v

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        if not TEMPLATE_NAME.match(v):
            raise ValueError("must be a folder name of a-z, 0-9, '_' and '-'")
        return v

    _hostname = field_validator("hostname")(classmethod(lambda cls, v: _check_hostname(v)))

    @property
    def schema_name(self) -> str:
        return self.name


class CloudflareConfig(_Model):
    account_id: str = Field(alias="accountId")
    zone_id: str = Field(alias="zoneId")
    access_emails: list[str] = Field(default_factory=list, alias="accessEmails")

    @field_validator("account_id", "zone_id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not CLOUDFLARE_ID.match(v):
            raise ValueError("must be the 32-character hex id shown in the Cloudflare dashboard")
        return v

    @field_validator("access_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not EMAIL.match(e)]
        if bad:
            raise ValueError(f"not e-mail addresses: {', '.join(bad)}")
        return v


class Hostnames(_Model):
    """Public hostnames; default to first-level names that Universal SSL covers."""

    api: Optional[str] = None
    studio: Optional[str] = None
    dashboard: Optional[str] = None

    _check = field_validator("api", "studio", "dashboard")(classmethod(lambda cls, v: _check_hostname(v)))


class Ports(_Model):
    kong: int = Field(8000, ge=1, le=65535)
    postgres: int = Field(5432, ge=1, le=65535)
    kong_admin: int = Field(8001, ge=1, le=65535, alias="kongAdmin")


class Features(_Model):
    """Optional upstream services; the stack works without them."""

    analytics: bool = False
    functions: bool = False
    pooler: bool = False


class StackConfig(_Model):
    projects: list[ProjectConfig] = Field(default_factory=list)
    templates_dir: Optional[Path] = Field(None, alias="templatesDir")
    domain: Optional[str] = None
    cloudflare: Optional[CloudflareConfig] = None
    hostnames: Hostnames = Field(default_factory=Hostnames)
    bind_address: str = Field("127.0.0.1", alias="bindAddress")
    ports: Ports = Field(default_factory=Ports)
    features: Features = Field(default_factory=Features)
    postgres_password: Optional[SecretStr] = Field(None, alias="postgresPassword")
    jwt_secret: Optional[SecretStr] = Field(None, alias="jwtSecret")
    dashboard_password: Optional[SecretStr] = Field(None, alias="dashboardPassword")

    _domain = field_validator("domain")(classmethod(lambda cls, v: _check_hostname(v)))

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError("must be an IP address of the Docker host, e.g. 127.0.0.1") from None
        return v

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_len(cls, v: Optional[SecretStr]) -> Optional[SecretStr]:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (GoTrue and PostgREST require it)")
        return v

    @field_validator("postgres_password", "dashboard_password")
    @classmethod
    def _pw_len(cls, v: Optional[SecretStr]) -> Optional[SecretStr]:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return v

    def template_path(self, template: str) -> Path:
        return next(r / template for r in template_roots(self.templates_dir) if (r / template).is_dir())

    @property
    def published(self) -> bool:
        return self.cloudflare is not None and self.domain is not None


# -- reading pulumi.Config --------------------------------------------------------------


def _raw_namespace_config() -> dict[str, Any]:
    """Every key of our namespace, as set in the stack (typos included)."""
    merged = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    raw: dict[str, Any] = {}
    for key, value in merged.items():
        if key.startswith(prefix):
            raw[key[len(prefix):]] = _decode(value)
    return raw


def _decode(value: Any) -> Any:
    """Structured config arrives as JSON text; plain values stay strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _lookup(raw: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _describe(error: dict, raw: dict) -> list[str]:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return [_unknown_key(loc, raw)]
    if error["type"] == "value_error" and not loc:
        return str(error["ctx"]["error"]).split("\n")
    value = _lookup(raw, loc)
    shown = "<hidden>" if loc and loc[0] in SECRET_KEYS else repr(value)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return [f"{_key_path(loc)}: is required"]
    if error["type"] == "literal_error":
        message = f"must be one of {error['ctx']['expected']}"
    return [f"{_key_path(loc)}: {shown} {message}"]


def _unknown_key(loc: tuple, raw: dict) -> str:
    *parent, key = loc
    model = _model_at(tuple(parent))
    known = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
    hint = difflib.get_close_matches(str(key), known, n=1)
    suggestion = f"did you mean {hint[0]!r}?" if hint else f"known keys: {', '.join(known)}"
    return f"{_key_path(loc)}: unknown key; {suggestion}"


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    model: Optional[type[BaseModel]] = StackConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        annotation = getattr(field, "annotation", None)
        args = getattr(annotation, "__args__", ()) or (annotation,)
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return model


def _cross_checks(raw: dict[str, Any]) -> list[str]:
    """Checks across entries; run on the raw dict so they report even when fields fail."""
    projects = raw.get("projects") if isinstance(raw.get("projects"), list) else []
    entries = [(i, p) for i, p in enumerate(projects) if isinstance(p, dict)]
    templates_dir = raw.get("templatesDir")
    return [
        *_duplicate_names(entries),
        *_duplicate_buckets(entries),
        *_missing_templates(entries, Path(templates_dir) if isinstance(templates_dir, str) else None),
        *(["cloudflare: publishing needs `domain` too; set domain to your zone, e.g. example.com"]
          if raw.get("cloudflare") is not None and not raw.get("domain") else []),
    ]


def _duplicate_names(entries: list[tuple[int, dict]]) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for i, p in entries:
        name = p.get("name")
        if name in seen:
            problems.append(f"projects[{i}].name: {name!r} is already used by projects[{seen[name]}]; names must be unique")
        elif isinstance(name, str):
            seen[name] = i
    return problems


def _duplicate_buckets(entries: list[tuple[int, dict]]) -> list[str]:
    """Within a project; across projects the `<project>-` prefix keeps bucket ids apart."""
    problems = []
    for i, p in entries:
        storage = p.get("storage") if isinstance(p.get("storage"), dict) else {}
        listed = storage.get("buckets") if isinstance(storage.get("buckets"), list) else []
        seen: dict[str, int] = {}
        for j, b in enumerate(listed):
            name = b.get("name") if isinstance(b, dict) else None
            if name in seen:
                problems.append(f"projects[{i}].storage.buckets[{j}].name: {name!r} is already used by "
                                f"projects[{i}].storage.buckets[{seen[name]}]; bucket names must be unique in a project")
            elif isinstance(name, str):
                seen[name] = j
    return problems


def _missing_templates(entries: list[tuple[int, dict]], templates_dir: Optional[Path]) -> list[str]:
    if templates_dir is not None and not templates_dir.is_dir():
        return [f"templatesDir: {str(templates_dir)!r} is not a folder"]
    available = available_templates(templates_dir)
    return [
        f"projects[{i}].template: {p['template']!r} is not a template; choose one of {', '.join(available)}"
        for i, p in entries
        if isinstance(p.get("template"), str) and TEMPLATE_NAME.match(p["template"]) and p["template"] not in available
    ]


def template_roots(templates_dir: Optional[Path]) -> list[Path]:
    """The user's templatesDir first: it shadows a built-in template of the same name."""
    return [r for r in (templates_dir, BUILTIN_TEMPLATES) if r is not None and r.is_dir()]


def available_templates(templates_dir: Optional[Path]) -> list[str]:
    return sorted({d.name for r in template_roots(templates_dir) for d in r.iterdir() if d.is_dir() and TEMPLATE_NAME.match(d.name)})


def parse_config(raw: dict[str, Any], secret_keys: frozenset[str] = frozenset(SECRET_KEYS)) -> StackConfig:
    """Validate a raw namespace dict; raise ConfigError listing every problem."""
    problems = [
        f"{key}: is stored in plain text; set it with `pulumi config set --secret {key} ...`"
        for key in SECRET_KEYS
        if key in raw and key not in secret_keys
    ]
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as err:
        problems += [line for e in err.errors() for line in _describe(e, raw)]
        config = None
    problems += _cross_checks(raw)
    if config is not None:
        problems += _route_problems(config)
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


def _route_problems(config: StackConfig) -> list[str]:
    """Public hostnames clash only once defaults are applied, so this runs on the parsed config."""
    from components.urls import route_problems  # urls builds on this module's models

    return route_problems(config)


def load_config() -> StackConfig:
    """The stack's validated config, read from the running Pulumi program."""
    raw = _raw_namespace_config()
    secret = frozenset(k for k in SECRET_KEYS if pulumi.runtime.is_config_secret(f"{NAMESPACE}:{k}"))
    return parse_config(raw, secret)


def warnings(config: StackConfig) -> list[str]:
    """Things that work but that users usually do not want."""
    return [
        f"{path}: {host!r} is more than one level below {config.domain!r}; Cloudflare's Universal "
        f"SSL certificate covers only *.{config.domain}, so HTTPS will fail unless you buy "
        "Advanced Certificate Manager"
        for path, host in public_hostname_settings(config)
        if config.domain and host.endswith("." + config.domain) and host.count(".") > config.domain.count(".") + 1
    ]


def public_hostname_settings(config: StackConfig) -> list[tuple[str, str]]:
    pairs = [(f"hostnames.{k}", v) for k, v in config.hostnames.model_dump().items() if v]
    pairs += [(f"projects[{i}].hostname", p.hostname) for i, p in enumerate(config.projects) if p.hostname]
    return pairs
