"""Kong, the stack's only public door: API routes by path, Studio and the dashboard behind basic-auth.

The container's inputs depend on stack settings only (ports, stack keys via the base
config); every project's keys and routes reach Kong through components/providers/kong_config.py,
which swaps the config in place. Adding a project therefore recreates nothing here.
Kong's admin API listens on the container's loopback only (components/core/kong_container.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_docker as docker

from components.core import kong_container, urls
from components.core.config import StackConfig
from components.core.options import after
from components.providers import kong_config
from components.providers.kong_config import KongConfig, KongSettings, ProjectKeys, VerifyingKey
from components.resources.secrets import StackSecrets
from components.resources.service import Healthcheck, ServiceSpec, declare, publish

HTTP_PORT = 8000
PLUGINS = ("request-transformer,cors,key-auth,jwt,acl,basic-auth,request-termination,ip-restriction,"
           "pre-function,post-function")
# The Lua of components/core/kong_lua.py runs in Kong's Lua sandbox (the default,
# untrusted_lua = sandbox, kong/templates/kong_defaults.lua:207 at 3.9.3) and may require only
# these (untrusted_lua_sandbox_requires, kong/tools/sandbox.lua:62-84): the JSON decoder, and
# Kong's own JWT module, whose `encode` re-signs verified claims for Storage.
SANDBOX_REQUIRES = "cjson.safe,kong.plugins.jwt.jwt_parser"
# Kong 3.9's default router flavor (kong_defaults.lua:189), named so an upgrade of the image
# cannot change it unseen: routes keep their `paths`/`hosts`/`methods` form and the traditional
# order (kong/router/transform.lua:558-666, get_priority), which tests/kong_model.py models.
# (Upstream's Kong override picks `expressions`; this config has no expression routes.)
ROUTER_FLAVOR = "traditional_compatible"
# The config reaches Kong as one POST /config (components/core/kong_container.PUSH_LUA).
# Kong 3.9.3 takes at most 10m there (kong/templates/kong_defaults.lua:114-115) and parses
# only a JSON body held in memory (kong/api/arguments.lua:526-533, get_body_data), so both
# sizes go up together. Each project's routes carry their guard (about 33 kB a project): 64m
# holds some 1,800 projects, past any one stack (README, Performance: a stack stays at a few hundred projects). The admin API
# listens on the container's loopback only.
ADMIN_BODY_SIZE = "64m"


@dataclass(frozen=True)
class ProjectGateway:
    """What Kong needs of one project (SupabaseProject exposes all of it).

    `anon_key`/`service_key` are the project's legacy-format API keys: ES256 JWTs signed with
    its current signing key (header `kid` = the key's RFC 7638 thumbprint).
    `publishable_key`/`secret_key` are its opaque `sb_publishable_`/`sb_secret_` keys, which
    the gateway maps to those two JWTs on this project's URL only.
    `verifying_keys` lists `{"kid": str, "pem": str (SPKI public PEM), "roles": [role, ...]}`:
    the keys whose tokens count on this project's URL and the roles each may carry (every
    live generation of the project's own key; for `auth.mode: shared` also the stack's own
    key, with roles ["authenticated"] only). A token passes only if its role is also in
    `roles`. Why the gateway checks it this way: components/core/kong_lua.py.

    An empty `verifying_keys` admits nothing on the project's URL: a project that does not
    fill it stays closed, it is never opened to other keys."""

    name: str
    anon_key: pulumi.Input[str]  # ES256 JWTs signed with the project's key
    service_key: pulumi.Input[str]
    publishable_key: pulumi.Input[str]  # sb_publishable_ / sb_secret_ (components/core/opaque_keys.py)
    secret_key: pulumi.Input[str]
    # [{kid, pem, roles}]: keys whose tokens count on its URL
    verifying_keys: pulumi.Input[Sequence[Mapping[str, Any]]] = ()
    hostname: Optional[str] = None
    roles: Sequence[str] = ()  # the roles its tokens may carry
    auth_host: str = "auth"  # its GoTrue on the stack network
    # bucket name -> Storage id, from config and an imported app (components/core/kong_storage_lua.py)
    buckets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayArgs:
    config: StackConfig
    network_name: pulumi.Input[str]
    secrets: StackSecrets
    projects: Sequence[ProjectGateway] = ()
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    auth_network_name: Optional[pulumi.Input[str]] = None  # where the projects' GoTrues are


def stack_settings(config: StackConfig, anon: str, service: str, password: str,
                   projects: Sequence[ProjectKeys] = (), jwt_secret: str = "") -> KongSettings:
    return KongSettings(anon_key=anon, service_key=service, dashboard_password=password,
                        functions=config.features.functions, dashboard_hostname=urls.dashboard_hostname(config),
                        studio_hostname=urls.studio_hostname(config), local_hosts=_local_hosts(config),
                        projects=tuple(projects), jwt_secret=jwt_secret)


def _local_hosts(config: StackConfig) -> tuple[str, ...]:
    host = urls.reach_host(config)
    return ("127.0.0.1", "localhost", *([host] if host != "127.0.0.1" else []))


def base_config(config: StackConfig, s: StackSecrets) -> pulumi.Output[str]:
    """The stack-only config the container starts with: changes with stack secrets, never with projects."""
    return _settings(config, s, ()).apply(kong_config.render)


def full_settings(config: StackConfig, s: StackSecrets, projects: Sequence[ProjectGateway]) -> pulumi.Output[dict]:
    """What the full config is rendered from, as the KongConfig resource keeps it (plain data)."""
    return _settings(config, s, projects).apply(kong_config.settings_dict)


def _settings(config: StackConfig, s: StackSecrets, projects: Sequence[ProjectGateway]) -> pulumi.Output[KongSettings]:
    """Every key and route the config is rendered from, a secret."""
    keys = [pulumi.Output.all(p.anon_key, p.service_key, p.publishable_key, p.secret_key, p.verifying_keys)
            for p in projects]

    def build(values: list) -> KongSettings:
        (anon, service, password, secret), found = values[:4], values[4:]
        project_keys = [
            ProjectKeys(p.name, a, k, p.hostname, tuple(p.roles), p.auth_host, urls.project_path(p.name),
                        publishable_key=pub or "", secret_key=sec or "",
                        verifying_keys=tuple(VerifyingKey.of(v) for v in (verifying or ())),
                        buckets=dict(p.buckets))
            for p, (a, k, pub, sec, verifying) in zip(projects, found)]
        return stack_settings(config, anon, service, password, project_keys, secret)

    return pulumi.Output.secret(pulumi.Output.all(s.anon_key, s.service_role_key, s.dashboard_password,
                                                  s.jwt_secret, *keys).apply(build))


def kong_spec(a: GatewayArgs) -> ServiceSpec:
    c = a.config
    return ServiceSpec(
        name="kong", network_name=a.network_name,
        extra_networks=[a.auth_network_name] if a.auth_network_name is not None else [],
        env={"KONG_DATABASE": "off", "KONG_DECLARATIVE_CONFIG": kong_container.BASE_FILE,
             "KONG_DNS_ORDER": "LAST,A,CNAME", "KONG_PLUGINS": PLUGINS, "KONG_ROUTER_FLAVOR": ROUTER_FLAVOR,
             "KONG_NGINX_PROXY_PROXY_BUFFER_SIZE": "160k", "KONG_NGINX_PROXY_PROXY_BUFFERS": "64 160k",
             "KONG_ADMIN_LISTEN": kong_container.ADMIN_LISTEN, "KONG_UNTRUSTED_LUA": "sandbox",
             "KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES": SANDBOX_REQUIRES,
             "KONG_NGINX_ADMIN_CLIENT_MAX_BODY_SIZE": ADMIN_BODY_SIZE,
             "KONG_NGINX_ADMIN_CLIENT_BODY_BUFFER_SIZE": ADMIN_BODY_SIZE},
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
            settings=full_settings(args.config, args.secrets, args.projects),
            container=self.container.name,
            container_id=self.container.id,
            docker_host=args.config.docker_host,
            opts=after(child, [self.container]),
        )
        self.register_outputs({})
