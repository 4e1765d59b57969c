"""The API services of the official self-hosting stack, one container each, as upstream runs them.

rest (PostgREST), auth (GoTrue), realtime, storage (file backend on a kept volume),
imgproxy, meta (postgres-meta) and studio. Env names, commands and healthchecks follow
supabase/supabase `docker/docker-compose.yml` (components/core/images.py names the commit).
Nothing here depends on the project list: PostgREST reads its schemas from the database
(PGRST_DB_PRE_CONFIG), Kong gets project keys from components/providers/kong_config.py. So adding
a project replaces or restarts none of these containers.
"""
from __future__ import annotations

import base64
import json

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.core import urls
from components.resources import gotrue
from components.core.config import StackConfig
from components.core.connection_budget import REST_POOL, STACK_AUTH_POOL
from components.core.buckets import MAX_FILE_SIZE
from components.core.images import DB_IMAGE, image
from components.core.migrations import POSTGREST_BASE_SCHEMAS
from components.core.naming import SHARED_AUTH_SCHEMA, SHARED_AUTHENTICATED
from components.core.signing_keys import SigningKey
from components.resources.postgres import ADMIN_USER, DATABASE, JWT_EXP, PORT, Postgres, internal_url
from components.resources.secrets import StackSecrets
from components.resources.service import Healthcheck, Mount, ServiceSpec, declare, named_volume
from components.core.options import after
from components.core.status_probes import PROBES, PROJECT_STATUS_PATH, SELF_PATH, STATUS_PATH
from components.providers.kong_config import REALTIME_HOST

PRE_CONFIG = "supabase_multi.postgrest_pre_config"
# Refuses a token whose key is not its role's project's (sql/bootstrap/0007_token_key_binding.sql.j2).
PRE_REQUEST = "supabase_multi_request.bind_token_roles"
# Realtime takes its tenant id from the first label of the Host header (REALTIME_HOST, the
# name upstream gives the container; here a network alias, so container names stay per stack).
REALTIME_TENANT = REALTIME_HOST.split(".")[0]
STORAGE_PATH = "/var/lib/storage"
TENANT_CACHE_MS = 30_000  # supabase/realtime config/runtime.exs default


@dataclass(frozen=True)
class LogflareAccess:
    """What Studio needs to show logs when features.analytics is on (components/resources/analytics.py)."""

    url: str
    public_token: pulumi.Input[str]
    private_token: pulumi.Input[str]


@dataclass(frozen=True)
class ServicesArgs:
    config: StackConfig
    network_name: pulumi.Input[str]
    secrets: StackSecrets
    database: Postgres
    logflare: Optional[LogflareAccess] = None
    # Containers every service starts after (upstream: analytics healthy, when it exists).
    after: Sequence[pulumi.Resource] = ()


# Where a request's unqualified names resolve after the project's schema: `extensions` too, as the
# Supabase CLI's `[api] extra_search_path = ["public", "extensions"]`, so an app's SQL function
# without its own search_path finds the stack's extensions (pgvector's `<#>`, `uuid_generate_v4()`).
EXTRA_SEARCH_PATH = "public, extensions"


def _url(scheme: str, user: str, password: pulumi.Input[str], database: str = DATABASE) -> pulumi.Output[str]:
    return pulumi.Output.from_input(password).apply(lambda pw: internal_url(scheme, user, pw, database))


def rest(a: ServicesArgs) -> ServiceSpec:
    """PostgREST. Schemas and verifying keys come from the pre-config function (PGRST_DB_SCHEMAS
    and PGRST_JWT_SECRET are only the fallback); the pre-request binds each key to its roles.
    No PGRST_APP_SETTINGS_JWT_SECRET (upstream sets it): PostgREST copies app settings into
    every request's transaction (v14.5 src/PostgREST/Query/PreQuery.hs), where any function a
    project's template defines could read the stack secret with current_setting()."""
    s = a.secrets
    return ServiceSpec(
        name="rest", network_name=a.network_name, command=["postgrest"],
        env={"PGRST_DB_SCHEMAS": POSTGREST_BASE_SCHEMAS, "PGRST_DB_PRE_CONFIG": PRE_CONFIG,
             "PGRST_DB_PRE_REQUEST": PRE_REQUEST,
             "PGRST_DB_MAX_ROWS": "1000", "PGRST_DB_EXTRA_SEARCH_PATH": EXTRA_SEARCH_PATH, "PGRST_DB_ANON_ROLE": "anon",
             "PGRST_DB_USE_LEGACY_GUCS": "false", "PGRST_DB_POOL": str(REST_POOL), "PGRST_APP_SETTINGS_JWT_EXP": str(JWT_EXP)},
        secret_env={"PGRST_DB_URI": _url("postgres", "authenticator", s.postgres_password),
                    "PGRST_JWT_SECRET": s.jwt_secret},
    )


def stack_auth_identity(config: StackConfig) -> gotrue.GoTrueIdentity:
    """The stack's GoTrue: Studio's users and the projects with `auth.mode: shared`."""
    return gotrue.GoTrueIdentity(
        auth_url=urls.stack_auth_url(config), namespace=SHARED_AUTH_SCHEMA, signed_in_role=SHARED_AUTHENTICATED,
        admin_role="service_role", audience=SHARED_AUTHENTICATED, default_site_url=urls.api_url(config))


def legacy_jwk(secret: str) -> dict:
    """The stack's legacy HS256 secret as a JWK, as supabase/supabase docker/utils/add-new-auth-keys.sh
    adds it beside the asymmetric key: tokens signed with it (the stack's legacy keys) still verify."""
    return {"kty": "oct", "k": base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode(), "alg": "HS256",
            "key_ops": ["verify"]}


def stack_gotrue_keys(key: pulumi.Output[SigningKey], secret: pulumi.Input[str]) -> pulumi.Output[str]:
    """The stack GoTrue signs with the stack's ES256 key and still accepts the legacy secret
    (Studio calls its admin API with the stack's legacy service_role key). An `oct` key in
    GOTRUE_JWT_KEYS is what admits HS256 at all (v2.186.0 internal/conf/configuration.go
    ApplyDefaults: ValidMethods are the keys' algorithms); a kid-less HS256 token is then
    checked against GOTRUE_JWT_SECRET (internal/api/auth.go parseJWTClaims)."""
    return pulumi.Output.secret(pulumi.Output.all(key, secret).apply(
        lambda v: json.dumps([v[0].private_jwk(), legacy_jwk(v[1])], separators=(",", ":"))))


def stack_jwks(key: pulumi.Output[SigningKey], secret: pulumi.Input[str]) -> pulumi.Output[str]:
    """What Storage verifies with (JWT_JWKS, read at its start, so stack keys only): tokens of the
    stack's GoTrue and legacy keys. Project tokens reach Storage re-signed by the gateway."""
    return pulumi.Output.secret(pulumi.Output.all(key, secret).apply(
        lambda v: json.dumps({"keys": [v[0].public_jwk(), legacy_jwk(v[1])]}, separators=(",", ":"))))


def auth(a: ServicesArgs) -> ServiceSpec:
    """The stack's GoTrue, configured by the top-level `auth` block (components/resources/gotrue.py)."""
    settings = a.config.auth
    return ServiceSpec(
        name="auth", network_name=a.network_name,
        env={**gotrue.env(settings, stack_auth_identity(a.config)), "GOTRUE_DB_MAX_POOL_SIZE": str(STACK_AUTH_POOL)},
        secret_env=gotrue.secret_env(settings, _url("postgres", "supabase_auth_admin", a.secrets.postgres_password),
                                     a.secrets.jwt_secret, stack_gotrue_keys(a.secrets.stack_key, a.secrets.jwt_secret)),
        healthcheck=gotrue.healthcheck(),
    )


def realtime(a: ServicesArgs, db_enc_key: pulumi.Input[str]) -> ServiceSpec:
    """Realtime with the one self-hosted tenant, which its seed re-creates at every start.

    The tenant is private-only: sql/bootstrap/0004_realtime_private_only.sql.j2 forces the flag
    on its row, so the container starts after the bootstrap. Realtime reads the row back when its
    tenant cache expires; TENANT_CACHE_EXPIRATION_IN_MS states that bound (upstream's default)
    because the guarantee relies on it. Stacks from before the flag get this container replaced
    once by it, which drops the public channels joined until then."""
    s = a.secrets
    probe = pulumi.Output.concat(
        'curl -sSfL --head -o /dev/null -H "Authorization: Bearer ', s.anon_key,
        f'" http://localhost:4000/api/tenants/{REALTIME_TENANT}/health')
    return ServiceSpec(
        name="realtime", network_name=a.network_name, aliases=[REALTIME_HOST],
        env={"PORT": "4000", "DB_HOST": "db", "DB_PORT": str(PORT), "DB_USER": ADMIN_USER, "DB_NAME": DATABASE,
             "DB_AFTER_CONNECT_QUERY": "SET search_path TO _realtime", "ERL_AFLAGS": "-proto_dist inet_tcp",
             "DNS_NODES": "''", "RLIMIT_NOFILE": "10000", "APP_NAME": "realtime", "SEED_SELF_HOST": "true",
             "RUN_JANITOR": "true", "DISABLE_HEALTHCHECK_LOGGING": "true",
             "TENANT_CACHE_EXPIRATION_IN_MS": str(TENANT_CACHE_MS)},
        secret_env={"DB_PASSWORD": s.postgres_password, "DB_ENC_KEY": db_enc_key, "API_JWT_SECRET": s.jwt_secret,
                    "SECRET_KEY_BASE": s.secret_key_base, "METRICS_JWT_SECRET": s.jwt_secret},
        healthcheck=Healthcheck(["CMD-SHELL", probe], interval="30s", start_period="10s"),
    )


def storage(a: ServicesArgs, volume: docker.Volume, s3_key_id: pulumi.Input[str],
            s3_key_secret: pulumi.Input[str]) -> ServiceSpec:
    s = a.secrets
    return ServiceSpec(
        name="storage", network_name=a.network_name, mounts=[Mount(STORAGE_PATH, volume=volume.name)],
        env={"POSTGREST_URL": "http://rest:3000", "STORAGE_PUBLIC_URL": urls.api_url(a.config),
             "REQUEST_ALLOW_X_FORWARDED_PATH": "true", "FILE_SIZE_LIMIT": str(MAX_FILE_SIZE), "STORAGE_BACKEND": "file",
             "GLOBAL_S3_BUCKET": "stub", "FILE_STORAGE_BACKEND_PATH": STORAGE_PATH, "TENANT_ID": "stub",
             "REGION": "stub", "ENABLE_IMAGE_TRANSFORMATION": "true", "IMGPROXY_URL": "http://imgproxy:5001"},
        secret_env={"ANON_KEY": s.anon_key, "SERVICE_KEY": s.service_role_key, "PGRST_JWT_SECRET": s.jwt_secret,
                    "JWT_JWKS": stack_jwks(s.stack_key, s.jwt_secret),
                    "DATABASE_URL": _url("postgres", "supabase_storage_admin", s.postgres_password),
                    "S3_PROTOCOL_ACCESS_KEY_ID": s3_key_id, "S3_PROTOCOL_ACCESS_KEY_SECRET": s3_key_secret},
        healthcheck=Healthcheck(["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://storage:5000/status"],
                                start_period="10s"),
    )


def imgproxy(a: ServicesArgs, volume: docker.Volume) -> ServiceSpec:
    return ServiceSpec(
        name="imgproxy", network_name=a.network_name, mounts=[Mount(STORAGE_PATH, volume=volume.name)],
        env={"IMGPROXY_BIND": ":5001", "IMGPROXY_LOCAL_FILESYSTEM_ROOT": "/", "IMGPROXY_USE_ETAG": "true",
             "IMGPROXY_ENABLE_WEBP_DETECTION": "true", "IMGPROXY_MAX_SRC_RESOLUTION": "16.8"},
        healthcheck=Healthcheck(["CMD", "imgproxy", "health"]),
    )


def meta(a: ServicesArgs) -> ServiceSpec:
    return ServiceSpec(
        name="meta", network_name=a.network_name,
        env={"PG_META_PORT": "8080", "PG_META_DB_HOST": "db", "PG_META_DB_PORT": str(PORT),
             "PG_META_DB_NAME": DATABASE, "PG_META_DB_USER": ADMIN_USER},
        secret_env={"PG_META_DB_PASSWORD": a.secrets.postgres_password, "CRYPTO_KEY": a.secrets.meta_crypto_key},
    )


def studio(a: ServicesArgs, snippets: docker.Volume, functions: docker.Volume) -> ServiceSpec:
    """Studio, reached only through Kong's basic-auth route. Logs pages only with analytics."""
    s = a.secrets
    env = {"HOSTNAME": "::", "STUDIO_PG_META_URL": "http://meta:8080", "POSTGRES_PORT": str(PORT),
           "POSTGRES_HOST": "db", "POSTGRES_DB": DATABASE, "PGRST_DB_SCHEMAS": POSTGREST_BASE_SCHEMAS,
           "PGRST_DB_MAX_ROWS": "1000", "PGRST_DB_EXTRA_SEARCH_PATH": EXTRA_SEARCH_PATH,
           "DEFAULT_ORGANIZATION_NAME": "Default Organization", "DEFAULT_PROJECT_NAME": "Default Project",
           "SUPABASE_URL": "http://kong:8000", "SUPABASE_PUBLIC_URL": urls.api_url(a.config),
           "NEXT_PUBLIC_ENABLE_LOGS": "true" if a.logflare else "false",
           "SNIPPETS_MANAGEMENT_FOLDER": "/app/snippets", "EDGE_FUNCTIONS_MANAGEMENT_FOLDER": "/app/edge-functions"}
    secret = {"POSTGRES_PASSWORD": s.postgres_password, "PG_META_CRYPTO_KEY": s.meta_crypto_key,
              "SUPABASE_ANON_KEY": s.anon_key, "SUPABASE_SERVICE_KEY": s.service_role_key,
              "AUTH_JWT_SECRET": s.jwt_secret}
    if a.logflare:
        env |= {"LOGFLARE_URL": a.logflare.url, "NEXT_ANALYTICS_BACKEND_PROVIDER": "postgres"}
        secret |= {"LOGFLARE_API_KEY": a.logflare.public_token, "LOGFLARE_PUBLIC_ACCESS_TOKEN": a.logflare.public_token,
                   "LOGFLARE_PRIVATE_ACCESS_TOKEN": a.logflare.private_token}
    return ServiceSpec(
        name="studio", network_name=a.network_name, env=env, secret_env=secret,
        mounts=[Mount("/app/snippets", volume=snippets.name), Mount("/app/edge-functions", volume=functions.name)],
        healthcheck=Healthcheck(["CMD", "node", "-e",
                                 "fetch('http://studio:3000/api/platform/profile').then((r) => "
                                 "{if (r.status !== 200) throw new Error(r.status)})"], timeout="10s"),
    )


def _random(name: str, length: int, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    return pulumi.Output.secret(random.RandomPassword(name, length=length, special=False, opts=opts).result)


class SupabaseServices(pulumi.ComponentResource):
    """The core services and their data volumes (storage files, Studio snippets, function code)."""

    def __init__(self, name: str, args: ServicesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:SupabaseServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.storage_volume = named_volume("storage-data", "storage-data", child, keep=True)
        self.snippets_volume = named_volume("studio-snippets", "studio-snippets", child, keep=True)
        self.functions_volume = named_volume("functions-code", "functions-code", child, keep=True)
        # `ready`: the database is up and its roles have the current postgresPassword.
        after_db = self._after(child, args, [args.database.ready])
        self.containers: dict[str, docker.Container] = {}
        self._add(rest(args), self._after(child, args, [args.database.ready, args.database.bootstrap]))
        self._add(auth(args), after_db)
        # After the bootstrap: its event trigger must exist before Realtime first creates its tenants table.
        self._add(realtime(args, _random("realtime-db-enc-key", 16, child)),
                  self._after(child, args, [args.database.ready, args.database.bootstrap]))
        self._add(imgproxy(args, self.storage_volume), child)
        self._add(storage(args, self.storage_volume, _random("storage-s3-key-id", 32, child),
                          _random("storage-s3-key-secret", 64, child)),
                  self._after(child, args, [args.database.ready, self.containers["rest"], self.containers["imgproxy"]]))
        self.auth_image_id = self.containers["auth"].image  # projects' GoTrue containers use it too
        self._add(meta(args), after_db)
        self._add(studio(args, self.snippets_volume, self.functions_volume), after_db)
        self.register_outputs({})

    def _add(self, spec: ServiceSpec, opts: pulumi.ResourceOptions) -> None:
        self.containers[spec.name] = declare(spec, opts)

    @staticmethod
    def _after(child: pulumi.ResourceOptions, args: ServicesArgs, deps: list) -> pulumi.ResourceOptions:
        return after(child, [*deps, *args.after])


def status(config: StackConfig) -> list[dict]:
    """The `services` output: {name, image, healthUrl}. A health URL is the dashboard's own
    status endpoint (components/core/status_probes.py): same origin as the status page, so it
    sees real status codes, and it carries no key. Services with no HTTP health endpoint
    (db, functions) have none, and the page shows them as unknown."""
    site = urls.dashboard_url(config)
    names = ["db", "kong", "auth", "rest", "realtime", "storage", "imgproxy", "meta", "studio", "dashboard"]
    features = config.features
    names += (["analytics", "vector"] if features.analytics else []) + (["functions"] if features.functions else [])
    names += ["supavisor"] if features.pooler else []

    def health_url(name: str) -> Optional[str]:
        if name == "dashboard":
            return f"{site}{SELF_PATH}"
        return f"{site}{STATUS_PATH}{name}" if name in PROBES else None

    def pinned(name: str) -> str:
        return image(DB_IMAGE[config.postgres_major] if name == "db" else name)  # the major the stack runs

    return [{"name": name, "image": pinned(name), "healthUrl": health_url(name)} for name in names]


def project_status(config: StackConfig, project: str, auth_mode: str) -> list[dict]:
    """A project's own services for the status page, in the `services` output's shape: its
    GoTrue `auth-<p>` (own mode) through the dashboard's `/status/project/<label>`, or the
    stack's `auth` it signs in with (shared mode), so a down GoTrue shows on its project."""
    site = urls.dashboard_url(config)
    if auth_mode == "shared":
        return [{"name": "auth", "image": image("auth"), "healthUrl": f"{site}{STATUS_PATH}auth", "shared": True}]
    label = project.replace("_", "-")
    return [{"name": f"auth-{label}", "image": image("auth"), "healthUrl": f"{site}{PROJECT_STATUS_PATH}{label}",
             "shared": False}]
