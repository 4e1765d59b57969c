"""Kong, the stack's only public door: API routes by path, Studio and the dashboard behind basic-auth.

The container's inputs depend on stack settings only (ports, stack keys via the base
config); every project's keys and routes reach Kong through components/providers/kong_config.py,
which swaps the config in place. Adding a project therefore recreates nothing here.
Kong's admin API listens on the container's loopback only (components/core/kong_container.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from components.core import kong_container, urls
from components.core.config import StackConfig
from components.core.options import after
from components.providers import kong_config
from components.providers.kong_config import KongConfig, KongSettings, ProjectKeys
from components.resources.secrets import StackSecrets
from components.resources.service import Healthcheck, ServiceSpec, declare, publish

HTTP_PORT = 8000
PLUGINS = "request-transformer,cors,key-auth,acl,basic-auth,request-termination,ip-restriction,pre-function"
# The project guard (kong_config.GUARD_LUA) runs in Kong's Lua sandbox (the default,
# untrusted_lua = sandbox) and may require only this JSON decoder.
SANDBOX_REQUIRES = "cjson.safe"


@dataclass(frozen=True)
class ProjectGateway:
    """What Kong needs of one project (SupabaseProject exposes all of it)."""

    name: str
    anon_key: pulumi.Input[str]  # ES256 JWTs signed with the project's key
    service_key: pulumi.Input[str]
    publishable_key: pulumi.Input[str]  # sb_publishable_ / sb_secret_ (components/core/opaque_keys.py)
    secret_key: pulumi.Input[str]
    verifying_keys: pulumi.Input[list] = ()  # [{kid, pem, roles}]: keys whose tokens count on its URL
    hostname: Optional[str] = None
    roles: Sequence[str] = ()  # the roles its tokens may carry
    auth_host: str = "auth"  # its GoTrue on the stack network


@dataclass(frozen=True)
class GatewayArgs:
    config: StackConfig
    network_name: pulumi.Input[str]
    secrets: StackSecrets
    projects: Sequence[ProjectGateway] = ()
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    auth_network_name: Optional[pulumi.Input[str]] = None  # where the projects' GoTrues are


def stack_settings(config: StackConfig, anon: str, service: str, password: str,
                   projects: Sequence[ProjectKeys] = ()) -> KongSettings:
    return KongSettings(anon_key=anon, service_key=service, dashboard_password=password,
                        functions=config.features.functions, dashboard_hostname=urls.dashboard_hostname(config),
                        studio_hostname=urls.studio_hostname(config), local_hosts=_local_hosts(config),
                        projects=tuple(projects))


def _local_hosts(config: StackConfig) -> tuple[str, ...]:
    host = urls.client_host(config.bind_address)
    return ("127.0.0.1", "localhost", *([host] if host != "127.0.0.1" else []))


def base_config(config: StackConfig, s: StackSecrets) -> pulumi.Output[str]:
    """The stack-only config the container starts with: changes with stack secrets, never with projects."""
    return full_config(config, s, ())


def full_config(config: StackConfig, s: StackSecrets, projects: Sequence[ProjectGateway]) -> pulumi.Output[str]:
    keys = [pulumi.Output.all(p.anon_key, p.service_key) for p in projects]

    def build(values: list) -> str:
        (anon, service, password), pairs = values[:3], values[3:]
        found = [ProjectKeys(p.name, a, k, p.hostname, tuple(p.roles), p.auth_host, urls.project_path(p.name))
                 for p, (a, k) in zip(projects, pairs)]
        return kong_config.render(stack_settings(config, anon, service, password, found))

    return pulumi.Output.secret(pulumi.Output.all(s.anon_key, s.service_role_key, s.dashboard_password, *keys)
                                .apply(build))


def kong_spec(a: GatewayArgs) -> ServiceSpec:
    c = a.config
    return ServiceSpec(
        name="kong", network_name=a.network_name,
        extra_networks=[a.auth_network_name] if a.auth_network_name is not None else [],
        env={"KONG_DATABASE": "off", "KONG_DECLARATIVE_CONFIG": kong_container.BASE_FILE,
             "KONG_DNS_ORDER": "LAST,A,CNAME", "KONG_PLUGINS": PLUGINS,
             "KONG_NGINX_PROXY_PROXY_BUFFER_SIZE": "160k", "KONG_NGINX_PROXY_PROXY_BUFFERS": "64 160k",
             "KONG_ADMIN_LISTEN": kong_container.ADMIN_LISTEN, "KONG_UNTRUSTED_LUA": "sandbox",
             "KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES": SANDBOX_REQUIRES},
        entrypoint=["sh", "-c", kong_container.START_SCRIPT, "kong-start", kong_container.HOME],
        ports=[publish(HTTP_PORT, c.ports.kong, c.bind_address)],
        uploads=[docker.ContainerUploadArgs(file=kong_container.BASE_FILE, content=base_config(c, a.secrets),
                                            permissions="0644")],
        healthcheck=Healthcheck(["CMD", "kong", "health"], interval="10s", retries=5),
        wait=True,
    )


class Gateway(pulumi.ComponentResource):
    def __init__(self, name: str, args: GatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:Gateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.container = declare(kong_spec(args), after(child, args.after))
        self.config = KongConfig(
            f"{name}-routes",
            config=full_config(args.config, args.secrets, args.projects),
            container=self.container.name,
            container_id=self.container.id,
            opts=after(child, [self.container]),
        )
        self.register_outputs({})
