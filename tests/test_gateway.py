"""Kong: the rendered declarative config, how keys reach routes, and how a config change is pushed.

The config is checked three ways: YAML, `deck validate` (Kong's own schema), and a small
model of Kong's router and ACL plugin that answers "may this key reach this path on this
host?" for the cases that matter (the admin route, project hostnames).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Optional

import pytest
import yaml
from pulumi.runtime.rpc import is_rpc_secret

from components.core import keys
from components.resources import gateway
from components.providers.kong_config import (
    KongConfigProvider,
    KongSettings,
    ProjectKeys,
    config_archive,
    consumers,
    render,
)
from components.core.naming import ProjectNames
from components.resources.project_auth import service_name
from components.core.urls import project_path
from tests._tools import require_executable
from tests.kong_guard import run_guard
from tests.program import dev_config, run_program
from tests.test_stack import NS, containers, plain

SECRET = "test-jwt-secret-with-at-least-32-characters"
UPSTREAM_PATHS = ["/auth/v1/verify", "/auth/v1/callback", "/auth/v1/authorize", "/auth/v1/", "/rest/v1/",
                  "/graphql/v1", "/realtime/v1/", "/realtime/v1/api", "/storage/v1/", "/pg/", "/"]
KONG_CONFIG = "pulumi-python:dynamic/supabase:KongConfig"


def project(name: str, hostname: Optional[str] = None, shared_auth: bool = False) -> ProjectKeys:
    names = ProjectNames(name, "shared" if shared_auth else "own")
    return ProjectKeys(name, keys.sign(SECRET, names.anon), keys.sign(SECRET, names.service), hostname,
                       roles=tuple(names.api_roles()), auth_host="auth" if shared_auth else service_name(name),
                       prefix=project_path(name))


STACK_ANON, STACK_SERVICE = keys.sign(SECRET, "anon"), keys.sign(SECRET, "service_role")


def settings(*projects: ProjectKeys, functions: bool = False, dashboard_hostname: Optional[str] = None,
             studio_hostname: Optional[str] = None) -> KongSettings:
    return KongSettings(STACK_ANON, STACK_SERVICE, "dashboard-password-0123", functions=functions,
                        dashboard_hostname=dashboard_hostname, studio_hostname=studio_hostname, projects=projects)


PUBLISHED = settings(project("blog", "blog-api.example.com"), project("shop", "shop-api.example.com"),
                     functions=True, dashboard_hostname="supabase.example.com", studio_hostname="studio.example.com")


@pytest.fixture(scope="module")
def published() -> dict:
    return yaml.safe_load(render(PUBLISHED))


# -- a model of Kong's router and the key-auth / acl / basic-auth plugins --------------------


def routes(config: dict) -> list[tuple[dict, dict]]:
    return [(service, route) for service in config["services"] for route in service["routes"]]


def match(config: dict, path: str, host: str = "127.0.0.1") -> tuple[dict, dict]:
    """Kong 2.8: routes with hosts are tried before routes without; then the longest path prefix."""
    candidates = [(s, r, p) for s, r in routes(config) for p in r["paths"]
                  if path.startswith(p) and (not r.get("hosts") or host in r["hosts"])]
    assert candidates, f"no route for {host}{path}"
    service, route, _ = max(candidates, key=lambda c: (bool(c[1].get("hosts")), len(c[2])))
    return service, route


def plugin(service: dict, name: str) -> Optional[dict]:
    return next((p.get("config", {}) for p in service.get("plugins", []) if p["name"] == name), None)


def consumer_of(config: dict, key: str) -> Optional[dict]:
    return next((c for c in config["consumers"]
                 if any(k["key"] == key for k in c.get("keyauth_credentials", []))), None)


def allowed(config: dict, path: str, key: Optional[str], host: str = "127.0.0.1",
            bearer: Optional[str] = None) -> bool:
    """Would Kong pass this request (apikey `key`, Authorization `Bearer <bearer>`) on to the
    upstream service? The project guard runs for real (tests/kong_guard.py)."""
    service, _ = match(config, path, host)
    if plugin(service, "request-termination") is not None or plugin(service, "basic-auth") is not None:
        return False
    guard = plugin(service, "pre-function")
    if guard is not None:
        headers = {k: v for k, v in (("apikey", key), ("Authorization", bearer and f"Bearer {bearer}")) if v}
        if not run_guard(guard["access"][0], headers).passed:
            return False
    if plugin(service, "key-auth") is None:
        return True
    consumer = consumer_of(config, key) if key else None
    if consumer is None:
        return False
    acl = plugin(service, "acl")
    groups = {a["group"] for a in consumer.get("acls", [])}
    return acl is None or bool(groups & set(acl["allow"]))


# -- the rendered file --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["local", "published", "no-projects"])
def test_config_passes_deck_validate(tmp_path, case):
    deck = require_executable("deck", "apt-get install deck")
    chosen = {"local": settings(project("blog"), project("shop")), "published": PUBLISHED, "no-projects": settings()}
    path = tmp_path / "kong.yml"
    path.write_text(render(chosen[case]))
    result = subprocess.run([deck, "validate", "--state", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deck_validate_catches_a_broken_config(tmp_path):
    """The check above can fail: an unknown consumer key is refused."""
    deck = require_executable("deck", "apt-get install deck")
    config = yaml.safe_load(render(settings()))
    config["consumers"][0]["usernam"] = config["consumers"][0].pop("username")
    path = tmp_path / "kong.yml"
    path.write_text(yaml.safe_dump(config))
    assert subprocess.run([deck, "validate", "--state", str(path)], capture_output=True).returncode != 0


def test_config_is_in_kongs_nested_form(published):
    assert published["_format_version"] == "2.1"
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


def test_every_project_has_an_anon_and_a_service_consumer(published):
    by_name = {c["username"]: c for c in published["consumers"]}
    for name in ("blog", "shop"):
        anon, service = by_name[f"{name}_anon"], by_name[f"{name}_service"]
        assert anon["keyauth_credentials"] == [{"key": keys.sign(SECRET, f"{name}_anon")}]
        assert service["keyauth_credentials"] == [{"key": keys.sign(SECRET, f"{name}_service")}]
        assert {a["group"] for a in anon["acls"]} == {"anon", f"project-{name}"}
        assert {a["group"] for a in service["acls"]} == {"service", f"project-{name}"}


def test_pg_meta_is_for_the_stack_service_role_key_only(published):
    meta = next(s for s in published["services"] if s["name"] == "meta")
    assert plugin(meta, "acl")["allow"] == ["admin"]
    admins = [c["username"] for c in published["consumers"] if {"group": "admin"} in c.get("acls", [])]
    assert admins == ["service_role"]
    assert allowed(published, "/pg/tables", STACK_SERVICE)
    for key in (STACK_ANON, project("blog").anon_key, project("blog").service_key, None):
        assert not allowed(published, "/pg/tables", key)


@pytest.mark.parametrize("path", ["/rest/v1/posts", "/auth/v1/user", "/graphql/v1", "/realtime/v1/api/broadcast"])
def test_every_stack_and_project_key_reaches_the_api(published, path):
    for key in (STACK_ANON, STACK_SERVICE, project("blog").anon_key, project("shop").service_key):
        assert allowed(published, path, key)
    assert not allowed(published, path, None) and not allowed(published, path, "not-a-key")


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
    assert allowed(published, "/rest/v1/posts", project("blog").anon_key, host)
    assert allowed(published, "/rest/v1/posts", project("blog").service_key, host)
    for key in (project("shop").anon_key, project("shop").service_key, STACK_ANON, None):
        assert not allowed(published, "/rest/v1/posts", key, host)
    # The project's own GoTrue answers auth on its hostname.
    assert match(published, "/auth/v1/token", host)[0]["name"] == "project-blog-auth"


def test_without_a_hostname_a_project_has_keys_and_a_local_url_but_no_host_route():
    config = yaml.safe_load(render(settings(project("blog"))))
    assert {c["username"] for c in config["consumers"]} >= {"blog_anon", "blog_service"}
    assert not any(r.get("hosts") for _, r in routes(config))
    assert match(config, "/project/blog/rest/v1/posts")[0]["name"] == "project-blog-rest"


def test_values_cannot_break_the_yaml():
    odd = KongSettings('a"b\nc: d', "x", "p'w: {x}", projects=())
    config = yaml.safe_load(render(odd))
    assert consumer_of(config, 'a"b\nc: d')["username"] == "anon"


def test_consumer_names_match_the_roles_in_their_keys():
    import jwt

    for c in consumers(PUBLISHED):
        claims = jwt.decode(c["key"], SECRET, algorithms=["HS256"])
        assert claims["role"] == {"anon": "anon", "service_role": "service_role"}.get(c["username"], c["username"])


# -- the graph: Kong's container never sees a project ------------------------------------------


def test_kong_container_starts_from_a_stack_only_config():
    run = run_program()
    kong = containers(run)["kong"]
    (upload,) = plain(kong.inputs["uploads"])
    assert upload["file"] == gateway.BASE_FILE
    base = yaml.safe_load(upload["content"])
    assert {c["username"] for c in base["consumers"]} == {"DASHBOARD", "anon", "service_role"}
    (push,) = run.of_type(KONG_CONFIG)
    full = yaml.safe_load(plain(push.inputs["config"]))
    assert {"blog_anon", "blog_service", "shop_anon", "shop_service"} <= {c["username"] for c in full["consumers"]}
    assert push.inputs["admin_url"] == "http://127.0.0.1:8001"
    assert push.inputs["container"] == "supabase-dev-kong" and push.inputs["container_id"] == "kong-id"
    assert is_rpc_secret(push.inputs["config"])


def test_kong_env_and_volume():
    kong = containers(run_program())["kong"]
    env = dict(line.split("=", 1) for line in plain(kong.inputs["envs"]))
    assert env["KONG_DATABASE"] == "off" and env["KONG_DECLARATIVE_CONFIG"] == "/home/kong/config/kong.yml"
    assert env["KONG_ADMIN_LISTEN"] == "0.0.0.0:8001"
    assert set(env["KONG_PLUGINS"].split(",")) >= {"key-auth", "acl", "basic-auth", "request-transformer",
                                                   "cors", "request-termination"}
    assert kong.inputs["volumes"] == [{"containerPath": "/home/kong/config", "volumeName": "supabase-dev-kong-config"}]


def test_published_stack_routes_project_hostnames():
    config = dev_config()
    config[f"{NS}:domain"] = "example.com"
    config[f"{NS}:cloudflare"] = {"accountId": "0" * 32, "zoneId": "f" * 32}
    (push,) = run_program(config).of_type(KONG_CONFIG)
    full = yaml.safe_load(plain(push.inputs["config"]))
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


# -- the entrypoint keeps the last pushed config across restarts ---------------------------------


@pytest.mark.parametrize("live", [True, False])
def test_entrypoint_prefers_the_pushed_config(tmp_path, live):
    live_file = tmp_path / "kong.yml"
    if live:
        live_file.write_text("_format_version: '2.1'\n")
    script = gateway.ENTRYPOINT.replace("exec /docker-entrypoint.sh kong docker-start", 'echo "$KONG_DECLARATIVE_CONFIG"')
    out = subprocess.run(["sh", "-c", script], env={"KONG_DECLARATIVE_CONFIG": str(live_file), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == (str(live_file) if live else gateway.BASE_FILE)


# -- the provider: validate-and-swap first, then persist -----------------------------------------


class FakeKong(BaseHTTPRequestHandler):
    status = 201
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeKong.received.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
        self.send_response(FakeKong.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"fields": {"consumers": "bad"}} if FakeKong.status >= 400 else {}).encode())

    def log_message(self, *_args):
        pass


@pytest.fixture
def fake_kong():
    FakeKong.received, FakeKong.status = [], 201
    server = HTTPServer(("127.0.0.1", 0), FakeKong)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def fake_docker(tmp_path, monkeypatch) -> Path:
    """A docker CLI stand-in that records `docker cp -` calls and the archive it was given."""
    log = tmp_path / "docker.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"#!{shutil.which('bash')}\necho \"$@\" >> {log}\ncat > {tmp_path}/archive.tar\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return tmp_path


def test_provider_pushes_live_then_writes_the_restart_file(fake_kong, fake_docker):
    text = render(PUBLISHED)
    props = {"config": text, "admin_url": fake_kong, "container": "supabase-dev-kong", "container_id": "abc"}
    KongConfigProvider().create(props)
    (request,) = FakeKong.received
    assert request["path"] == "/config" and request["type"] == "application/json"
    assert request["body"] == {"config": text}
    assert (fake_docker / "docker.log").read_text().split() == ["cp", "-", "supabase-dev-kong:/home/kong/config"]
    with tarfile.open(fake_docker / "archive.tar") as tar:
        member = tar.getmember("kong.yml")
        assert tar.extractfile(member).read().decode() == text and member.mode == 0o644


def test_a_refused_config_is_not_written(fake_kong, fake_docker):
    FakeKong.status = 400
    props = {"config": "bad", "admin_url": fake_kong, "container": "supabase-dev-kong", "container_id": "abc"}
    with pytest.raises(RuntimeError, match="Kong refused the config"):
        KongConfigProvider().update("id", props, props)
    assert not (fake_docker / "docker.log").exists()


def test_a_new_kong_container_gets_the_config_again():
    olds = {"config": "x", "admin_url": "u", "container": "c", "container_id": "1"}
    diff = KongConfigProvider().diff("id", olds, {**olds, "container_id": "2"})
    assert diff.changes and not diff.replaces


def test_archive_holds_one_readable_file():
    with tarfile.open(fileobj=io.BytesIO(config_archive("a: 1\n"))) as tar:
        assert [m.name for m in tar.getmembers()] == ["kong.yml"]


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
