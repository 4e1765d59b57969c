"""Kong's declarative config: rendered here, pushed live to the running Kong, kept for restarts.

Why a dynamic resource and not a container input: the config holds every project's keys,
so as a container input each project change would recreate Kong and drop its connections.
Instead the Kong container starts from a base config (stack keys only, no project) and
this resource, on every change of the full config, copies it into the container and runs
components/core/kong_container.PUSH_SCRIPT there (`docker exec`): Kong checks it and swaps
it in atomically through its admin API on the container's loopback, `POST /config` (open
connections and in-flight requests continue; a refused config leaves the old one in place,
and Kong's answer lists each refused field), and only then keeps it as the file a restart of
that container starts from. A new project is one more push: nothing restarts.

On every preview and up the resource also compares that file with the config it should
hold (a new container has none; the start script sets aside a file Kong refuses), so a
Kong that lost or refused its config shows as an update and is repaired by it.

What the resource keeps is the settings the config is rendered from (`settings`: every
project's keys, hostname and key ids, a secret input), not the rendered text: a project's
routes carry its guard's Lua on every route, about 31 kB a project against about 1.5 kB of
settings, and the file backend rewrites the whole checkpoint at every step, so the text
made up most of a cell's state (0.78 MB of 1.03 MB of inputs at 25 projects, kept twice, as
input and output). The provider renders it where it pushes it, in `check` too, so a
template slip still fails at preview; its outputs are the config's digest, not its text.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import jinja2
import pulumi
import yaml
from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, Resource

from components.core import kong_container, kong_lua, kong_storage_lua, kong_storage_reply_lua
from components.core.docker_cli import DockerError, copy_into, docker, tar_archive
from components.providers.dynamic_base import ConvergingProvider

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "kong.yml.j2"
DASHBOARD_USER = "supabase"
REALTIME_HOST = "realtime-dev.supabase-realtime"
# Storage's keyless paths and the methods Storage serves them without a JWT (supabase/storage
# v1.44.2: object/getPublicObject.ts, getObjectInfo.ts, getSignedObject.ts, uploadSignedObject.ts,
# render/renderPublicImage.ts, renderSignedImage.ts; a POST to /object/sign/ or
# /object/upload/sign/ creates a signed URL and needs the caller's JWT). Each is a project
# route of its own, without the jwt plugin and with every credential header removed
# (kong_lua.STORAGE_OPEN_LUA), then the project's bucket map (kong_storage_lua); Kong's router
# tries a route with methods before one with paths alone (kong/router/transform.lua:572-666 at
# 3.9.3, get_priority: more kinds of match rule first).
STORAGE_OPEN = (
    ("object-public", ("GET", "HEAD"), "/object/public/"),
    ("object-info-public", ("GET", "HEAD"), "/object/info/public/"),
    ("object-sign", ("GET", "HEAD"), "/object/sign/"),
    ("object-upload-sign", ("PUT",), "/object/upload/sign/"),
    ("render-public", ("GET", "HEAD"), "/render/image/public/"),
    ("render-sign", ("GET", "HEAD"), "/render/image/sign/"),
)


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
class VerifyingKey:
    """A public key whose tokens count on a project's URL, and the roles such a token may carry."""

    kid: str  # RFC 7638 thumbprint (components/core/signing_keys.py): the jwt_secrets `key`
    pem: str  # SubjectPublicKeyInfo PEM (ES256): the jwt_secrets `rsa_public_key`
    roles: Sequence[str] = ()

    @staticmethod
    def of(value: Any) -> "VerifyingKey":
        """From ProjectGateway's plain form `{"kid", "pem", "roles"}` (or a VerifyingKey)."""
        if isinstance(value, VerifyingKey):
            return value
        return VerifyingKey(str(value["kid"]), str(value["pem"]), tuple(value.get("roles") or ()))


@dataclass(frozen=True)
class ProjectKeys:
    """One project as Kong sees it: its API keys (anon and service ES256 JWTs signed with its
    own key, the opaque publishable/secret keys standing for them), the keys whose tokens
    count on its URL, the roles its tokens may carry, its auth upstream, its local path
    prefix and, when it has one, its hostname.

    A token passes a project route only if its key id is one of `verifying_keys` and its role
    is in both that key's roles and `roles` (an empty list on either side admits nothing)."""

    name: str
    anon_key: str
    service_key: str
    hostname: Optional[str] = None
    roles: Sequence[str] = ()
    auth_host: str = "auth"
    prefix: str = ""
    publishable_key: str = ""
    secret_key: str = ""
    verifying_keys: Sequence[VerifyingKey] = ()
    # bucket name -> its Storage id (components/core/buckets.py): the Storage routes' bucket map
    buckets: Mapping[str, str] = field(default_factory=dict)

    def kid_roles(self) -> dict[str, list[str]]:
        allowed = set(self.roles)
        return {k.kid: [r for r in k.roles if r in allowed] for k in self.verifying_keys}

    def guard(self) -> str:
        return kong_lua.guard_lua(self.anon_key, self.service_key, self.publishable_key, self.secret_key,
                                  self.kid_roles())

    def bucket_map(self) -> str:
        return kong_storage_lua.bucket_map_lua(self.name, self.prefix, self.buckets)

    def open_bucket_map(self) -> str:
        return kong_storage_lua.open_bucket_map_lua(self.name, self.prefix, self.buckets,
                                                    [path for _, _, path in STORAGE_OPEN])


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
    # The stack's HS256 secret: project Storage routes re-sign verified claims with it.
    jwt_secret: str = ""


def _jwt_credential(kid: str, pem: str) -> dict[str, str]:
    return {"key": kid, "pem": pem, "unused_secret": hashlib.sha256(f"es256-only:{kid}".encode()).hexdigest()}


def consumers(settings: KongSettings) -> list[dict[str, Any]]:
    """Every consumer: `keys` are key-auth credentials (the stack's shared routes), `jwts`
    jwt_secrets credentials (the project routes), `groups` their ACL groups.

    Key-auth: the stack's anon and service_role keys, and each project's two JWTs, as before
    (only the stack service_role key is `admin`). A project's opaque keys are no key-auth
    credential: they open only the project's own URL.

    Jwt: Kong looks a credential up by its `key` alone, across all consumers
    (kong/plugins/jwt/handler.lua:102 at 3.9.3, `jwt_secrets:select_by_key`), and a key must be
    unique (kong/plugins/jwt/daos.lua:26). So each key id is ONE credential: a key id only
    project p lists sits on `<p>_keys` (group project-<p>); a key id several projects list (the
    stack's own key, on every `auth.mode: shared` project) sits on one consumer of its own,
    in each of those projects' groups. Which roles it may carry stays per project (the guard).

    A credential's `secret` is never used: the jwt plugin takes `rsa_public_key` for any
    algorithm but HS* (kong/plugins/jwt/handler.lua:210-218) and the token's `alg` must equal
    the credential's ES256 (:204). Kong would fill a missing `secret` with a random one
    (daos.lua:27, `auto = true`), so it holds a digest: the same config renders to the same
    text, and Kong's hash check (POST /config?check_hash=1) sees an unchanged config as such."""
    found = [{"username": "anon", "keys": [settings.anon_key], "jwts": [], "groups": [GROUPS.anon]},
             {"username": "service_role", "keys": [settings.service_key], "jwts": [], "groups": [GROUPS.admin]}]
    for p in settings.projects:
        found.append({"username": f"{p.name}_anon", "keys": [p.anon_key], "jwts": [], "groups": [GROUPS.anon]})
        found.append({"username": f"{p.name}_service", "keys": [p.service_key], "jwts": [],
                      "groups": [GROUPS.service]})
    owners: dict[str, list[str]] = {}
    pems: dict[str, str] = {}
    for p in settings.projects:
        for k in p.verifying_keys:
            if pems.setdefault(k.kid, k.pem).strip() != k.pem.strip():
                raise ValueError(f"key id {k.kid} stands for two different public keys")
            if p.name not in owners.setdefault(k.kid, []):
                owners[k.kid].append(p.name)
    for p in settings.projects:
        own = [_jwt_credential(kid, pems[kid]) for kid, names in owners.items() if names == [p.name]]
        found.append({"username": f"{p.name}_keys", "keys": [], "jwts": own, "groups": [GROUPS.project(p.name)]})
    for kid, names in owners.items():
        if len(names) > 1:
            found.append({"username": f"shared_key_{kid}", "keys": [], "jwts": [_jwt_credential(kid, pems[kid])],
                          "groups": [GROUPS.project(n) for n in names]})
    return found


# The stack's own roles: its keys and its GoTrue's users carry them, checked by the services.
STACK_ROLES = frozenset({"anon", "authenticated", "service_role"})


def role_kids(settings: KongSettings) -> dict[str, list[str]]:
    """Each project role (not the stack's own) and the key ids that may sign a token with it:
    the shared routes refuse a token with that role and another key id."""
    found: dict[str, list[str]] = {}
    for p in settings.projects:
        for kid, roles in p.kid_roles().items():
            for role in roles:
                if role not in STACK_ROLES and kid not in found.setdefault(role, []):
                    found[role].append(kid)
    return found


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=True)
    env.filters["q"] = lambda value: json.dumps(str(value))  # a JSON string is a YAML string
    env.globals["storage_open_lua"] = kong_lua.STORAGE_OPEN_LUA
    env.globals["schema_list_lua"] = (kong_lua.SCHEMA_LIST_HEADER_LUA, kong_lua.SCHEMA_LIST_BODY_LUA)
    env.globals["storage_reply_lua"] = (kong_storage_reply_lua.STORAGE_REPLY_HEADER_LUA,
                                        kong_storage_reply_lua.STORAGE_REPLY_BODY_LUA)
    return env


_ENV = _environment()
# libyaml's parser when PyYAML has it: the pure-Python one takes seconds on a 500-project config.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def render(settings: KongSettings) -> str:
    """The full declarative config; parsed once here so a template slip fails at preview."""
    if settings.projects and not settings.jwt_secret:
        raise ValueError("project Storage routes need the stack's JWT secret (KongSettings.jwt_secret)")
    text = _ENV.get_template(TEMPLATE.name).render(
        groups=GROUPS, api_groups=API_GROUPS, admin_groups=ADMIN_GROUPS, consumers=consumers(settings),
        dashboard_user=DASHBOARD_USER, dashboard_password=settings.dashboard_password,
        functions=settings.functions, dashboard_hostname=settings.dashboard_hostname, realtime_host=REALTIME_HOST,
        studio_hosts=[settings.studio_hostname] if settings.studio_hostname else [],
        local_hosts=list(settings.local_hosts) if settings.dashboard_hostname else [],
        shared_lua=kong_lua.shared_route_lua(role_kids(settings)),
        storage_open=STORAGE_OPEN, storage_resign=kong_lua.storage_resign_lua(settings.jwt_secret),
        projects=[{"name": p.name, "hostname": p.hostname, "group": GROUPS.project(p.name), "guard": p.guard(),
                   "bucket_map": p.bucket_map(), "open_bucket_map": p.open_bucket_map(), "auth_host": p.auth_host,
                   "prefix": p.prefix} for p in settings.projects])
    yaml.load(text, Loader=_YAML_LOADER)
    return text


# -- pushing a config to a running Kong -----------------------------------------------------


def push_archive(text: str) -> bytes:
    """The config and the admin API's request body, as a tar stream for `docker cp -`."""
    return tar_archive({kong_container.NEXT_FILE: text, kong_container.NEXT_BODY: json.dumps({"config": text})})


def push(container: str, text: str, host: Optional[str] = None) -> None:
    """Copies the config into Kong and has Kong take it (components/core/kong_container.PUSH_SCRIPT)."""
    copy_into(container, kong_container.HOME, push_archive(text), host=host)
    try:
        docker("exec", container, "sh", "-c", kong_container.PUSH_SCRIPT, "kong-push", kong_container.HOME,
               str(kong_container.PUSH_TIMEOUT_SECONDS), kong_container.PUSH_LUA,
               timeout=kong_container.PUSH_TIMEOUT_SECONDS + 60, host=host)
    except DockerError as err:
        refused = err.returncode == kong_container.PUSH_EXIT_REFUSED
        what = "refused the config" if refused else "did not take the config"
        raise RuntimeError(f"Kong in {container} {what}: {err.stderr[-4000:]}") from None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def live_digest(container: str, host: Optional[str] = None) -> str:
    """The sha256 of the config the container would restart from; empty when it has none or
    Docker cannot tell (both mean: push again)."""
    try:
        return docker("exec", container, "sh", "-c", kong_container.DIGEST_SCRIPT, "kong-digest",
                      kong_container.HOME, timeout=30, host=host).strip()
    except (DockerError, OSError):
        return ""


# -- the settings as the resource keeps them ------------------------------------------------


def settings_dict(settings: KongSettings) -> dict[str, Any]:
    """Plain data (what crosses the engine), from which `settings_of` gives the settings back."""
    return dataclasses.asdict(settings)


def settings_of(data: dict[str, Any]) -> KongSettings:
    projects = tuple(ProjectKeys(**{**p, "roles": tuple(p.get("roles") or ()),
                                    "verifying_keys": tuple(VerifyingKey.of(v) for v in p.get("verifying_keys") or ())})
                     for p in data.get("projects") or ())
    return KongSettings(**{**data, "local_hosts": tuple(data.get("local_hosts") or ()), "projects": projects})


def rendered(props: dict[str, Any]) -> str:
    """The full config a KongConfig's inputs stand for."""
    return render(settings_of(props["settings"]))


# What a diff compares besides the rendered config's digest.
TARGET = ("container", "container_id", "docker_host")


class KongConfigProvider(ConvergingProvider):
    """No delete: the config goes with Kong's container. Outputs: the target and `digest`,
    the sha256 of the config Kong was given (the olds every diff compares with)."""

    def resource_id(self, props: dict[str, Any]) -> str:
        return f"{props['container']}-config"

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        if isinstance(news.get("settings"), dict):
            try:
                rendered(news)
            except (ValueError, TypeError, yaml.YAMLError, jinja2.TemplateError) as err:
                return CheckResult(news, [CheckFailure("settings", f"the Kong config does not render: {err}")])
        return CheckResult(news, [])

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        text = rendered(props)
        push(props["container"], text, props.get("docker_host"))
        return {**{k: props[k] for k in TARGET if k in props}, "digest": digest(text)}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = [k for k in TARGET if olds.get(k) != news.get(k)]
        if not isinstance(news.get("settings"), dict):
            changes.append("settings")  # not known until up (a new project's keys)
        else:
            wanted = digest(rendered(news))
            if olds.get("digest") != wanted or live_digest(news["container"], news.get("docker_host")) != wanted:
                changes.append("settings")
        return DiffResult(changes=bool(changes), replaces=[], stables=[], delete_before_replace=False)


class KongConfig(Resource, module="supabase", name="KongConfig"):
    """The full Kong config, live in Kong and kept for its restarts. A new `container_id`
    (Kong recreated) pushes it again, and so does a Kong that lost or refused it."""

    def __init__(self, name: str, *, settings: pulumi.Input[dict], container: pulumi.Input[str],
                 container_id: pulumi.Input[str], docker_host: Optional[str] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"settings": pulumi.Output.secret(settings), "container": container, "container_id": container_id,
                 **({"docker_host": docker_host} if docker_host else {})}  # a cell's (config/cell.py)
        super().__init__(KongConfigProvider(), name, props, opts)
