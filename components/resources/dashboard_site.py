"""The generated dashboard, served inside the stack by a small nginx container.

The pages are rendered from the same public values the stack exports (never a secret
output) and copied into the running container by a dynamic resource, so a project change
re-uploads the site without replacing or restarting any container, this one included.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_docker as docker
from pulumi.dynamic import Resource

from components.core import docker_cli
from components.core.images import image
from components.resources.service import Healthcheck, Mount, ServiceSpec, declare, named_volume
from components.providers.dynamic_base import ConvergingProvider
from components.core.sql_templates import render
from components.core.status_probes import PROBES, PROJECT_LABEL_RE, PROJECT_PROBE_PORT

IMAGE = image("dashboard")
WEB_ROOT = "/usr/share/nginx/html"
USAGE_PATH = f"{WEB_ROOT}/usage"  # usage/usage.json, beside the pages; `docker cp` of the site never touches it
NGINX_CONF = Path(__file__).resolve().parents[2] / "volumes" / "dashboard" / "default.conf.j2"


def nginx_conf(probes: dict = PROBES) -> str:
    """The site's nginx config with the status probes: the same for every stack, so a project
    or feature change never replaces the container."""
    return render(NGINX_CONF, probes=probes, project_label=PROJECT_LABEL_RE, project_port=PROJECT_PROBE_PORT)


@dataclass(frozen=True)
class DashboardSiteArgs:
    network_name: pulumi.Input[str]
    # The public stack outputs (apiUrl, studioUrl, dashboardUrl, anonKey, projects, services, stack).
    public_outputs: pulumi.Input[dict[str, Any]]
    # The projects' GoTrues are there: nginx asks each one's /health for the status page.
    auth_network_name: Optional[pulumi.Input[str]] = None
    # components/resources/usage.py's volume, served read-only at usage/usage.json.
    usage_volume: Optional[pulumi.Input[str]] = None
    docker_host: Optional[str] = None  # a cell's daemon (components/core/config/cell.py)


def site_archive(outputs: dict[str, Any]) -> tuple[bytes, list[str]]:
    """The built site as a tar archive (what `docker cp -` reads), and the build warnings."""
    from dashboard.build import site_files

    files, warnings = site_files(outputs, stack=outputs.get("stack"))
    return docker_cli.tar_archive(files), warnings


class SiteContentProvider(ConvergingProvider):
    """Build warnings (a key dropped, a project skipped) are kept in the `warnings` output.
    No delete: the pages go with the container's volume."""

    IGNORE = frozenset({"digest", "warnings"})

    def resource_id(self, props: dict[str, Any]) -> str:
        return f"{props['container']}-site"

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        archive, warnings = site_archive(props["outputs"])
        container, host = props["container"], props.get("docker_host")
        docker_cli.docker("exec", container, "rm", "-rf", f"{WEB_ROOT}/projects", host=host)  # pages of removed projects
        docker_cli.copy_into(container, WEB_ROOT, archive, host=host)
        return {**props, "digest": hashlib.sha256(archive).hexdigest(), "warnings": warnings}


class SiteContent(Resource, module="supabase", name="DashboardContent"):
    def __init__(self, name: str, container: pulumi.Input[str], outputs: pulumi.Input[dict],
                 docker_host: Optional[str] = None, opts: Optional[pulumi.ResourceOptions] = None):
        props = {"container": container, "outputs": outputs, "digest": None, "warnings": None,
                 **({"docker_host": docker_host} if docker_host else {})}
        super().__init__(SiteContentProvider(), name, props, opts)


class DashboardSite(pulumi.ComponentResource):
    def __init__(self, name: str, args: DashboardSiteArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:DashboardSite", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        pages = named_volume(f"{name}-pages", "dashboard-pages", child, keep=False)  # rebuilt on every up
        self.container = declare(ServiceSpec(
            name="dashboard",
            network_name=args.network_name,
            uploads=[docker.ContainerUploadArgs(file="/etc/nginx/conf.d/default.conf", content=nginx_conf())],
            extra_networks=[args.auth_network_name] if args.auth_network_name is not None else [],
            mounts=[Mount(WEB_ROOT, volume=pages.name),
                    *([Mount(USAGE_PATH, volume=args.usage_volume, read_only=True)] if args.usage_volume else [])],
            healthcheck=Healthcheck(["CMD", "wget", "-q", "--spider", "http://127.0.0.1/healthz"], interval="10s"),
            wait=True,
        ), child)
        self.content = SiteContent(f"{name}-content", self.container.name, args.public_outputs,
                                   docker_host=args.docker_host, opts=child)
        self.register_outputs({})
