"""Public hostnames and URLs, local or published, derived from config in one place.

Three ways in: local (`http://127.0.0.1:<kong port>`), the user's own reverse proxy or LAN
(`publicUrl`), or a Cloudflare tunnel (`domain` + `cloudflare`, always https).
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from components.core.config import ProjectConfig, StackConfig
from components.core.hostnames import (  # noqa: F401 - part of the URL vocabulary callers use
    Route, api_hostname, dashboard_hostname, project_hostname, route_problems, routes, studio_hostname)


def client_host(bind_address: str) -> str:
    """Where a client on the Docker host reaches a port published on bind_address."""
    return "127.0.0.1" if ipaddress.ip_address(bind_address).is_unspecified else bind_address


def reach_host(config: StackConfig) -> str:
    """Where this machine (running `pulumi`) reaches the stack's published ports: the Docker
    host itself, or a cell's `address` when its containers run on another machine."""
    if config.cell is not None and config.cell.address:
        return config.cell.address
    return client_host(config.bind_address)


def local_base(config: StackConfig) -> str:
    host = reach_host(config)
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


