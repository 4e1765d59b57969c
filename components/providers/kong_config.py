"""Kong's declarative config: rendered here, pushed live to the running Kong, kept for restarts.

Why a dynamic resource and not a container input: the config holds every project's keys,
so as a container input each project change would recreate Kong and drop its connections.
Instead the Kong container starts from a base config (stack keys only, no project) and
this resource, on every change of the full config:

1. `POST /config` on Kong's admin API (published on the host's 127.0.0.1 only): Kong
   validates the new config and swaps it in atomically, in memory; open connections and
   in-flight requests continue. An invalid config is refused and the old one stays.
2. writes the same file into Kong's config volume (`docker cp`), which Kong's entrypoint
   prefers over the base config, so a restart of Kong keeps every project.

The config text is a secret input (it holds service keys and the dashboard password).
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import jinja2
import pulumi
import yaml
from pulumi.dynamic import Resource

from components.core.docker_cli import copy_into, tar_archive
from components.providers.dynamic_base import ConvergingProvider

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "kong.yml.j2"
CONFIG_DIR = "/home/kong/config"  # Kong's config volume
LIVE_FILE = f"{CONFIG_DIR}/kong.yml"
BASE_FILE = "/home/kong/base.yml"  # uploaded with the container: stack keys only
DASHBOARD_USER = "supabase"
REALTIME_HOST = "realtime-dev.supabase-realtime"


@dataclass(frozen=True)
class Groups:
    anon: str = "anon"
    service: str = "service"
    admin: str = "admin"

    @staticmethod
    def project(name: str) -> str:
        return f"project-{name}"


GROUPS = Groups()
API_GROUPS = (GROUPS.admin, GROUPS.anon, GROUPS.service)
ADMIN_GROUPS = (GROUPS.admin,)


@dataclass(frozen=True)
class ProjectKeys:
    """One project as Kong sees it: its keys, the roles its tokens may carry, its auth
    upstream, its local path prefix and, when it has one, its hostname."""

    name: str
    anon_key: str
    service_key: str
    hostname: Optional[str] = None
    roles: Sequence[str] = ()
    auth_host: str = "auth"
    prefix: str = ""


# Lua run by Kong's pre-function plugin (sandboxed; `cjson.safe` allowed by the container's
# KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES). Returns the per-request function (serverless plugin 0.2+).
GUARD_LUA = """local cjson = require "cjson.safe"
local roles = {%(roles)s}
return function()
  local auth = kong.request.get_header("authorization")
  if not auth then
    local key = kong.request.get_header("apikey") or kong.request.get_query_arg("apikey")
    if type(key) ~= "string" then return end
    auth = "Bearer " .. key
    kong.service.request.set_header("Authorization", auth)
  end
  local payload = type(auth) == "string" and string.match(auth, "^[Bb]earer%%s+[%%w_-]+%%.([%%w_-]+)%%.[%%w_-]+$")
  local claims
  if payload then
    local padded = payload:gsub("-", "+"):gsub("_", "/") .. string.rep("=", (4 - #payload %% 4) %% 4)
    local text = ngx.decode_base64(padded)
    claims = text and cjson.decode(text)
  end
  if type(claims) ~= "table" or not roles[claims.role] then
    return kong.response.exit(401, { message = "this key or token does not belong to this project" })
  end
end
"""


# On the shared API routes: a request with only an `apikey` (curl, websockets) gets it as its
# bearer token, as upstream's newer gateway does; PostgREST and the others then see its role
# instead of the anonymous default.
APIKEY_BEARER_LUA = """return function()
  if kong.request.get_header("authorization") then return end
  local key = kong.request.get_header("apikey") or kong.request.get_query_arg("apikey")
  if type(key) == "string" then
    kong.service.request.set_header("Authorization", "Bearer " .. key)
  end
end
"""


def guard_lua(roles: Sequence[str]) -> str:
    """The project guard for `roles`; role names are SQL identifiers, quoted as Lua strings."""
    return GUARD_LUA % {"roles": ", ".join(f"[{json.dumps(r)}] = true" for r in roles)}


@dataclass(frozen=True)
class KongSettings:
    anon_key: str
    service_key: str
    dashboard_password: str
    functions: bool = False
    dashboard_hostname: Optional[str] = None
    studio_hostname: Optional[str] = None
    # With public hostnames, Studio answers on its own hostname only, and the dashboard's
    # /dashboard path only on these local hosts: neither is reachable through the API or a
    # project hostname, outside Cloudflare Access. (A host-bound "/" route would outrank
    # every path-only API route in Kong's router, so Studio cannot keep a local catch-all.)
    local_hosts: Sequence[str] = ("127.0.0.1", "localhost")
    projects: Sequence[ProjectKeys] = field(default_factory=tuple)


def consumers(settings: KongSettings) -> list[dict[str, Any]]:
    """Key-auth consumers and their ACL groups; only the stack service_role key is `admin`."""
    found = [{"username": "anon", "key": settings.anon_key, "groups": [GROUPS.anon]},
             {"username": "service_role", "key": settings.service_key, "groups": [GROUPS.admin]}]
    for p in settings.projects:
        found.append({"username": f"{p.name}_anon", "key": p.anon_key, "groups": [GROUPS.anon, GROUPS.project(p.name)]})
        found.append({"username": f"{p.name}_service", "key": p.service_key,
                      "groups": [GROUPS.service, GROUPS.project(p.name)]})
    return found


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=True)
    env.filters["q"] = lambda value: json.dumps(str(value))  # a JSON string is a YAML string
    env.globals["guard_lua"] = guard_lua
    env.globals["apikey_bearer_lua"] = APIKEY_BEARER_LUA
    return env


_ENV = _environment()
# libyaml's parser when PyYAML has it: the pure-Python one takes seconds on a 500-project config.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def render(settings: KongSettings) -> str:
    """The full declarative config; parsed once here so a template slip fails at preview."""
    text = _ENV.get_template(TEMPLATE.name).render(
        groups=GROUPS, api_groups=API_GROUPS, admin_groups=ADMIN_GROUPS, consumers=consumers(settings),
        dashboard_user=DASHBOARD_USER, dashboard_password=settings.dashboard_password,
        functions=settings.functions, dashboard_hostname=settings.dashboard_hostname, realtime_host=REALTIME_HOST,
        studio_hosts=[settings.studio_hostname] if settings.studio_hostname else [],
        local_hosts=list(settings.local_hosts) if settings.dashboard_hostname else [],
        projects=[{"name": p.name, "hostname": p.hostname, "group": GROUPS.project(p.name), "roles": list(p.roles),
                   "auth_host": p.auth_host, "prefix": p.prefix} for p in settings.projects])
    yaml.load(text, Loader=_YAML_LOADER)
    return text


# -- pushing a config to a running Kong -----------------------------------------------------


def post_config(admin_url: str, text: str, timeout: float = 90.0) -> None:
    """`POST /config`; retries while Kong is still starting, fails at once on a refused config."""
    body = json.dumps({"config": text}).encode()
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(f"{admin_url.rstrip('/')}/config", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30):
                return
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"Kong refused the config (HTTP {err.code}): {_kong_message(err)}") from None
        except OSError as err:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kong admin API at {admin_url} did not answer: {err}") from None
            time.sleep(2)


def _kong_message(err: urllib.error.HTTPError) -> str:
    try:
        return json.dumps(json.loads(err.read()).get("fields") or {})[:2000]
    except (ValueError, AttributeError):
        return err.reason or ""


def config_archive(text: str) -> bytes:
    """kong.yml as a tar stream for `docker cp -`, readable by Kong's unprivileged user."""
    return tar_archive({Path(LIVE_FILE).name: text})


def write_live_file(container: str, text: str) -> None:
    copy_into(container, CONFIG_DIR, config_archive(text))


class KongConfigProvider(ConvergingProvider):
    """No delete: the live file goes with Kong's config volume."""

    def resource_id(self, props: dict[str, Any]) -> str:
        return f"{props['container']}-config"

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        post_config(props["admin_url"], props["config"])  # validated and live first ...
        write_live_file(props["container"], props["config"])  # ... then kept for restarts
        return props


class KongConfig(Resource, module="supabase", name="KongConfig"):
    """The full Kong config, live and on Kong's volume. A new `container_id` (Kong recreated) re-pushes it."""

    def __init__(self, name: str, *, config: pulumi.Input[str], admin_url: str, container: pulumi.Input[str],
                 container_id: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None):
        props = {"config": pulumi.Output.secret(config), "admin_url": admin_url,
                 "container": container, "container_id": container_id}
        super().__init__(KongConfigProvider(), name, props, opts)
