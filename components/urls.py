"""Public hostnames and URLs, local or published, derived from config in one place."""
from __future__ import annotations

from typing import Optional

from components.config import ProjectConfig, StackConfig


def local_base(config: StackConfig) -> str:
    host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "::") else config.bind_address
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


def project_rest_url(config: StackConfig, project: ProjectConfig) -> str:
    host = project_hostname(config, project)
    base = f"https://{host}" if config.published and host else api_url(config)
    return f"{base}/rest/v1"
