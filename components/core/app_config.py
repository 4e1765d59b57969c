"""An app's `supabase/config.toml` as the project's settings (`projects[].supabaseDir`).

The Supabase CLI's file configures a whole local stack; what one project here can honour
maps onto its keys of the stack config, which override it key by key:

| config.toml | project setting |
|---|---|
| `[auth] site_url`, `additional_redirect_urls`, `jwt_expiry` | `auth.siteUrl`, `auth.redirectUrls`, `auth.jwtExpiry` |
| `[auth] enable_signup` (and `[auth.email] enable_signup`) | `auth.signup` open/closed |
| `[auth.email] enable_confirmations` | `auth.autoconfirm` (its opposite) |
| `[auth.email.smtp]` host, port, user, pass, admin_email, sender_name | `auth.smtp` |
| `[auth.external.<p>]` enabled, client_id, secret, url | `auth.external.<p>` |
| `[storage.buckets.<name>]` public, file_size_limit, allowed_mime_types | `storage.buckets` |
| `[db.seed]` enabled, sql_paths | the seed run once on creation |

`env(NAME)` values are read from the environment of `pulumi up` (as the CLI reads them);
secrets among them become Pulumi secrets through the config models' SecretStr. Every other
key that is set and that this stack cannot honour per project (ports, Studio, Inbucket,
`[api] max_rows`: one PostgREST serves every project) is reported by `warnings`, which
preview prints; nothing is silently dropped.
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

FILE = "config.toml"
ENV = re.compile(r"env\(([A-Za-z_][A-Za-z0-9_]*)\)")
# Sections that configure the CLI's local stack, not an app's project: nothing to honour or report
# here (`[functions.<name>]` are the app's functions: components/core/app_functions.py maps and reports them).
LOCAL_ONLY = ("project_id", "studio", "inbucket", "analytics", "edge_runtime", "functions", "experimental",
              "remotes", "db.port", "db.shadow_port", "db.major_version", "db.pooler", "api.port", "api.enabled",
              "api.schemas", "api.extra_search_path", "auth.enabled", "realtime.enabled", "storage.enabled",
              "db.migrations", "auth.sms", "auth.hook", "auth.mfa", "auth.third_party", "auth.web3", "auth.captcha",
              "auth.rate_limit", "auth.email.template", "auth.email.notification", "auth.sessions")
HONOURED = ("auth.site_url", "auth.additional_redirect_urls", "auth.jwt_expiry", "auth.enable_signup",
            "auth.email.enable_signup", "auth.email.enable_confirmations", "auth.email.smtp", "auth.external",
            "storage.buckets", "db.seed")


def load(folder: Path) -> dict[str, Any]:
    path = Path(folder) / FILE
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        return tomllib.load(f)


def _env(value: Any) -> Any:
    if isinstance(value, str):
        match = ENV.fullmatch(value.strip())
        if match:
            return os.environ.get(match.group(1))
    return value


def project_settings(folder: Path) -> dict[str, Any]:
    """The stack-config keys of one project (raw, as `projects[i]` holds them) the file sets."""
    toml = load(folder)
    auth, email = toml.get("auth", {}), toml.get("auth", {}).get("email", {})
    raw: dict[str, Any] = {}
    for key, target in (("site_url", "siteUrl"), ("additional_redirect_urls", "redirectUrls"),
                        ("jwt_expiry", "jwtExpiry")):
        if auth.get(key) not in (None, "", []):
            raw[target] = _env(auth[key])
    if "enable_signup" in auth or "enable_signup" in email:
        raw["signup"] = "open" if auth.get("enable_signup", True) and email.get("enable_signup", True) else "closed"
    smtp = email.get("smtp") or {}
    if smtp.get("enabled", True) and smtp.get("host"):
        raw["smtp"] = {k: v for k, v in {"host": _env(smtp.get("host")), "port": smtp.get("port"),
                                         "user": _env(smtp.get("user")), "pass": _env(smtp.get("pass")),
                                         "sender": _env(smtp.get("admin_email")),
                                         "senderName": _env(smtp.get("sender_name"))}.items() if v is not None}
    if "enable_confirmations" in email and ("smtp" in raw or email["enable_confirmations"] is False):
        raw["autoconfirm"] = not email["enable_confirmations"]
    external = {}
    for name, p in (auth.get("external") or {}).items():
        if isinstance(p, dict) and p.get("enabled") and _env(p.get("client_id")) and _env(p.get("secret")):
            external[name] = {k: v for k, v in {"clientId": _env(p["client_id"]), "secret": _env(p["secret"]),
                                                "url": _env(p.get("url")) or None}.items() if v is not None}
    if external:
        raw["external"] = external
    settings: dict[str, Any] = {"auth": raw} if raw else {}
    buckets = [{"name": name, **{k: v for k, v in {"public": b.get("public"), "fileSizeLimit": b.get("file_size_limit"),
                                                   "allowedMimeTypes": b.get("allowed_mime_types")}.items()
                                 if v is not None}}
               for name, b in (toml.get("storage", {}).get("buckets") or {}).items() if isinstance(b, dict)]
    if buckets:
        settings["storage"] = {"buckets": buckets}
    return settings


def seed(folder: Path) -> tuple[bool, list[str]]:
    """[db.seed]: whether the seed runs on creation and its files (the CLI's defaults: on, ./seed.sql)."""
    found = load(folder).get("db", {}).get("seed", {})
    return bool(found.get("enabled", True)), list(found.get("sql_paths", ["./seed.sql"]))


def project_seed(project: Any) -> tuple[bool, list[str]]:
    """A supabaseDir project's seed: config.toml's [db.seed], its `enabled` overridden by the stack
    config's `projects[].seed` when set (a seed meant for local development stays off)."""
    enabled, paths = seed(project.supabase_dir)
    return (enabled if project.seed is None else project.seed), paths


def merged(project: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The raw project entry over the app's settings: a key of the stack config wins."""
    return _merge(project_settings(folder), project)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


def warnings(folder: Path, where: str) -> list[str]:
    """Keys the file sets that this stack cannot honour for one project, or whose env() is unset."""
    found = []
    for key, value in _leaves(load(folder)):
        if key.startswith(LOCAL_ONLY) or value in (None, "", [], {}, False):
            continue
        if key.startswith(HONOURED):
            if isinstance(value, str) and ENV.fullmatch(value.strip()) and _env(value) is None:
                found.append(f"{where}: {key} = {value} is not set in the environment of `pulumi up`; "
                             "the setting is left out")
            continue
        found.append(f"{where}: {key} in config.toml cannot be honoured per project on this stack and is ignored "
                     "(one PostgREST, Realtime and Storage serve every project); set what the stack offers in "
                     "the stack config instead")
    return found


def _leaves(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        out += _leaves(value, path + ".") if isinstance(value, dict) else [(path, value)]
    return out
