"""The rules config values follow: names, patterns, reserved words, and the small checks
the config models share. Plain data; the models (models.py) and checks (checks.py) use it."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "supabase-multi-instance"
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
SECRET_LEAVES = ("pass", "secret", "secretAccessKey", "secrets", "seeds")  # secrets: projects[].functions.secrets;
# seeds: projects[].keys.seeds (config/key_seeds.py)
# OAuth providers GoTrue knows (supabase/auth internal/conf/configuration.go, ProviderConfiguration).
OAUTH_PROVIDERS = ("apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github", "gitlab",
                   "google", "kakao", "keycloak", "linkedin_oidc", "notion", "slack_oidc", "spotify", "twitch",
                   "twitter", "workos", "x", "zoom")
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
CRON_RULE = "must be a cron schedule of 5 fields, in UTC, e.g. '0 3 * * *' (every day at 03:00)"


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_host(value: str) -> str:
    """A DNS name or an IP address (SMTP relays are often addressed by IP)."""
    host = value.lower().rstrip(".")
    if not is_host(host):
        raise ValueError("must be a host name such as smtp.example.com, or an IP address")
    return host


def check_hostname(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip().lower().rstrip(".")
    labels = value.split(".")
    if len(labels) < 2 or len(value) > 253 or not all(HOSTNAME_LABEL.fullmatch(l) for l in labels):
        raise ValueError("must be a DNS name such as example.com (letters, digits, '-', dots)")
    return value


def check_public_url(value: str) -> str:
    """`scheme://host[:port]`, lower-cased, no trailing slash: the base every public URL extends."""
    rule = ("must be the URL your reverse proxy (or LAN clients) reach Kong on, e.g. "
            "https://supabase.example.lan: http or https, a host, an optional port, no path")
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError(rule) from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password or not is_host(parts.hostname)):
        raise ValueError(rule)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def is_host(host: str) -> bool:
    """An IP address or a DNS name; single-label LAN names (`nas`) are fine here."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return all(HOSTNAME_LABEL.fullmatch(label) for label in host.split("."))


def template_roots(templates_dir: Optional[Path]) -> list[Path]:
    """The user's templatesDir first: it shadows a built-in template of the same name."""
    return [r for r in (templates_dir, BUILTIN_TEMPLATES) if r is not None and r.is_dir()]


def available_templates(templates_dir: Optional[Path]) -> list[str]:
    return sorted({d.name for r in template_roots(templates_dir) for d in r.iterdir() if d.is_dir() and TEMPLATE_NAME.fullmatch(d.name)})
