"""Kong: the rendered declarative config and how keys reach routes (the push of a config change
to a running Kong is tests/test_kong_push.py).

The config is checked three ways: YAML, `deck file validate` (decK v1.55.0, Kong's own tool;
tests/test_kong_deck.py adds Kong 3.9.3's plugin schemas), and a small
model of Kong's router and ACL plugin that answers "may this key reach this path on this
host?" for the cases that matter (the admin route, project hostnames).
"""
from __future__ import annotations

import json

import pytest
import yaml
from pulumi.runtime.rpc import is_rpc_secret

from components.core import kong_container
from components.core.kong_lua import SCHEMA_LIST_BODY_LUA, SCHEMA_LIST_HEADER_LUA
from components.resources import gateway
from components.providers.kong_config import KongSettings, consumers, render
from tests._tools import deck_run
from tests.gateway_fixtures import PUBLISHED, SECRET, STACK_ANON, STACK_SERVICE, project, settings
from tests.kong_guard import run_guard, run_response_filters
from tests.kong_model import allowed, consumer_of, match, plugin, routes
from tests.program import dev_config, run_program
from tests.stack_inputs import NS, containers, plain, pushed

__all__ = ["SECRET", "STACK_ANON", "STACK_SERVICE", "allowed", "match", "plugin", "project", "settings"]

UPSTREAM_PATHS = ["/auth/v1/verify", "/auth/v1/callback", "/auth/v1/authorize", "/auth/v1/", "/rest/v1/",
                  "/graphql/v1", "/realtime/v1/", "/realtime/v1/api", "/storage/v1/", "/pg/", "/"]
KONG_CONFIG = "pulumi-python:dynamic/supabase:KongConfig"


@pytest.fixture(scope="module")
def published() -> dict:
    return yaml.safe_load(render(PUBLISHED))


# -- the rendered file --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["local", "published", "no-projects"])
def test_config_passes_deck_validate(tmp_path, case):
    chosen = {"local": settings(project("blog"), project("shop")), "published": PUBLISHED, "no-projects": settings()}
    path = tmp_path / "kong.yml"
    path.write_text(render(chosen[case]))
    result = deck_run("file", "validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_deck_validate_catches_a_broken_config(tmp_path):
    """The check above can fail: an unknown consumer key is refused."""
    config = yaml.safe_load(render(settings()))
    config["consumers"][0]["usernam"] = config["consumers"][0].pop("username")
    path = tmp_path / "kong.yml"
    path.write_text(yaml.safe_dump(config))
    assert deck_run("file", "validate", str(path)).returncode != 0


def test_config_is_in_kongs_nested_form(published):
    assert published["_format_version"] == "3.0"
    assert not {"acls", "keyauth_credentials", "basicauth_credentials", "_transform"} & set(published)
    names = [s["name"] for s in published["services"]] + [r["name"] for _, r in routes(published)]
    assert len(set(s["name"] for s in published["services"])) == len(published["services"])
    assert len({r["name"] for _, r in routes(published)}) == len(routes(published)) and names


def test_every_upstream_path_is_routed(published):
    paths = {p for _, r in routes(published) for p in r["paths"]}
    assert set(UPSTREAM_PATHS) | {"/functions/v1/"} <= paths


def test_functions_route_only_with_the_feature():
    local = yaml.safe_load(render(settings()))
    assert "/functions/v1/" not in {p for _, r in routes(local) for p in r["paths"]}
    assert match(local, "/functions/v1/hello")[0]["name"] == "dashboard"  # falls to Studio's basic-auth


@pytest.mark.parametrize("path,service", [
    ("/auth/v1/verify?token=x", "auth-v1-open"), ("/auth/v1/token", "auth-v1"), ("/rest/v1/posts", "rest-v1"),
    ("/graphql/v1", "graphql-v1"), ("/realtime/v1/websocket", "realtime-v1-ws"),
    ("/realtime/v1/api/broadcast", "realtime-v1-rest"), ("/realtime/v1/api/tenants/x", "realtime-v1-rest-tenants"),
    ("/storage/v1/object/x", "storage-v1"), ("/functions/v1/hello", "functions-v1"), ("/pg/tables", "meta"),
    ("/project/default", "dashboard"), ("/dashboard/index.html", "site"), ("/dashboard/healthz", "site-health"),
    ("/gateway/health", "gateway-health"), ("/api/mcp", "mcp-blocker"),
])
def test_paths_reach_the_upstream_services(published, path, service):
    host = "studio.example.com" if service == "dashboard" else "127.0.0.1"  # published: Studio on its host
    assert match(published, path.split("?")[0], host)[0]["name"] == service


def test_upstream_urls(published):
    urls = {s["name"]: s["url"] for s in published["services"]}
    assert urls["rest-v1"] == "http://rest:3000/" and urls["auth-v1"] == "http://auth:9999/"
    assert urls["realtime-v1-ws"] == "http://realtime-dev.supabase-realtime:4000/socket"
    assert urls["meta"] == "http://meta:8080/" and urls["dashboard"] == "http://studio:3000/"
    assert urls["site"] == "http://dashboard:80/" and urls["storage-v1"] == "http://storage:5000/"


# -- keys and groups --------------------------------------------------------------------------


def test_every_project_has_key_auth_consumers_for_its_jwts_and_a_jwt_consumer_for_its_keys(published):
    """The two JWTs stay key-auth credentials of the shared routes (as before, no project
    group); the project routes know the project by its key ids alone."""
    by_name = {c["username"]: c for c in published["consumers"]}
    for p in PUBLISHED.projects:
        anon, service, own = by_name[f"{p.name}_anon"], by_name[f"{p.name}_service"], by_name[f"{p.name}_keys"]
        assert anon["keyauth_credentials"] == [{"key": p.anon_key}] and anon["acls"] == [{"group": "anon"}]
        assert service["keyauth_credentials"] == [{"key": p.service_key}] and service["acls"] == [{"group": "service"}]
        assert own["acls"] == [{"group": f"project-{p.name}"}] and "keyauth_credentials" not in own
        assert [{k: s[k] for k in ("key", "algorithm", "rsa_public_key")} for s in own["jwt_secrets"]] == [
            {"key": k.kid, "algorithm": "ES256", "rsa_public_key": k.pem} for k in p.verifying_keys]


def test_pg_meta_is_for_the_stack_service_role_key_only(published):
    meta = next(s for s in published["services"] if s["name"] == "meta")
    assert plugin(meta, "acl")["allow"] == ["admin"]
    admins = [c["username"] for c in published["consumers"] if {"group": "admin"} in c.get("acls", [])]
    assert admins == ["service_role"]
    assert allowed(published, "/pg/tables", STACK_SERVICE)
    blog = PUBLISHED.projects[0]
    for key in (STACK_ANON, blog.anon_key, blog.service_key, blog.publishable_key, blog.secret_key, None):
        assert not allowed(published, "/pg/tables", key)


@pytest.mark.parametrize("path", ["/rest/v1/posts", "/auth/v1/user", "/graphql/v1", "/realtime/v1/api/broadcast"])
def test_every_stack_and_project_key_reaches_the_api(published, path):
    """As before: the stack's keys and the projects' JWTs, no more: a project's opaque keys
    open only its own URL."""
    blog, shop = PUBLISHED.projects
    for key in (STACK_ANON, STACK_SERVICE, blog.anon_key, shop.service_key):
        assert allowed(published, path, key)
    for key in (None, "not-a-key", blog.publishable_key, shop.secret_key):
        assert not allowed(published, path, key)


def test_studio_and_the_dashboard_need_basic_auth(published):
    for path, host in [("/", "studio.example.com"), ("/dashboard/", "127.0.0.1"), ("/", "supabase.example.com")]:
        service, _ = match(published, path, host)
        assert plugin(service, "basic-auth") == {"hide_credentials": True}, (host, path)
    assert match(published, "/healthz", "supabase.example.com")[0]["name"] == "site-health"
    (dashboard,) = [c for c in published["consumers"] if c["username"] == "DASHBOARD"]
    assert dashboard["basicauth_credentials"] == [{"username": "supabase", "password": "dashboard-password-0123"}]


def test_a_project_hostname_forces_the_projects_schema(published):
    service, route = match(published, "/rest/v1/posts", "blog-api.example.com")
    assert route["hosts"] == ["blog-api.example.com"] and service["url"] == "http://rest:3000/"
    transform = plugin(service, "request-transformer")
    assert set(transform["remove"]["headers"]) == {"Accept-Profile", "Content-Profile"}
    assert sorted(transform["add"]["headers"]) == ["Accept-Profile:blog", "Content-Profile:blog"]
    assert plugin(service, "acl")["allow"] == ["project-blog"]


def test_a_project_hostname_takes_only_that_projects_keys(published):
    host = "blog-api.example.com"
    blog, shop = PUBLISHED.projects
    for key in (blog.anon_key, blog.service_key, blog.publishable_key, blog.secret_key):
        assert allowed(published, "/rest/v1/posts", key, host)
    for key in (shop.anon_key, shop.service_key, shop.publishable_key, STACK_ANON, STACK_SERVICE, None):
        assert not allowed(published, "/rest/v1/posts", key, host)
    # The project's own GoTrue answers auth on its hostname.
    assert match(published, "/auth/v1/token", host)[0]["name"] == "project-blog-auth"


def test_without_a_hostname_a_project_has_keys_and_a_local_url_but_no_host_route():
    config = yaml.safe_load(render(settings(project("blog"))))
    assert {c["username"] for c in config["consumers"]} >= {"blog_anon", "blog_service", "blog_keys"}
    assert not any(r.get("hosts") for _, r in routes(config))
    assert match(config, "/project/blog/rest/v1/posts")[0]["name"] == "project-blog-rest"


def test_values_cannot_break_the_yaml():
    odd = KongSettings('a"b\nc: d', "x", "p'w: {x}", projects=())
    config = yaml.safe_load(render(odd))
    assert consumer_of(config, 'a"b\nc: d')["username"] == "anon"


def test_consumer_names_match_the_roles_in_their_keys():
    import jwt

    pems = {k.kid: k.pem for p in PUBLISHED.projects for k in p.verifying_keys}
    for c in consumers(PUBLISHED):
        for key in c["keys"]:
            header = jwt.get_unverified_header(key)
            secret = pems[header["kid"]] if "kid" in header else SECRET
            claims = jwt.decode(key, secret, algorithms=[header["alg"]])
            assert claims["role"] == {"anon": "anon", "service_role": "service_role"}.get(c["username"], c["username"])


# -- the graph: Kong's container never sees a project ------------------------------------------


def test_kong_container_starts_from_a_stack_only_config():
    run = run_program()
    kong = containers(run)["kong"]
    (upload,) = plain(kong.inputs["uploads"])
    assert upload["file"] == kong_container.BASE_FILE
    base = yaml.safe_load(upload["content"])
    assert {c["username"] for c in base["consumers"]} == {"DASHBOARD", "anon", "service_role"}
    (push,) = run.of_type(KONG_CONFIG)
    full = yaml.safe_load(pushed(push))
    assert {"blog_anon", "blog_service", "shop_anon", "shop_service"} <= {c["username"] for c in full["consumers"]}
    assert push.inputs["container"] == "supabase-dev-kong" and push.inputs["container_id"] == "kong-id"
    assert is_rpc_secret(push.inputs["settings"]) and "config" not in push.inputs


def test_kong_env():
    kong = containers(run_program())["kong"]
    env = dict(line.split("=", 1) for line in plain(kong.inputs["envs"]))
    assert env["KONG_DATABASE"] == "off" and env["KONG_DECLARATIVE_CONFIG"] == "/usr/local/kong/base.yml"
    assert env["KONG_ROUTER_FLAVOR"] == "traditional_compatible"
    assert set(env["KONG_PLUGINS"].split(",")) >= {"key-auth", "acl", "basic-auth", "request-transformer",
                                                   "cors", "request-termination", "jwt", "pre-function",
                                                   "post-function"}
    assert env["KONG_UNTRUSTED_LUA"] == "sandbox"
    assert env["KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES"].split(",") == ["cjson.safe", "kong.plugins.jwt.jwt_parser"]
    assert env["KONG_NGINX_ADMIN_CLIENT_MAX_BODY_SIZE"] == env["KONG_NGINX_ADMIN_CLIENT_BODY_BUFFER_SIZE"] == "64m"


def test_a_config_of_many_projects_fits_kongs_admin_body_limit():
    """POST /config of 500 projects stays under the limit the container sets (gateway.ADMIN_BODY_SIZE)."""
    one, two = (len(push_archive_body(settings(*(project(f"p{i}", f"p{i}-api.example.com") for i in range(n)))))
                for n in (1, 2))
    assert one + 499 * (two - one) < int(gateway.ADMIN_BODY_SIZE.removesuffix("m")) * 1024 * 1024 // 2


def push_archive_body(chosen: KongSettings) -> str:
    return json.dumps({"config": render(chosen)})


def test_kongs_admin_api_is_reachable_only_inside_its_own_container():
    """Any container on the stack network (functions, the log shipper, an SSRF) could read
    every key through an admin API on 0.0.0.0, and the host port published it too."""
    kong = containers(run_program(dev_config()))["kong"]
    env = dict(line.split("=", 1) for line in plain(kong.inputs["envs"]))
    assert env["KONG_ADMIN_LISTEN"] == "127.0.0.1:8001"
    assert [p["internal"] for p in kong.inputs["ports"]] == [8000]
    assert not kong.inputs.get("volumes")  # no volume outlives the container with a config in it


def test_published_stack_routes_project_hostnames():
    config = dev_config()
    config[f"{NS}:domain"] = "example.com"
    config[f"{NS}:cloudflare"] = {"accountId": "0" * 32, "zoneId": "f" * 32}
    (push,) = run_program(config).of_type(KONG_CONFIG)
    full = yaml.safe_load(pushed(push))
    hosts = {h for _, r in routes(full) for h in r.get("hosts", [])}
    assert hosts == {"blog-api.example.com", "shop-api.example.com", "supabase.example.com", "studio.example.com",
                     "127.0.0.1", "localhost"}
    assert match(full, "/rest/v1/posts")[0]["name"] == "rest-v1"  # no host-bound route shadows the API


@pytest.mark.parametrize("host", ["api.example.com", "blog-api.example.com"])
def test_studio_and_dashboard_are_not_reachable_through_api_hostnames(published, host):
    """Cloudflare Access guards only the Studio and dashboard hostnames: a catch-all route
    would let the API hostnames serve Studio behind basic-auth alone."""
    for path in ("/", "/project/default", "/dashboard/"):
        candidates = [r for _, r in routes(published) for p in r["paths"]
                      if path.startswith(p) and (not r.get("hosts") or host in r["hosts"])]
        assert not [r for r in candidates if r["name"] in ("dashboard-all", "site", "site-host")], (host, path)
    assert match(published, "/", "studio.example.com")[0]["name"] == "dashboard"


@pytest.mark.parametrize("path", ["/api/mcp", "/mcp", "/api/mcp/tools"])
def test_studios_mcp_endpoint_is_closed_on_every_host(published, path):
    """docs/stack.md: closed. With Studio on its own hostname, Kong tries that hostname's routes
    first, so a path-only blocker would lose to Studio's catch-all there."""
    for host in ("127.0.0.1", "studio.example.com"):
        service, _ = match(published, path, host)
        assert plugin(service, "request-termination") == {"status_code": 403, "message": "Access is forbidden."}, host
        assert not allowed(published, path, STACK_SERVICE, host)


@pytest.mark.parametrize("path", ["/rest/v1/posts", "/auth/v1/user", "/realtime/v1/websocket", "/graphql/v1"])
def test_an_apikey_alone_becomes_the_bearer_on_the_shared_routes(published, path):
    """Upstream's newer gateway: without it PostgREST would answer as `anon`, whatever the key."""
    service, _ = match(published, path)
    copy = plugin(service, "pre-function")["access"][0]
    result = run_guard(copy, {"apikey": STACK_SERVICE})
    assert result.passed and result.set_headers == {"Authorization": f"Bearer {STACK_SERVICE}"}
    assert run_guard(copy, {"apikey": STACK_ANON, "Authorization": "Bearer other"}).set_headers == {}
    assert run_guard(copy, {}, {"apikey": STACK_ANON}).set_headers == {"Authorization": f"Bearer {STACK_ANON}"}


# -- PostgREST's PGRST106 hint names every exposed schema, that is every project --------------

PGRST106 = {"code": "PGRST106", "details": None, "hint": "Only the following schemas are exposed: public, graphql_public, blog, shop",
            "message": "Invalid schema: shop"}


@pytest.mark.parametrize("path, host", [("/rest/v1/posts", "127.0.0.1"), ("/graphql/v1", "127.0.0.1"),
                                        ("/project/blog/rest/v1/posts", "127.0.0.1"),
                                        ("/rest/v1/posts", "blog-api.example.com")])
def test_the_schema_list_never_reaches_a_client(published, path, host):
    service, _ = match(published, path, host)
    functions = plugin(service, "pre-function")
    body = json.dumps(PGRST106)
    answer = run_response_filters(functions["header_filter"][0], functions["body_filter"][0], 406,
                                  [body[:40], body[40:]])
    seen = json.loads(answer.body)
    assert "shop" not in seen["hint"] and "blog" not in seen["hint"] and "public" not in seen["hint"]
    assert seen["code"] == "PGRST106" and seen["message"] == "Invalid schema: shop"
    assert answer.cleared_headers == ["Content-Length"]


@pytest.mark.parametrize("status, body", [
    (406, {"code": "PGRST116", "details": "The result contains 2 rows", "hint": None,
           "message": "JSON object requested, multiple (or no) rows returned"}),
    (200, [{"id": 1, "hint": "Only the following schemas are exposed: x"}]),
])
def test_other_answers_pass_unchanged(status, body):
    text = json.dumps(body)
    answer = run_response_filters(SCHEMA_LIST_HEADER_LUA, SCHEMA_LIST_BODY_LUA, status, [text[:10], text[10:]])
    assert answer.body == text
    assert answer.cleared_headers == ([] if status == 200 else ["Content-Length"])
