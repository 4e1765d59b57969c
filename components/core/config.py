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
from urllib.parse import urlsplit

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from components.core.naming import DEFAULT_STATEMENT_TIMEOUT, ProjectNames
from components.core import buckets, hostnames, migrations, template_files, template_policies

NAMESPACE = "supabase-multi-instance"
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILTIN_TEMPLATES = REPO_ROOT / "sql" / "projects"

# Always used with fullmatch: `$` alone would accept a trailing newline ("blog\n").
PROJECT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
HOSTNAME_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
CLOUDFLARE_ID = re.compile(r"[0-9a-f]{32}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DURATION = re.compile(r"([1-9][0-9]{0,6})(ms|s|min)")  # Postgres time units, as ALTER ROLE takes them
DURATION_MS = {"ms": 1, "s": 1000, "min": 60_000}
# A request that holds a pooled PostgREST connection longer than this belongs in a job.
STATEMENT_TIMEOUT_MS = (100, 5 * 60_000)
# A redirect target GoTrue may send users to: web URLs and app deep links (myapp://...);
# GoTrue matches `*`/`**` globs in the allow list.
REDIRECT_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")
WEB_URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")

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
# Studio's own pages live under /project/default on the path prefix that gives each
# project its local URL (/project/<name>).
RESERVED_PROJECT_NAMES = frozenset({"default"})
# Roles the image defines; a project named like them would collide with `<name>_anon` etc.
RESERVED_ROLES = frozenset(
    {"anon", "authenticated", "service_role", "authenticator", "postgres", "supabase_admin", "dashboard_user"}
)
SECRET_KEYS = ("postgresPassword", "jwtSecret", "dashboardPassword")
# Supavisor's transaction-mode port (upstream POOLER_PROXY_PORT_TRANSACTION), published with features.pooler.
POOLER_TRANSACTION_PORT = 6543
PORT_RULE = "must be a TCP port number from 1 to 65535"
# Top-level keys whose objects may hold secrets (auth.smtp.pass, auth.external.*.secret,
# backups.s3.secretAccessKey):
# set with `pulumi config set --secret --path`, which makes the whole key secret.
NESTED_SECRET_KEYS = ("projects", "auth", "backups")
SECRET_LEAVES = ("pass", "secret", "secretAccessKey")
# OAuth providers GoTrue knows (supabase/auth internal/conf/configuration.go, ProviderConfiguration).
OAUTH_PROVIDERS = ("apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github", "gitlab",
                   "google", "kakao", "keycloak", "linkedin_oidc", "notion", "slack_oidc", "spotify", "twitch",
                   "twitter", "workos", "x", "zoom")
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
CRON_RULE = "must be a cron schedule of 5 fields, in UTC, e.g. '0 3 * * *' (every day at 03:00)"


class ConfigError(pulumi.RunError):
    """All problems of a stack config, one per line.

    A RunError: Pulumi's Python language host prints its message alone, with no traceback
    (sdk/python/cmd/pulumi-language-python-exec), so `pulumi up` ends with just the list.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid stack config ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}"
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_host(value: str) -> str:
    """A DNS name or an IP address (SMTP relays are often addressed by IP)."""
    host = value.lower().rstrip(".")
    if not _is_host(host):
        raise ValueError("must be a host name such as smtp.example.com, or an IP address")
    return host


def _check_hostname(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip().lower().rstrip(".")
    labels = value.split(".")
    if len(labels) < 2 or len(value) > 253 or not all(HOSTNAME_LABEL.fullmatch(l) for l in labels):
        raise ValueError("must be a DNS name such as example.com (letters, digits, '-', dots)")
    return value


def _check_public_url(value: str) -> str:
    """`scheme://host[:port]`, lower-cased, no trailing slash: the base every public URL extends."""
    rule = ("must be the URL your reverse proxy (or LAN clients) reach Kong on, e.g. "
            "https://supabase.example.lan: http or https, a host, an optional port, no path")
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError(rule) from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password or not _is_host(parts.hostname)):
        raise ValueError(rule)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _is_host(host: str) -> bool:
    """An IP address or a DNS name; single-label LAN names (`nas`) are fine here."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return all(HOSTNAME_LABEL.fullmatch(label) for label in host.split("."))


class SmtpConfig(_Model):
    """Where GoTrue sends confirmation, magic-link and recovery mails."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    user: Optional[str] = None
    password: Optional[SecretStr] = Field(None, alias="pass")
    sender: str
    sender_name: Optional[str] = Field(None, alias="senderName")

    _host = field_validator("host")(classmethod(lambda cls, v: _check_host(v)))

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        if not EMAIL.fullmatch(v):
            raise ValueError("must be the e-mail address mails are sent from, e.g. noreply@example.com")
        return v


class OAuthProviderConfig(_Model):
    enabled: bool = True
    client_id: str = Field(alias="clientId", min_length=1)
    secret: SecretStr
    url: Optional[str] = None  # azure, gitlab, keycloak, workos: the provider's own base URL

    @field_validator("url")
    @classmethod
    def _url(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not WEB_URL.fullmatch(v):
            raise ValueError("must be an http(s) URL")
        return v


class AuthSettings(_Model):
    """Settings of one GoTrue: the stack's own (top-level `auth`) or a project's (`projects[].auth`)."""

    site_url: Optional[str] = Field(None, alias="siteUrl")
    redirect_urls: list[str] = Field(default_factory=list, alias="redirectUrls")
    signup: Literal["open", "closed"] = "open"
    autoconfirm: Optional[bool] = None
    jwt_expiry: int = Field(3600, ge=60, le=7 * 24 * 3600, alias="jwtExpiry")
    smtp: Optional[SmtpConfig] = None
    external: dict[Literal[OAUTH_PROVIDERS], OAuthProviderConfig] = Field(default_factory=dict)

    @field_validator("site_url")
    @classmethod
    def _site(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not WEB_URL.fullmatch(v):
            raise ValueError("must be the http(s) URL of your app, e.g. https://app.example.com")
        return v

    @field_validator("redirect_urls")
    @classmethod
    def _redirects(cls, v: list[str]) -> list[str]:
        bad = [u for u in v if not REDIRECT_URL.fullmatch(u) or "," in u]
        if bad:
            raise ValueError(f"not URLs (scheme://..., no commas): {', '.join(map(repr, bad))}")
        return v

    @model_validator(mode="after")
    def _confirmable(self) -> "AuthSettings":
        if self.autoconfirm is False and self.smtp is None:
            raise ValueError("autoconfirm: false needs `smtp`: without mail nobody can confirm an account")
        return self

    @property
    def confirms_automatically(self) -> bool:
        """Safe default: confirm by mail when SMTP is set, automatically only without it."""
        return self.smtp is None if self.autoconfirm is None else self.autoconfirm


class ProjectAuthConfig(AuthSettings):
    """`own` (default): the project's own GoTrue and user pool. `shared`: the stack's users."""

    mode: Literal["own", "shared"] = "own"

    @model_validator(mode="after")
    def _shared_has_no_settings(self) -> "ProjectAuthConfig":
        if self.mode == "shared":
            own = sorted(f.alias or n for n, f in AuthSettings.model_fields.items() if n in self.model_fields_set)
            if own:
                raise ValueError(f"{', '.join(own)}: only for mode own; a shared project uses the stack's "
                                 "top-level `auth` settings")
        return self
class BucketConfig(_Model):
    """One Storage bucket of a project; its id is `<project>-<name>` (components/core/buckets.py)."""

    name: str
    public: bool = False
    file_size_limit: Optional[Union[int, str]] = Field(None, alias="fileSizeLimit")
    allowed_mime_types: Optional[list[str]] = Field(None, alias="allowedMimeTypes")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not buckets.NAME.fullmatch(v):
            raise ValueError("must be 1-59 characters of a-z, 0-9, '_' and '-', starting with a letter or digit")
        return v

    @field_validator("file_size_limit")
    @classmethod
    def _size(cls, v: Union[int, str, None]) -> Optional[int]:
        return None if v is None else buckets.parse_size(v)

    @field_validator("allowed_mime_types")
    @classmethod
    def _mime_types(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        bad = [t for t in v or [] if not buckets.MIME_TYPE.fullmatch(t)]
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
    statement_timeout: str = Field(DEFAULT_STATEMENT_TIMEOUT, alias="statementTimeout")
    auth: ProjectAuthConfig = Field(default_factory=ProjectAuthConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not PROJECT_NAME.fullmatch(v):
            raise ValueError(
                "must be 1-40 characters of a-z, 0-9 and _, starting with a letter (e.g. my_app)"
            )
        if v in RESERVED_PROJECT_NAMES:
            raise ValueError("is reserved: Studio's own pages are at /project/default; choose another project name")
        if v in RESERVED_SCHEMAS or v in RESERVED_ROLES or v.startswith(RESERVED_PREFIXES):
            raise ValueError("is a Postgres or Supabase system name; choose another project name")
        return v

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        if not TEMPLATE_NAME.fullmatch(v):
            raise ValueError("must be a folder name of a-z, 0-9, '_' and '-'")
        return v

    _hostname = field_validator("hostname")(classmethod(lambda cls, v: _check_hostname(v)))

    @field_validator("statement_timeout")
    @classmethod
    def _statement_timeout(cls, v: str) -> str:
        low, high = STATEMENT_TIMEOUT_MS
        match = DURATION.fullmatch(v) if isinstance(v, str) else None
        if not match or not low <= int(match.group(1)) * DURATION_MS[match.group(2)] <= high:
            raise ValueError("must be a duration from 100ms to 5min written as a number and ms, s or min "
                             "(e.g. 500ms, 8s, 1min)")
        return v

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
        if not CLOUDFLARE_ID.fullmatch(v):
            raise ValueError("must be the 32-character hex id shown in the Cloudflare dashboard")
        return v

    @field_validator("access_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not EMAIL.fullmatch(e)]
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
    # Retired: Kong's admin API is no longer published (components/core/kong_container.py).
    # Still accepted so that older stack configs load; `warnings` says it can go.
    kong_admin: Optional[int] = Field(None, ge=1, le=65535, alias="kongAdmin")


class Features(_Model):
    """Optional upstream services; the stack works without them."""

    analytics: bool = False
    functions: bool = False
    pooler: bool = False


class S3Config(_Model):
    """An S3-compatible bucket that receives a copy of every scheduled backup."""

    endpoint: str
    bucket: str
    region: str = "us-east-1"
    access_key_id: str = Field(alias="accessKeyId", min_length=1)
    secret_access_key: SecretStr = Field(alias="secretAccessKey")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("must be the service's base URL, e.g. https://s3.eu-central-1.amazonaws.com")
        return v.rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not S3_BUCKET.fullmatch(v) or ".." in v:
            raise ValueError("must be an S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-'")
        return v


class BackupsConfig(_Model):
    """The stack's backup service (README, Backups and restore): every project, on a schedule."""

    enabled: bool = True
    schedule: str = "0 3 * * *"
    retention: int = Field(7, ge=1, le=1000)
    s3: Optional[S3Config] = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        from croniter import croniter

        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(CRON_RULE)
        return v


class StackConfig(_Model):
    projects: list[ProjectConfig] = Field(default_factory=list)
    templates_dir: Optional[Path] = Field(None, alias="templatesDir")
    domain: Optional[str] = None
    cloudflare: Optional[CloudflareConfig] = None
    public_url: Optional[str] = Field(None, alias="publicUrl")
    hostnames: Hostnames = Field(default_factory=Hostnames)
    bind_address: str = Field("127.0.0.1", alias="bindAddress")
    ports: Ports = Field(default_factory=Ports)
    features: Features = Field(default_factory=Features)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    backups: BackupsConfig = Field(default_factory=BackupsConfig)
    postgres_password: Optional[SecretStr] = Field(None, alias="postgresPassword")
    jwt_secret: Optional[SecretStr] = Field(None, alias="jwtSecret")
    dashboard_password: Optional[SecretStr] = Field(None, alias="dashboardPassword")

    _domain = field_validator("domain")(classmethod(lambda cls, v: _check_hostname(v)))

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _check_public_url(v)

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
    if error["type"] == "missing":
        return [f"{_key_path(loc)}: is required"]
    if "[key]" in loc:  # a bad key of a mapping: an unknown OAuth provider
        return [_unknown_provider(loc[: loc.index("[key]")])]
    value = _lookup(raw, loc)
    if isinstance(value, dict) and error["type"] == "value_error":  # a rule across an object's keys
        return [f"{_key_path(loc)}: {_rule(error, loc)}"]
    return [f"{_key_path(loc)}: {_shown(loc, value)} {_rule(error, loc)}"]


def _shown(loc: tuple, value: Any) -> str:
    secret = bool(loc) and (loc[0] in SECRET_KEYS or any(part in SECRET_LEAVES for part in loc))
    return "<hidden>" if secret else repr(value)


def _unknown_provider(loc: tuple) -> str:
    hint = difflib.get_close_matches(str(loc[-1]), OAUTH_PROVIDERS, n=1)
    return (f"{_key_path(loc)}: unknown provider; "
            + (f"did you mean {hint[0]!r}?" if hint else f"known: {', '.join(OAUTH_PROVIDERS)}"))


# pydantic error types that the stack config's fields can raise -> the rule in config words.
# Anything else falls back to a neutral sentence, never to pydantic's own wording.
_TYPE_RULES = {
    "string_type": "must be text",
    "list_type": "must be a list",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_parsing_size": "must be a whole number",
    "int_from_float": "must be a whole number",
    "path_type": "must be a folder path (text)",
}
_OBJECT_TYPES = ("model_type", "model_attributes_type", "dict_type")


def _rule(error: dict, loc: tuple) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", "is not valid"))
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind in _OBJECT_TYPES:
        model = _model_at(loc)
        return f"must be an object with keys {', '.join(_keys(model))}" if model else "must be an object"
    if loc and loc[0] == "ports":
        return PORT_RULE
    if "ge" in ctx or "gt" in ctx:
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if "le" in ctx or "lt" in ctx:
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    return _TYPE_RULES.get(kind, f"is not a valid value here ({kind})")


def _keys(model: type[BaseModel]) -> list[str]:
    """A model's config keys in declaration order, as the user writes them."""
    return [f.alias or n for n, f in model.model_fields.items()]


def _unknown_key(loc: tuple, raw: dict) -> str:
    *parent, key = loc
    model = _model_at(tuple(parent))
    known = sorted(_keys(model)) if model else []
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
        *(["publicUrl: set either publicUrl (your own reverse proxy or LAN) or cloudflare (a Cloudflare tunnel), "
           "not both"] if raw.get("publicUrl") is not None and raw.get("cloudflare") is not None else []),
    ]


def _duplicate_names(entries: list[tuple[int, dict]]) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for i, p in entries:
        name = p.get("name")
        if not isinstance(name, str):
            continue  # reported with the field
        if name in seen:
            problems.append(f"projects[{i}].name: {name!r} is already used by projects[{seen[name]}]; names must be unique")
        else:
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
            if not isinstance(name, str):
                continue  # reported with the field
            if name in seen:
                problems.append(f"projects[{i}].storage.buckets[{j}].name: {name!r} is already used by "
                                f"projects[{i}].storage.buckets[{seen[name]}]; bucket names must be unique in a project")
            else:
                seen[name] = j
    return problems


def _missing_templates(entries: list[tuple[int, dict]], templates_dir: Optional[Path]) -> list[str]:
    if templates_dir is not None and not templates_dir.is_dir():
        return [f"templatesDir: {str(templates_dir)!r} is not a folder"]
    available = available_templates(templates_dir)
    return [
        f"projects[{i}].template: {p['template']!r} is not a template; choose one of {', '.join(available)}"
        for i, p in entries
        if isinstance(p.get("template"), str) and TEMPLATE_NAME.fullmatch(p["template"]) and p["template"] not in available
    ]


def template_roots(templates_dir: Optional[Path]) -> list[Path]:
    """The user's templatesDir first: it shadows a built-in template of the same name."""
    return [r for r in (templates_dir, BUILTIN_TEMPLATES) if r is not None and r.is_dir()]


def available_templates(templates_dir: Optional[Path]) -> list[str]:
    return sorted({d.name for r in template_roots(templates_dir) for d in r.iterdir() if d.is_dir() and TEMPLATE_NAME.fullmatch(d.name)})


def parse_config(raw: dict[str, Any],
                 secret_keys: frozenset[str] = frozenset((*SECRET_KEYS, *NESTED_SECRET_KEYS))) -> StackConfig:
    """Validate a raw namespace dict; raise ConfigError listing every problem."""
    problems = [
        f"{key}: is stored in plain text; set it with `pulumi config set --secret {key} ...`"
        for key in SECRET_KEYS
        if key in raw and key not in secret_keys
    ]
    problems += [
        f"{path}: is stored in plain text; set it with `pulumi config set --secret --path '{path}' ...`"
        for path in nested_secret_paths(raw)
        if path.split("[")[0].split(".")[0] not in secret_keys
    ]
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as err:
        problems += [line for e in err.errors() for line in _describe(e, raw)]
        config = None
    problems += _cross_checks(raw) + _port_problems(raw)
    if config is not None:
        problems += _route_problems(config) + _template_problems(config)
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


def published_ports(ports: Ports, features: Features) -> list[tuple[str, int]]:
    """(setting, port) of every port the stack publishes on the Docker host."""
    found = [("ports.kong", ports.kong), ("ports.postgres", ports.postgres)]
    return found + ([("features.pooler", POOLER_TRANSACTION_PORT)] if features.pooler else [])


def _port_problems(raw: dict[str, Any]) -> list[str]:
    """Two services on one host port: Docker would fail half-way through `pulumi up`.

    Checked on `ports` and `features` alone, so a clash shows even when other keys are bad.
    """
    try:
        ports, features = Ports.model_validate(raw.get("ports", {})), Features.model_validate(raw.get("features", {}))
    except ValidationError:
        return []  # reported per field
    seen: dict[int, str] = {}
    problems = []
    for setting, port in published_ports(ports, features):
        if port not in seen:
            seen[port] = setting
        elif setting == "features.pooler":
            problems.append(f"features.pooler: Supavisor publishes port {port}, which {seen[port]} already uses; "
                            f"choose another {seen[port]}")
        else:
            problems.append(f"{setting}: {port} is already the port of {seen[port]}; each published port must differ")
    return problems


def nested_secret_paths(raw: dict[str, Any]) -> list[str]:
    """Key paths of the secrets inside structured keys (SMTP passwords, OAuth client secrets, the S3 key) that are set."""
    blocks = [("auth", raw.get("auth"))]
    if isinstance(raw.get("projects"), list):
        blocks += [(f"projects[{i}].auth", p.get("auth")) for i, p in enumerate(raw["projects"]) if isinstance(p, dict)]
    found = []
    for path, auth in blocks:
        if not isinstance(auth, dict):
            continue
        if isinstance(auth.get("smtp"), dict) and "pass" in auth["smtp"]:
            found.append(f"{path}.smtp.pass")
        external = auth.get("external") if isinstance(auth.get("external"), dict) else {}
        found += [f"{path}.external.{name}.secret" for name, p in external.items() if isinstance(p, dict) and "secret" in p]
    s3 = raw.get("backups", {}).get("s3") if isinstance(raw.get("backups"), dict) else None
    if isinstance(s3, dict) and "secretAccessKey" in s3:
        found.append("backups.s3.secretAccessKey")
    return found


def _template_problems(config: StackConfig) -> list[str]:
    """Each template in use must have well-formed migrations, quickstart and policies: found now,
    not mid-`up`. Policies render per project (its names and buckets), so they are checked per project."""
    found: list[str] = []
    broken: set[str] = set()
    for template in sorted({p.template for p in config.projects} & set(available_templates(config.templates_dir))):
        where = [i for i, p in enumerate(config.projects) if p.template == template][0]
        folder = config.template_path(template)
        try:
            migrations.discover(folder)
            template_files.load(folder)
            template_files.published(folder)
            template_policies.load(folder)
        except (migrations.MigrationError, template_files.QuickstartError) as err:
            found.append(f"projects[{where}].template: {err}")
            broken.add(template)
    return found + _policy_problems(config, broken)


def _policy_problems(config: StackConfig, broken: set[str]) -> list[str]:
    """The template's policies.json rendered for each project that uses it, every statement parsed."""
    available = set(available_templates(config.templates_dir)) - broken
    found = []
    for i, p in enumerate(config.projects):
        if p.template not in available:
            continue
        names = ProjectNames(p.name, p.auth.mode)
        try:
            template_policies.for_project(config.template_path(p.template), names,
                                          buckets.spec(p.name, p.storage.buckets), p.template)
        except template_policies.PolicyError as err:
            found.append(f"projects[{i}].template: {err}")
    return found


def _route_problems(config: StackConfig) -> list[str]:
    """Public hostnames clash only once defaults are applied, so this runs on the parsed config."""
    return hostnames.route_problems(config)


def load_config() -> StackConfig:
    """The stack's validated config, read from the running Pulumi program."""
    raw = _raw_namespace_config()
    secret = frozenset(k for k in (*SECRET_KEYS, *NESTED_SECRET_KEYS)
                       if pulumi.runtime.is_config_secret(f"{NAMESPACE}:{k}"))
    return parse_config(raw, secret)


def warnings(config: StackConfig) -> list[str]:
    """Things that work but that users usually do not want."""
    return (_exposure_warnings(config) + _certificate_warnings(config) + _signup_warnings(config)
            + _retired_warnings(config))


def _retired_warnings(config: StackConfig) -> list[str]:
    if config.ports.kong_admin is None:
        return []
    return ["ports.kongAdmin: no longer used; Kong's admin API is not published on the host any more (the "
            "program pushes Kong's config with docker exec). Remove it: "
            "pulumi config rm --path ports.kongAdmin"]


def _exposure_warnings(config: StackConfig) -> list[str]:
    """A wildcard bindAddress publishes the database's superuser logins on every interface."""
    if not ipaddress.ip_address(config.bind_address).is_unspecified:
        return []
    exposed = [f"Postgres on port {config.ports.postgres} (superuser logins supabase_admin and postgres, "
               "password = postgresPassword)",
               f"Kong on port {config.ports.kong} (every API, and Studio and the dashboard behind basic-auth)"]
    if config.features.pooler:
        exposed.append(f"Supavisor on port {POOLER_TRANSACTION_PORT} (pooled Postgres logins)")
    return [f"bindAddress: {config.bind_address!r} listens on every interface of the Docker host: "
            f"{'; '.join(exposed)}. Firewall these ports, or bind to one "
            "address (e.g. 127.0.0.1 behind a reverse proxy, see docs/reverse-proxy.md)"]


def _signup_warnings(config: StackConfig) -> list[str]:
    """A public stack whose sign-up is open and confirms without mail: anyone can make accounts."""
    if not config.published and config.public_url is None:
        return []
    blocks = [("auth", config.auth)] + [(f"projects[{i}].auth", p.auth) for i, p in enumerate(config.projects)
                                        if p.auth.mode == "own"]
    return [f"{path}: sign-up is open and no `smtp` is set, so anyone on the internet can create confirmed "
            "accounts; set signup: closed, or configure smtp so addresses are confirmed by mail"
            for path, auth in blocks if auth.signup == "open" and auth.smtp is None]


def _certificate_warnings(config: StackConfig) -> list[str]:
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
