"""Public hostnames and URLs, local or published, derived from config in one place.

Three ways in: local (`http://127.0.0.1:<kong port>`), the user's own reverse proxy or LAN
(`publicUrl`), or a Cloudflare tunnel (`domain` + `cloudflare`, always https).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from components.config import ProjectConfig, StackConfig


def client_host(bind_address: str) -> str:
    """Where a client on the Docker host reaches a port published on bind_address."""
    return "127.0.0.1" if ipaddress.ip_address(bind_address).is_unspecified else bind_address


def local_base(config: StackConfig) -> str:
    host = client_host(config.bind_address)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.ports.kong}"


def base_url(config: StackConfig) -> str:
    """Kong without Cloudflare: `publicUrl` when the stack is behind the user's proxy, else the local port."""
    return config.public_url or local_base(config)


def serves_hostnames(config: StackConfig) -> bool:
    """Whether the stack's hostnames reach Kong: through Cloudflare, or through the user's proxy."""
    return config.published or config.public_url is not None


def origin(config: StackConfig, hostname: str) -> str:
    """`https://<hostname>` through Cloudflare; behind the user's proxy, publicUrl's scheme and port."""
    if config.public_url is None:
        return f"https://{hostname}"
    parts = urlsplit(config.public_url)
    return f"{parts.scheme}://{hostname}" + (f":{parts.port}" if parts.port else "")


def api_hostname(config: StackConfig) -> Optional[str]:
    return (config.hostnames.api or f"api.{config.domain}") if config.domain else None


def studio_hostname(config: StackConfig) -> Optional[str]:
    return (config.hostnames.studio or f"studio.{config.domain}") if config.domain else None


def dashboard_hostname(config: StackConfig) -> Optional[str]:
    return (config.hostnames.dashboard or f"supabase.{config.domain}") if config.domain else None


def project_hostname(config: StackConfig, project: ProjectConfig) -> Optional[str]:
    """A first-level name by default (`<name>-api.<domain>`): Universal SSL covers only `*.<domain>`."""
    if project.hostname:
        return project.hostname
    return f"{project.name.replace('_', '-')}-api.{config.domain}" if config.domain else None


def api_url(config: StackConfig) -> str:
    """What GoTrue (API_EXTERNAL_URL, SITE_URL), Storage and Studio are told the public API is."""
    return origin(config, api_hostname(config)) if config.published else base_url(config)


def studio_url(config: StackConfig) -> str:
    """With `domain`, Kong serves Studio only on its hostname; otherwise at `/` of the base."""
    host = studio_hostname(config)
    return origin(config, host) if host and serves_hostnames(config) else f"{base_url(config)}/"


def dashboard_url(config: StackConfig) -> str:
    host = dashboard_hostname(config)
    return f"{origin(config, host)}/" if host and serves_hostnames(config) else f"{base_url(config)}/dashboard/"


LOCAL_PROJECT_PREFIX = "/project"


def project_path(name: str) -> str:
    """The path prefix of a project on Kong's local port: /project/<name>."""
    return f"{LOCAL_PROJECT_PREFIX}/{name}"


def project_url(config: StackConfig, project: ProjectConfig) -> str:
    """The one URL of a project, for `createClient(url, key)`: its hostname when the stack
    serves hostnames (Cloudflare or `publicUrl`), else a path prefix of the stack's base URL. /rest/v1, /auth/v1, /storage/v1, /realtime/v1 are under it."""
    host = project_hostname(config, project)
    if host and serves_hostnames(config):
        return origin(config, host)
    return f"{base_url(config)}{project_path(project.name)}"


def project_rest_url(config: StackConfig, project: ProjectConfig) -> str:
    return f"{project_url(config, project)}/rest/v1"


def project_auth_url(config: StackConfig, project: ProjectConfig) -> str:
    """Kong sends it to the project's own GoTrue, or to the stack's for `auth.mode: shared`."""
    return f"{project_url(config, project)}/auth/v1"


def stack_auth_url(config: StackConfig) -> str:
    return f"{api_url(config)}/auth/v1"


@dataclass(frozen=True)
class Route:
    """One public hostname: where it comes from in config and whether Access guards it."""

    key: str  # stable logical key: api, studio, dashboard, project-<name>
    setting: str  # the config key that sets this hostname
    hostname: str
    protected: bool  # people-only UI: behind Cloudflare Access when accessEmails is set


def routes(config: StackConfig) -> list[Route]:
    """Public hostnames in a stable order: the stack's three, then projects in config order.

    Appending a project to the config appends one route, so the ingress list and DNS
    records change by exactly one entry.
    """
    stack = [
        Route("api", "hostnames.api", api_hostname(config), False),
        Route("studio", "hostnames.studio", studio_hostname(config), True),
        Route("dashboard", "hostnames.dashboard", dashboard_hostname(config), True),
    ]
    projects = [
        Route(f"project-{p.name}", f"projects[{i}].hostname", project_hostname(config, p), False)
        for i, p in enumerate(config.projects)
    ]
    return [r for r in stack + projects if r.hostname]


def route_problems(config: StackConfig) -> list[str]:
    """Route conflicts that only show up once defaults are applied; one line per problem."""
    found: list[str] = []
    seen: dict[str, Route] = {}
    for route in routes(config):
        if route.hostname in seen:
            found.append(f"{route.setting}: {route.hostname!r} is already the hostname of "
                         f"{seen[route.hostname].setting}; public hostnames must be unique")
        else:
            seen[route.hostname] = route
        if config.published and route.hostname != config.domain and not route.hostname.endswith("." + config.domain):
            found.append(f"{route.setting}: {route.hostname!r} is not inside the Cloudflare zone {config.domain!r}; "
                         "its DNS record can only be created in that zone")
    return found
