"""The shared Supabase stack as the real __main__.py declares it, under Pulumi mocks.

Containers, images, ports, healthchecks, env names and secrets are compared with the
official self-hosting stack: supabase/supabase docker/docker-compose.yml at the commit in
components/core/images.py (UPSTREAM_COMMIT).
"""
from __future__ import annotations

import re

import pytest
from pulumi.runtime.rpc import is_rpc_secret

from components.core import keys
from components.core.images import IMAGES, UPSTREAM_COMMIT
from tests.program import FAKE_SECRET_PREFIX, ProgramRun, fake_secret, run_program
from tests.stack_inputs import (ALL_FEATURES, CONTAINER, IMAGE, KONG_CONFIG, NS, VOLUME, config_with, containers,
                                docker_inputs, env_names, env_value, leaks, plain, pushed, secret_values)

CORE = ["db", "kong", "rest", "auth", "realtime", "storage", "imgproxy", "meta", "studio"]
OPTIONAL = ["analytics", "vector", "functions", "supavisor"]

# Env var names per service in supabase/supabase docker/docker-compose.yml at
# 00069a4c6fe35a6db32b91015dad24f2fe161302 (components.core.images.UPSTREAM_COMMIT).
UPSTREAM_ENV: dict[str, set[str]] = {
    "db": {"POSTGRES_HOST", "PGPORT", "POSTGRES_PORT", "PGPASSWORD", "POSTGRES_PASSWORD", "PGDATABASE",
           "POSTGRES_DB", "JWT_SECRET", "JWT_EXP"},
    "kong": {"KONG_DATABASE", "KONG_DECLARATIVE_CONFIG", "KONG_DNS_ORDER", "KONG_PLUGINS",
             "KONG_NGINX_PROXY_PROXY_BUFFER_SIZE", "KONG_NGINX_PROXY_PROXY_BUFFERS", "SUPABASE_ANON_KEY",
             "SUPABASE_SERVICE_KEY", "DASHBOARD_USERNAME", "DASHBOARD_PASSWORD"},
    "auth": {"GOTRUE_API_HOST", "GOTRUE_API_PORT", "API_EXTERNAL_URL", "GOTRUE_DB_DRIVER", "GOTRUE_DB_DATABASE_URL",
             "GOTRUE_SITE_URL", "GOTRUE_URI_ALLOW_LIST", "GOTRUE_DISABLE_SIGNUP", "GOTRUE_JWT_ADMIN_ROLES",
             "GOTRUE_JWT_AUD", "GOTRUE_JWT_DEFAULT_GROUP_NAME", "GOTRUE_JWT_EXP", "GOTRUE_JWT_SECRET",
             "GOTRUE_EXTERNAL_EMAIL_ENABLED", "GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED", "GOTRUE_MAILER_AUTOCONFIRM",
             "GOTRUE_SMTP_ADMIN_EMAIL", "GOTRUE_SMTP_HOST", "GOTRUE_SMTP_PORT", "GOTRUE_SMTP_USER", "GOTRUE_SMTP_PASS",
             "GOTRUE_SMTP_SENDER_NAME", "GOTRUE_MAILER_URLPATHS_INVITE", "GOTRUE_MAILER_URLPATHS_CONFIRMATION",
             "GOTRUE_MAILER_URLPATHS_RECOVERY", "GOTRUE_MAILER_URLPATHS_EMAIL_CHANGE", "GOTRUE_EXTERNAL_PHONE_ENABLED",
             "GOTRUE_SMS_AUTOCONFIRM"},
    "rest": {"PGRST_DB_URI", "PGRST_DB_SCHEMAS", "PGRST_DB_MAX_ROWS", "PGRST_DB_EXTRA_SEARCH_PATH",
             "PGRST_DB_ANON_ROLE", "PGRST_JWT_SECRET", "PGRST_DB_USE_LEGACY_GUCS", "PGRST_APP_SETTINGS_JWT_SECRET",
             "PGRST_APP_SETTINGS_JWT_EXP"},
    "realtime": {"PORT", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "DB_AFTER_CONNECT_QUERY",
                 "DB_ENC_KEY", "API_JWT_SECRET", "SECRET_KEY_BASE", "METRICS_JWT_SECRET", "ERL_AFLAGS", "DNS_NODES",
                 "RLIMIT_NOFILE", "APP_NAME", "SEED_SELF_HOST", "RUN_JANITOR", "DISABLE_HEALTHCHECK_LOGGING"},
    "storage": {"ANON_KEY", "SERVICE_KEY", "POSTGREST_URL", "PGRST_JWT_SECRET", "DATABASE_URL", "STORAGE_PUBLIC_URL",
                "REQUEST_ALLOW_X_FORWARDED_PATH", "FILE_SIZE_LIMIT", "STORAGE_BACKEND", "GLOBAL_S3_BUCKET",
                "FILE_STORAGE_BACKEND_PATH", "TENANT_ID", "REGION", "ENABLE_IMAGE_TRANSFORMATION", "IMGPROXY_URL",
                "S3_PROTOCOL_ACCESS_KEY_ID", "S3_PROTOCOL_ACCESS_KEY_SECRET"},
    "imgproxy": {"IMGPROXY_BIND", "IMGPROXY_LOCAL_FILESYSTEM_ROOT", "IMGPROXY_USE_ETAG",
                 "IMGPROXY_ENABLE_WEBP_DETECTION", "IMGPROXY_MAX_SRC_RESOLUTION"},
    "meta": {"PG_META_PORT", "PG_META_DB_HOST", "PG_META_DB_PORT", "PG_META_DB_NAME", "PG_META_DB_USER",
             "PG_META_DB_PASSWORD", "CRYPTO_KEY"},
    "studio": {"HOSTNAME", "STUDIO_PG_META_URL", "POSTGRES_PORT", "POSTGRES_HOST", "POSTGRES_DB", "POSTGRES_PASSWORD",
               "PG_META_CRYPTO_KEY", "PGRST_DB_SCHEMAS", "PGRST_DB_MAX_ROWS", "PGRST_DB_EXTRA_SEARCH_PATH",
               "DEFAULT_ORGANIZATION_NAME", "DEFAULT_PROJECT_NAME", "OPENAI_API_KEY", "SUPABASE_URL",
               "SUPABASE_PUBLIC_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY", "AUTH_JWT_SECRET",
               "LOGFLARE_API_KEY", "LOGFLARE_PUBLIC_ACCESS_TOKEN", "LOGFLARE_PRIVATE_ACCESS_TOKEN", "LOGFLARE_URL",
               "NEXT_PUBLIC_ENABLE_LOGS", "NEXT_ANALYTICS_BACKEND_PROVIDER", "SNIPPETS_MANAGEMENT_FOLDER",
               "EDGE_FUNCTIONS_MANAGEMENT_FOLDER"},
    "functions": {"JWT_SECRET", "SUPABASE_URL", "SUPABASE_PUBLIC_URL", "SUPABASE_ANON_KEY",
                  "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_DB_URL", "VERIFY_JWT"},
    "analytics": {"LOGFLARE_NODE_HOST", "DB_USERNAME", "DB_DATABASE", "DB_HOSTNAME", "DB_PORT", "DB_PASSWORD",
                  "DB_SCHEMA", "LOGFLARE_PUBLIC_ACCESS_TOKEN", "LOGFLARE_PRIVATE_ACCESS_TOKEN", "LOGFLARE_SINGLE_TENANT",
                  "LOGFLARE_SUPABASE_MODE", "POSTGRES_BACKEND_URL", "POSTGRES_BACKEND_SCHEMA",
                  "LOGFLARE_FEATURE_FLAG_OVERRIDE"},
    "vector": {"LOGFLARE_PUBLIC_ACCESS_TOKEN"},
    "supavisor": {"PORT", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_PASSWORD", "DATABASE_URL", "CLUSTER_POSTGRES",
                  "SECRET_KEY_BASE", "VAULT_ENC_KEY", "API_JWT_SECRET", "METRICS_JWT_SECRET", "REGION", "ERL_AFLAGS",
                  "POOLER_TENANT_ID", "POOLER_DEFAULT_POOL_SIZE", "POOLER_MAX_CLIENT_CONN", "POOLER_POOL_MODE",
                  "DB_POOL_SIZE"},
}
# Deliberate differences, each with its reason (docs/stack.md explains them to users).
LEFT_OUT: dict[str, set[str]] = {
    # Upstream's entrypoint pastes these into kong.yml with `eval`; here Jinja2 renders the
    # config and it arrives as a secret upload, so Kong's env holds no key at all.
    "kong": {"SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY", "DASHBOARD_USERNAME", "DASHBOARD_PASSWORD"},
    # Without `auth.smtp` in the stack config; upstream's values are placeholders (supabase-mail).
    "auth": {"GOTRUE_SMTP_ADMIN_EMAIL", "GOTRUE_SMTP_HOST", "GOTRUE_SMTP_PORT", "GOTRUE_SMTP_USER",
             "GOTRUE_SMTP_PASS", "GOTRUE_SMTP_SENDER_NAME"},
    # Empty by default upstream (`${OPENAI_API_KEY:-}`).
    "studio": {"OPENAI_API_KEY"},
    # PostgREST copies app settings into every request (app.settings.jwt_secret): any project's
    # SQL could read the stack secret there and sign tokens for any role (issue 17).
    "rest": {"PGRST_APP_SETTINGS_JWT_SECRET"},
}
# Studio's log pages need Logflare: without features.analytics its settings are left out.
STUDIO_LOGFLARE = {"LOGFLARE_API_KEY", "LOGFLARE_PUBLIC_ACCESS_TOKEN", "LOGFLARE_PRIVATE_ACCESS_TOKEN", "LOGFLARE_URL",
                   "NEXT_ANALYTICS_BACKEND_PROVIDER"}
# KONG_ROUTER_FLAVOR: upstream's Kong 3.9 override (docker/docker-compose.kong.yml) sets it too.
ADDED = {"kong": {"KONG_ADMIN_LISTEN", "KONG_UNTRUSTED_LUA", "KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES",
                  "KONG_NGINX_ADMIN_CLIENT_MAX_BODY_SIZE", "KONG_NGINX_ADMIN_CLIENT_BODY_BUFFER_SIZE",
                  "KONG_ROUTER_FLAVOR"},
         # Each pool's ceiling stated, so that they add up within max_connections (components/core/connection_budget.py).
         "rest": {"PGRST_DB_PRE_CONFIG", "PGRST_DB_PRE_REQUEST", "PGRST_DB_POOL"},
         # Explicit where upstream relies on defaults (namespace `auth`, issuer unset): the same
         # builder (components/resources/gotrue.py) configures every project's GoTrue, where they differ.
         "auth": {"DB_NAMESPACE", "GOTRUE_JWT_ISSUER",
                  # Upstream's asymmetric keys (docker/utils/add-new-auth-keys.sh: "Auth: GOTRUE_JWT_KEYS"),
                  # on here: the stack GoTrue signs with the stack's ES256 key.
                  "GOTRUE_JWT_KEYS", "GOTRUE_DB_MAX_POOL_SIZE"},
         # The same script's "Storage: JWT_JWKS": the stack key and the legacy secret.
         "storage": {"JWT_JWKS"},
         # Upstream's default, stated: how soon a running Realtime reads back its private-only
         # tenant (sql/bootstrap/0004_realtime_private_only.sql.j2).
         "realtime": {"TENANT_CACHE_EXPIRATION_IN_MS"},
         # The key the projects' function folders and manifests derive from (components/core/functions_env.py).
         "functions": {"FUNCTIONS_PROJECTS_KEY"}}

# Healthchecks upstream declares (first words of the test); rest, meta, kong (2.8 in the
# compose file) and functions have none upstream. Kong gets `kong health` here, as upstream's
# Kong 3.9 override (docker/docker-compose.kong.yml) gives it: the config push waits for it.
UPSTREAM_HEALTH = {
    "db": ["CMD", "pg_isready"],
    "auth": ["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:9999/health"],
    "realtime": ["CMD-SHELL"],
    "storage": ["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://storage:5000/status"],
    "imgproxy": ["CMD", "imgproxy", "health"],
    "studio": ["CMD", "node", "-e"],
    "analytics": ["CMD", "curl", "http://localhost:4000/health"],
    "vector": ["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://vector:9001/health"],
    "supavisor": ["CMD", "curl", "-sSfL", "--head", "-o", "/dev/null", "http://127.0.0.1:4000/api/health"],
}


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_program()


@pytest.fixture(scope="module")
def full() -> ProgramRun:
    """Every optional service on, published on another address."""
    return run_program(config_with(features=ALL_FEATURES, bindAddress="192.168.10.5"))


# -- containers and images ---------------------------------------------------------------


@pytest.mark.parametrize("service", CORE)
def test_every_core_service_runs_a_pinned_image_on_the_stack_network(dev, service):
    container = containers(dev)[service]
    (image,) = [r for r in dev.of_type(IMAGE) if r.name == f"{service}-image"]
    assert container.inputs["image"] == f"sha256:{service}-image"  # the RemoteImage's id, not a tag
    assert image.inputs["name"] == IMAGES["db-17" if service == "db" else service]  # a new stack's db runs 17
    assert re.fullmatch(r"[a-z0-9./_-]+:[A-Za-z0-9._-]+", image.inputs["name"]) and not image.inputs["name"].endswith(":latest")
    assert container.inputs["restart"] == "unless-stopped"
    network, *others = container.inputs["networksAdvanced"]
    assert network["name"] == "supabase-dev" and service in network["aliases"]
    # Postgres and Kong are also on the projects' GoTrue network, under the same name.
    assert [(n["name"], service in n["aliases"]) for n in others] == (
        [("supabase-dev-auth", True)] if service in ("db", "kong") else [])
    assert container.inputs["name"] == f"supabase-dev-{service}"


def test_optional_services_are_off_by_default_and_nothing_waits_for_them(dev):
    assert not set(OPTIONAL) & set(containers(dev))
    assert not [r for r in dev.resources if r.name in OPTIONAL or r.typ.endswith((":Analytics", ":Pooler", ":EdgeFunctions"))]


@pytest.mark.parametrize("service", OPTIONAL)
def test_optional_services_are_pinned_when_enabled(full, service):
    container = containers(full)[service]
    (image,) = [r for r in full.of_type(IMAGE) if r.name == f"{service}-image"]
    assert image.inputs["name"] == IMAGES[service] and ":latest" not in image.inputs["name"]
    # The edge runtime runs projects' code: the keyed network only (test_project_functions_graph.py).
    expected = "supabase-dev-auth" if service == "functions" else "supabase-dev"
    assert container.inputs["networksAdvanced"][0]["name"] == expected


def test_with_analytics_on_the_services_start_after_it(full):
    analytics = containers(full)["analytics"].urn
    for service in ["kong", "auth", "rest", "realtime", "meta", "studio", "functions"]:
        assert analytics in containers(full)[service].dependencies, service


def test_realtime_answers_on_the_upstream_tenant_hostname(dev):
    aliases = containers(dev)["realtime"].inputs["networksAdvanced"][0]["aliases"]
    assert "realtime-dev.supabase-realtime" in aliases


def test_realtime_seeds_its_tenant_and_reads_it_back_within_30_seconds(dev):
    realtime = containers(dev)["realtime"]
    assert env_value(realtime, "SEED_SELF_HOST") == "true"
    assert env_value(realtime, "TENANT_CACHE_EXPIRATION_IN_MS") == "30000"
    assert "SELF_HOST_TENANT_NAME" not in env_names(realtime)  # the tenant is realtime-dev, its alias


def test_realtime_starts_after_the_bootstrap_that_makes_its_tenant_private_only(dev):
    """Its first start creates _realtime.tenants; the bootstrap's event trigger must exist by then."""
    (bootstrap,) = dev.of_type("pulumi-python:dynamic/supabase:StackBootstrap")
    assert bootstrap.urn in containers(dev)["realtime"].dependencies


# -- healthchecks and start order --------------------------------------------------------


@pytest.mark.parametrize("service", sorted(UPSTREAM_HEALTH))
def test_healthchecks_are_upstream_ones(full, service):
    tests = plain(containers(full)[service].inputs["healthcheck"]["tests"])
    assert tests[: len(UPSTREAM_HEALTH[service])] == UPSTREAM_HEALTH[service]


def test_the_database_is_healthy_over_tcp_before_anything_connects(dev):
    db = containers(dev)["db"]
    assert plain(db.inputs["healthcheck"]["tests"]) == ["CMD", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"]
    assert db.inputs["wait"] is True
    (provider,) = dev.of_type("pulumi:providers:postgresql")
    (bootstrap,) = dev.of_type("pulumi-python:dynamic/supabase:StackBootstrap")
    assert db.urn in provider.dependencies and db.urn in bootstrap.dependencies
    assert bootstrap.urn in containers(dev)["rest"].dependencies  # the pre-config function exists first


def test_the_kong_config_is_pushed_once_kong_is_healthy(dev):
    kong = containers(dev)["kong"]
    (push,) = dev.of_type(KONG_CONFIG)
    assert kong.inputs["wait"] is True and plain(kong.inputs["healthcheck"]["tests"]) == ["CMD", "kong", "health"]
    assert kong.urn in push.dependencies


# -- ports ----------------------------------------------------------------------------------


def published(run: ProgramRun) -> dict[str, list[dict]]:
    return {name: c.inputs["ports"] for name, c in containers(run).items() if c.inputs.get("ports")}


def test_ports_are_published_on_the_bind_address_only(dev):
    ports = published(dev)
    assert set(ports) == {"db", "kong"}
    assert ports["db"] == [{"internal": 5432, "external": 5432, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert {(p["internal"], p["external"], p["ip"]) for p in ports["kong"]} == {(8000, 8000, "127.0.0.1")}


def test_ports_follow_bind_address(full):
    ports = published(full)
    assert set(ports) == {"db", "kong", "supavisor"}
    by_internal = {(name, p["internal"]): p for name, found in ports.items() for p in found}
    assert by_internal[("db", 5432)]["ip"] == "192.168.10.5"
    assert by_internal[("kong", 8000)]["ip"] == "192.168.10.5"
    assert ("kong", 8001) not in by_internal  # Kong's admin API: inside its container only
    assert by_internal[("supavisor", 6543)]["ip"] == "192.168.10.5"


def test_configured_ports_are_used():
    ports = published(run_program(config_with(ports={"kong": 18000, "postgres": 15432})))
    assert {p["external"] for p in ports["kong"]} == {18000}
    assert ports["db"][0]["external"] == 15432


# -- env names ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(UPSTREAM_ENV))
def test_env_names_are_upstream_ones(full, dev, service):
    expected = UPSTREAM_ENV[service] - LEFT_OUT.get(service, set()) | ADDED.get(service, set())
    assert env_names(containers(full)[service]) == expected, UPSTREAM_COMMIT
    if service == "studio":
        assert env_names(containers(dev)["studio"]) == expected - STUDIO_LOGFLARE


def test_postgrest_reads_its_schemas_from_the_database(dev):
    rest = containers(dev)["rest"]
    assert env_value(rest, "PGRST_DB_PRE_CONFIG") == "supabase_multi.postgrest_pre_config"
    assert env_value(rest, "PGRST_DB_SCHEMAS") == "public,storage,graphql_public"
    assert env_value(rest, "PGRST_DB_ANON_ROLE") == "anon"
    assert all(p not in env_value(rest, "PGRST_DB_SCHEMAS") for p in ("blog", "shop"))


# -- secrets --------------------------------------------------------------------------------


def test_the_leak_check_can_fail():
    secret = fake_secret("postgres-password", 32)
    assert leaks({"envs": [f"PGPASSWORD={secret}"]}, [secret])
    assert not leaks({"envs": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                               "value": [f"PGPASSWORD={secret}"]}}, [secret])


def test_mocks_keep_secret_markers_on_container_inputs(dev):
    """The check below relies on this: pulumi's mock monitor keeps secrets wrapped."""
    db = containers(dev)["db"]
    assert is_rpc_secret(db.inputs["envs"])
    assert f"POSTGRES_PASSWORD={fake_secret('postgres-password', 32)}" in plain(db.inputs["envs"])


@pytest.mark.parametrize("which", ["dev", "full"])
def test_no_secret_in_plain_text_in_any_container_input(dev, full, which):
    run = {"dev": dev, "full": full}[which]
    secrets = secret_values(run)
    checked = [r for r in run.resources if r.typ.startswith("docker:") or r.typ == KONG_CONFIG]
    assert len([r for r in checked if r.typ == CONTAINER]) >= len(CORE)
    problems = {f"{r.typ.split(':')[-1]} {r.name}": leaks(r.inputs, secrets) for r in checked}
    assert {k: v for k, v in problems.items() if v} == {}


def test_secrets_do_reach_the_services_that_need_them(full):
    """Not vacuous: the service key and passwords are in the env lists, under a secret marker."""
    service_key = keys.sign(fake_secret("jwt-secret", 64), "service_role")
    studio, storage = containers(full)["studio"], containers(full)["storage"]
    assert env_value(studio, "SUPABASE_SERVICE_KEY") == service_key and is_rpc_secret(studio.inputs["envs"])
    assert fake_secret("postgres-password", 32) in env_value(storage, "DATABASE_URL")


def test_init_sql_uploads_hold_no_secret(dev):
    uploads = {u["file"]: u["content"] for u in plain(containers(dev)["db"].inputs["uploads"])}
    assert set(uploads) == {
        "/docker-entrypoint-initdb.d/init-scripts/98-webhooks.sql",
        "/docker-entrypoint-initdb.d/init-scripts/99-roles.sql",
        "/docker-entrypoint-initdb.d/init-scripts/99-jwt.sql",
        "/docker-entrypoint-initdb.d/migrations/97-_supabase.sql",
        "/docker-entrypoint-initdb.d/migrations/99-realtime.sql",
        "/docker-entrypoint-initdb.d/migrations/99-logs.sql",
        "/docker-entrypoint-initdb.d/migrations/99-pooler.sql",
    }
    assert not leaks(containers(dev)["db"].inputs["uploads"], [FAKE_SECRET_PREFIX]) and FAKE_SECRET_PREFIX not in str(uploads)


# -- volumes ----------------------------------------------------------------------------------


def test_named_containers_are_deleted_before_their_replacement(dev):
    """Docker refuses a second container with the same name: with Pulumi's default order
    (create the new one first) every image bump or env change would fail half-way."""
    found = containers(dev)
    assert found and all(c.delete_before_replace for c in found.values())


def test_data_volumes_are_protected_and_mounted(dev):
    volumes = {r.name: r for r in dev.of_type(VOLUME)}
    for name in ("db-data-17", "db-config-17", "storage-data"):  # a new stack runs PostgreSQL 17
        assert volumes[name].protect, name
    assert "gateway-config" not in volumes  # Kong's config lives and dies with its container
    mounted = {v["volumeName"]: v["containerPath"] for c in containers(dev).values() for v in c.inputs.get("volumes", [])}
    assert mounted["supabase-dev-db-data-17"] == "/var/lib/postgresql/data"
    assert mounted["supabase-dev-db-config-17"] == "/etc/postgresql-custom"
    assert mounted["supabase-dev-storage-data"] == "/var/lib/storage"


# -- project changes ----------------------------------------------------------------------------


@pytest.mark.parametrize("features", [{}, ALL_FEATURES])
def test_adding_a_project_changes_no_container(features):
    two = config_with(features=features)
    three = config_with(features=features)
    three[f"{NS}:projects"] = three[f"{NS}:projects"] + [{"name": "crm"}]
    before, after = run_program(two), run_program(three)
    (crm,) = [r for r in after.of_type("supabase-multi-instance:index:SupabaseProject") if r.name == "crm"]
    own = {(r.typ, r.name) for r in after.descendants(crm)}
    assert {k for k in own if k[0].startswith("docker:")} == {(CONTAINER, "auth-crm")}  # its GoTrue, alone
    shared = {k: v for k, v in docker_inputs(after).items() if k not in own}
    assert docker_inputs(before) == shared
    assert len([k for k in docker_inputs(after) if k[0] == CONTAINER]) >= len(CORE)
    # ... while the project does reach Kong, through the config resource.
    (push_before,), (push_after,) = before.of_type(KONG_CONFIG), after.of_type(KONG_CONFIG)
    assert "crm_service" not in pushed(push_before) and "crm_service" in pushed(push_after)


# -- outputs -------------------------------------------------------------------------------------


def test_services_output_lists_every_service_with_its_status_endpoint(dev):
    """Health URLs are the dashboard's own status endpoints: same origin as the status page
    (real status codes) and no key in any URL (issue 10)."""
    site = dev.outputs["dashboardUrl"]
    entries = {s["name"]: s for s in dev.outputs["services"]}
    assert set(CORE) <= set(entries)
    for name in CORE:
        assert entries[name]["image"] == IMAGES["db-17" if name == "db" else name]  # the db of the major it runs
    for name in ("kong", "auth", "rest", "realtime", "storage", "imgproxy", "meta", "studio"):
        assert entries[name]["healthUrl"] == f"{site}status/{name}"
    assert entries["dashboard"]["healthUrl"] == f"{site}healthz"
    assert entries["db"]["healthUrl"] is None
    assert "services" not in dev.secret_outputs
    assert "apikey" not in str(dev.outputs["services"]) and dev.outputs["anonKey"] not in str(dev.outputs["services"])


def test_published_health_urls_are_on_the_dashboard_hostname():
    account, zone = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
    run = run_program(config_with(domain="example.com", cloudflare={"accountId": account, "zoneId": zone}))
    entries = {s["name"]: s for s in run.outputs["services"]}
    assert run.outputs["dashboardUrl"] == "https://supabase.example.com/"
    assert entries["kong"]["healthUrl"] == "https://supabase.example.com/status/kong"
