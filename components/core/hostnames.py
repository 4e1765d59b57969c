"""Public hostnames as the stack config implies them, and their conflicts.

Below both config.py (which validates route conflicts with the rest of the config) and
urls.py (which builds URLs from the hostnames): it reads the config's fields and imports
neither, so config -> hostnames <- urls, and no loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # types only: config imports this module
    from components.core.config import ProjectConfig, StackConfig


def _stack_default(config: StackConfig, label: str) -> str:
    """`api.<domain>`; in a cell `api-<cell>.<domain>`, so that cells sharing a zone never
    claim the same stack hostname (projects' names are unique across the deployment)."""
    return f"{label}-{config.cell.name}.{config.domain}" if config.cell else f"{label}.{config.domain}"


def api_hostname(config: StackConfig) -> Optional[str]:
    return (config.hostnames.api or _stack_default(config, "api")) if config.domain else None


def studio_hostname(config: StackConfig) -> Optional[str]:
    return (config.hostnames.studio or _stack_default(config, "studio")) if config.domain else None


def dashboard_hostname(config: StackConfig) -> Optional[str]:
    return (config.hostnames.dashboard or _stack_default(config, "supabase")) if config.domain else None


def project_hostname(config: StackConfig, project: ProjectConfig) -> Optional[str]:
    """A first-level name by default (`<name>-api.<domain>`): Universal SSL covers only `*.<domain>`."""
    if project.hostname:
        return project.hostname
    return f"{project.name.replace('_', '-')}-api.{config.domain}" if config.domain else None


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
