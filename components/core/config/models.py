"""The stack config as typed, validated models: one per block of the config contract.

Field rules live here; rules across blocks and entries are in checks.py.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, SecretStr, field_validator, model_validator

from components.core import buckets
from components.core.config.backups import BackupsConfig
from components.core.config.cell import CellConfig
from components.core.config.extensions import check_extensions
from components.core.config.functions import FunctionsConfig
from components.core.config.key_seeds import KeySeeds
from components.core.config.rules import (
    CLOUDFLARE_ID,
    ConfigModel,
    DURATION,
    DURATION_MS,
    EMAIL,
    OAUTH_PROVIDERS,
    PROJECT_NAME,
    REDIRECT_URL,
    RESERVED_PREFIXES,
    RESERVED_PROJECT_NAMES,
    RESERVED_ROLES,
    RESERVED_SCHEMAS,
    STATEMENT_TIMEOUT_MS,
    TEMPLATE_NAME,
    WEB_URL,
    check_host,
    check_hostname,
    check_public_url,
    template_roots,
)
from components.core.naming import DEFAULT_STATEMENT_TIMEOUT

class SmtpConfig(ConfigModel):
    """Where GoTrue sends confirmation, magic-link and recovery mails."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    user: Optional[str] = None
    password: Optional[SecretStr] = Field(None, alias="pass")
    sender: str
    sender_name: Optional[str] = Field(None, alias="senderName")

    _host = field_validator("host")(classmethod(lambda cls, v: check_host(v)))

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        if not EMAIL.fullmatch(v):
            raise ValueError("must be the e-mail address mails are sent from, e.g. noreply@example.com")
        return v


class OAuthProviderConfig(ConfigModel):
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


class AuthSettings(ConfigModel):
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
class BucketConfig(ConfigModel):
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


class StorageConfig(ConfigModel):
    buckets: list[BucketConfig] = Field(default_factory=list)


class KeysConfig(ConfigModel):
    """`projects[].keys`: which generation of the project's signing key signs, which older
    ones still verify (the rotation overlap), and which generation of the opaque
    publishable/secret keys is issued. Bumping a number is the rotation; removing an old
    generation from `verifying` is its end (its tokens fail from that `pulumi up` on).
    `seeds` carries a moved project's seeds from the cell it came from."""

    signing: int = Field(1, ge=1, le=1000)
    verifying: list[int] = Field(default_factory=list, max_length=3)
    api: int = Field(1, ge=1, le=1000)
    seeds: Optional[KeySeeds] = None

    @model_validator(mode="after")
    def _overlap(self) -> "KeysConfig":
        older = [g for g in self.verifying if not 1 <= g < self.signing]
        if older:
            raise ValueError(f"verifying: {older} must be earlier generations than signing ({self.signing}); "
                             "list the generation you rotated away from, e.g. signing: 2, verifying: [1]")
        if len(set(self.verifying)) != len(self.verifying):
            raise ValueError("verifying: lists a generation twice")
        return self

    @model_validator(mode="after")
    def _seeded(self) -> "KeysConfig":
        if self.seeds is not None:
            self.seeds.check({"signing": self.generations, "api": [self.api]})
        return self

    @property
    def generations(self) -> list[int]:
        """Every generation whose key exists: the signing one first."""
        return [self.signing, *sorted(self.verifying, reverse=True)]

    def seed(self, kind: str, generation: int) -> Optional[str]:
        """The seed `seeds` gives for `kind` ("signing" or "api") at `generation`, if any."""
        return self.seeds.seed(kind, generation) if self.seeds else None


class ProjectConfig(ConfigModel):
    name: str
    template: str = "blog"
    on_delete: Literal["archive", "drop"] = Field("archive", alias="onDelete")
    hostname: Optional[str] = None
    statement_timeout: str = Field(DEFAULT_STATEMENT_TIMEOUT, alias="statementTimeout")
    auth: ProjectAuthConfig = Field(default_factory=ProjectAuthConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    keys: KeysConfig = Field(default_factory=KeysConfig)
    functions: Optional[FunctionsConfig] = None  # its Edge Functions (config/functions.py)
    # A Supabase CLI folder (config.toml, migrations/, seed.sql), relative to the stack's folder:
    # the project is that app, its SQL rewritten onto the project (components/core/app_migrations.py).
    supabase_dir: Optional[Path] = Field(None, alias="supabaseDir")
    seed: Optional[bool] = None  # over config.toml's [db.seed] enabled (app_config.project_seed)

    @model_validator(mode="after")
    def _one_source(self) -> "ProjectConfig":
        if self.supabase_dir is not None and "template" in self.model_fields_set:
            raise ValueError("template and supabaseDir: a project is made from either a template or a Supabase "
                             "app folder; remove one of them")
        if self.seed is not None and self.supabase_dir is None:
            raise ValueError("seed: only a supabaseDir project has a seed.sql; remove seed or set supabaseDir")
        return self

    @property
    def source(self) -> str:
        """What the registry records the project was made from (a project never switches)."""
        return f"supabaseDir:{self.supabase_dir.as_posix()}" if self.supabase_dir else self.template

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

    _hostname = field_validator("hostname")(classmethod(lambda cls, v: check_hostname(v)))

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


class CloudflareConfig(ConfigModel):
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


class Hostnames(ConfigModel):
    """Public hostnames; default to first-level names that Universal SSL covers."""

    api: Optional[str] = None
    studio: Optional[str] = None
    dashboard: Optional[str] = None

    _check = field_validator("api", "studio", "dashboard")(classmethod(lambda cls, v: check_hostname(v)))


class Ports(ConfigModel):
    kong: int = Field(8000, ge=1, le=65535)
    postgres: int = Field(5432, ge=1, le=65535)
    # Retired: Kong's admin API is no longer published (components/core/kong_container.py).
    # Still accepted so that older stack configs load; `warnings` says it can go.
    kong_admin: Optional[int] = Field(None, ge=1, le=65535, alias="kongAdmin")


class Features(ConfigModel):
    """Optional upstream services; the stack works without them."""

    analytics: bool = False
    functions: bool = False
    pooler: bool = False


class StackConfig(ConfigModel):
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
    # The PostgreSQL major the stack's database runs; its data volume is named for it, so a
    # stack created at 15 that leaves this unset is refused by the volume's protection, never
    # started on 17 (README, "Upgrading Postgres to a new major").
    postgres_major: int = Field(17, alias="postgresMajor")
    # Postgres's max_connections: fixed per stack, since changing it restarts Postgres; the
    # pools must fit in it (components/core/connection_budget.py).
    postgres_max_connections: int = Field(1000, ge=100, le=10000, alias="postgresMaxConnections")
    postgres_password: Optional[SecretStr] = Field(None, alias="postgresPassword")
    jwt_secret: Optional[SecretStr] = Field(None, alias="jwtSecret")
    dashboard_password: Optional[SecretStr] = Field(None, alias="dashboardPassword")
    extensions: list[str] = Field(default_factory=list)  # config/extensions.py
    cell: Optional[CellConfig] = None  # this stack as one cell of a multi-host deployment (config/cell.py)

    _domain = field_validator("domain")(classmethod(lambda cls, v: check_hostname(v)))
    _extensions = field_validator("extensions")(classmethod(lambda cls, v: check_extensions(v)))

    @field_validator("postgres_major")
    @classmethod
    def _postgres_major(cls, v: int) -> int:
        from components.core.images import POSTGRES_MAJORS

        if v not in POSTGRES_MAJORS:
            raise ValueError(f"must be one of {', '.join(map(str, POSTGRES_MAJORS))} (the PostgreSQL majors "
                             "pinned in components/core/images.py)")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_public_url(v)

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
    def docker_host(self) -> Optional[str]:
        """The cell's Docker daemon, for the docker provider and CLI (None: their defaults)."""
        return self.cell.docker_host if self.cell is not None else None

    @property
    def published(self) -> bool:
        return self.cloudflare is not None and self.domain is not None
