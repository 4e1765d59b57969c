"""Warnings for configs that work but that users usually do not want (shown by preview)."""
from __future__ import annotations

import ipaddress

from components.core.config.models import StackConfig
from components.core.config.rules import POOLER_TRANSACTION_PORT


def warnings(config: StackConfig) -> list[str]:
    """Things that work but that users usually do not want."""
    return (_exposure_warnings(config) + _certificate_warnings(config) + _signup_warnings(config)
            + _retired_warnings(config) + _unserved_hostname_warnings(config) + _app_warnings(config))


def _app_warnings(config: StackConfig) -> list[str]:
    """config.toml keys of a `supabaseDir` app this stack cannot honour per project (components/core/app_config.py,
    and for its `[functions.<name>]` sections components/core/app_functions.py)."""
    from components.core import app_config, app_functions

    return [line for i, p in enumerate(config.projects) if p.supabase_dir is not None
            for line in (*app_config.warnings(p.supabase_dir, f"projects[{i}].supabaseDir"),
                         *app_functions.warnings(p.supabase_dir, f"projects[{i}].supabaseDir"))]


def _unserved_hostname_warnings(config: StackConfig) -> list[str]:
    """A hostname reaches Kong only through Cloudflare or the user's proxy (`publicUrl`);
    without either, setting one changes nothing and the project stays on its local URL."""
    if config.published or config.public_url is not None:
        return []
    unserved = [(f"projects[{i}].hostname", p.hostname) for i, p in enumerate(config.projects) if p.hostname]
    unserved += [(f"hostnames.{k}", v) for k, v in config.hostnames.model_dump().items() if v]
    return [f"{path}: {host!r} is served by nothing: without `domain` and `cloudflare`, or `publicUrl` for your "
            "own reverse proxy, the stack answers only on its local URL; set one of them, or remove the hostname"
            for path, host in unserved]


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
