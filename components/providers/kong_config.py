"""Kong's declarative config: rendered here, pushed live to the running Kong, kept for restarts.

Why a dynamic resource and not a container input: the config holds every project's keys,
so as a container input each project change would recreate Kong and drop its connections.
Instead the Kong container starts from a base config (stack keys only, no project) and
this resource, on every change of the full config, copies it into the container and runs
components/core/kong_container.PUSH_SCRIPT there (`docker exec`): Kong checks it, swaps it
in atomically through its admin API on the container's loopback (open connections and
in-flight requests continue; a refused config leaves the old one in place), and only then
keeps it as the file a restart of that container starts from.

On every preview and up the resource also compares that file with the config it should
hold (a new container has none; the start script sets aside a file Kong refuses), so a
Kong that lost or refused its config shows as an update and is repaired by it.

The config text is a secret input (it holds service keys and the dashboard password).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import jinja2
import pulumi
import yaml
from pulumi.dynamic import DiffResult, Resource

from components.core import kong_container
from components.core.docker_cli import DockerError, copy_into, docker, tar_archive
from components.providers.dynamic_base import ConvergingProvider

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "kong.yml.j2"
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
# KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES). Each chunk returns the per-request function
# (serverless plugin 0.2+); a phase's functions see the PDK as `kong` and `ngx`.

# A request with only an `apikey` (curl, websockets) gets it as its bearer token, as
# upstream's newer gateway does; PostgREST and the others then see its role instead of the
# anonymous default. Leaves `auth` holding the request's bearer header (or nothing).
_APIKEY_AS_BEARER = """  local auth = kong.request.get_header("authorization")
  if not auth then
    local key = kong.request.get_header("apikey") or kong.request.get_query_arg("apikey")
    if type(key) ~= "string" then return end
    auth = "Bearer " .. key
    kong.service.request.set_header("Authorization", auth)
  end
"""

APIKEY_BEARER_LUA = "return function()\n" + _APIKEY_AS_BEARER + "end\n"

# The project guard: besides the apikey copy, a bearer whose top-level `role` claim is not
# one of the project's roles is refused before key-auth.
GUARD_LUA = """local cjson = require "cjson.safe"
local roles = {%(roles)s}
return function()
""" + _APIKEY_AS_BEARER.replace("%", "%%") + """  local payload = type(auth) == "string" and string.match(auth, "^[Bb]earer%%s+[%%w_-]+%%.([%%w_-]+)%%.[%%w_-]+$")
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

# PostgREST answers a schema it does not serve with 406 PGRST106 and a hint listing every
# exposed schema (postgrest v14.5 src/PostgREST/Error.hs, UnacceptableSchema): every
# project's name. On the routes to PostgREST the hint is replaced; the message keeps the
# schema the client asked for. Only 406 bodies are buffered.
SCHEMA_LIST_HEADER_LUA = """return function()
  if kong.response.get_status() == 406 then
    kong.ctx.plugin.schema_error = true
    kong.response.clear_header("Content-Length")
  end
end
"""
SCHEMA_LIST_BODY_LUA = """local cjson = require "cjson.safe"
return function()
  if not kong.ctx.plugin.schema_error then return end
  local body = kong.response.get_raw_body()
  if not body then return end
  local err = cjson.decode(body)
  if type(err) == "table" and err.code == "PGRST106" then
    err.hint = "A key serves only its own project's schema, on the project's URL."
    kong.response.set_raw_body(cjson.encode(err))
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
    env.globals["schema_list_lua"] = (SCHEMA_LIST_HEADER_LUA, SCHEMA_LIST_BODY_LUA)
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


def push_archive(text: str) -> bytes:
    """The config and the admin API's request body, as a tar stream for `docker cp -`."""
    return tar_archive({kong_container.NEXT_FILE: text, kong_container.NEXT_BODY: json.dumps({"config": text})})


def push(container: str, text: str) -> None:
    """Copies the config into Kong and has Kong take it (components/core/kong_container.PUSH_SCRIPT)."""
    copy_into(container, kong_container.HOME, push_archive(text))
    try:
        docker("exec", container, "sh", "-c", kong_container.PUSH_SCRIPT, "kong-push", kong_container.HOME,
               str(kong_container.PUSH_TIMEOUT_SECONDS), timeout=kong_container.PUSH_TIMEOUT_SECONDS + 60)
    except DockerError as err:
        what = "refused the config" if err.returncode == 3 else "did not take the config"
        raise RuntimeError(f"Kong in {container} {what}: {err.stderr[-4000:]}") from None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def live_digest(container: str) -> str:
    """The sha256 of the config the container would restart from; empty when it has none or
    Docker cannot tell (both mean: push again)."""
    try:
        return docker("exec", container, "sh", "-c", kong_container.DIGEST_SCRIPT, "kong-digest",
                      kong_container.HOME, timeout=30).strip()
    except (DockerError, OSError):
        return ""


class KongConfigProvider(ConvergingProvider):
    """No delete: the config goes with Kong's container."""

    def resource_id(self, props: dict[str, Any]) -> str:
        return f"{props['container']}-config"

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        push(props["container"], props["config"])
        return props

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        found = super().diff(_id, olds, news)
        if found.changes or not isinstance(news.get("config"), str):
            return found
        if live_digest(news["container"]) == digest(news["config"]):
            return found
        return DiffResult(changes=True, replaces=[], stables=[], delete_before_replace=False)


class KongConfig(Resource, module="supabase", name="KongConfig"):
    """The full Kong config, live in Kong and kept for its restarts. A new `container_id`
    (Kong recreated) pushes it again, and so does a Kong that lost or refused it."""

    def __init__(self, name: str, *, config: pulumi.Input[str], container: pulumi.Input[str],
                 container_id: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None):
        props = {"config": pulumi.Output.secret(config), "container": container, "container_id": container_id}
        super().__init__(KongConfigProvider(), name, props, opts)
