"""Public hostnames and URLs, local or published, derived from config in one place."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from components.config import ProjectConfig, StackConfig


WILDCARD_ADDRESSES = ("0.0.0.0", "::")


def client_host(bind_address: str) -> str:
    """Where a client on the Docker host reaches a port published on bind_address."""
    return "127.0.0.1" if bind_address in WILDCARD_ADDRESSES else bind_address


def local_base(config: StackConfig) -> str:
    host = client_host(config.bind_address)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.ports.kong}"


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
    return f"https://{api_hostname(config)}" if config.published else local_base(config)


def studio_url(config: StackConfig) -> str:
    return f"https://{studio_hostname(config)}" if config.published else f"{local_base(config)}/"


def dashboard_url(config: StackConfig) -> str:
    return f"https://{dashboard_hostname(config)}/" if config.published else f"{local_base(config)}/dashboard/"


LOCAL_PROJECT_PREFIX = "/project"


def project_path(name: str) -> str:
    """The path prefix of a project on Kong's local port: /project/<name>."""
    return f"{LOCAL_PROJECT_PREFIX}/{name}"


def project_url(config: StackConfig, project: ProjectConfig) -> str:
    """The one URL of a project, for `createClient(url, key)`: its hostname when published,
    else a path prefix on Kong's port. /rest/v1, /auth/v1, /storage/v1, /realtime/v1 are under it."""
    host = project_hostname(config, project)
    if config.published and host:
        return f"https://{host}"
    return f"{local_base(config)}{project_path(project.name)}"


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
