"""Each project's one URL at the gateway: its local path prefix and its hostname route its API,
auth, storage and realtime, and only its own keys and tokens pass (apikey AND Authorization).

The routes are checked with the router model of tests/test_gateway.py; the Lua guard runs for
real under LuaJIT (tests/kong_guard.py); `deck validate` checks the file."""
from __future__ import annotations

import subprocess

import jwt
import pytest
import yaml

from components.providers.kong_config import render
from tests._tools import require_executable
from tests.kong_guard import run_guard
from tests.test_gateway import SECRET, STACK_ANON, STACK_SERVICE, allowed, match, plugin, project, settings

BLOG, SHOP = project("blog", "blog-api.example.com"), project("shop", "shop-api.example.com")
TEAM = project("team", shared_auth=True)
LOCAL = ("127.0.0.1", "/project/blog")
HOSTED = ("blog-api.example.com", "")


@pytest.fixture(scope="module")
def kong() -> dict:
    return yaml.safe_load(render(settings(BLOG, SHOP, TEAM)))


def user_token(role: str, **extra) -> str:
    return jwt.encode({"sub": "7a0f3b4e-0000-4000-8000-000000000001", "role": role, "aud": "x", **extra},
                      SECRET, algorithm="HS256")


@pytest.mark.parametrize("where", [LOCAL, HOSTED], ids=["local", "hostname"])
@pytest.mark.parametrize("path, kind, upstream", [
    ("/rest/v1/posts", "rest", "http://rest:3000/"),
    ("/auth/v1/token", "auth", "http://auth-blog:9999/"),
    ("/auth/v1/verify", "auth-verify", "http://auth-blog:9999/verify"),
    ("/auth/v1/callback", "auth-callback", "http://auth-blog:9999/callback"),
    ("/storage/v1/object/public/x", "storage", "http://storage:5000/"),
    ("/realtime/v1/websocket", "realtime", "http://realtime-dev.supabase-realtime:4000/socket"),
    ("/realtime/v1/api/broadcast", "realtime-broadcast", "http://realtime-dev.supabase-realtime:4000/api/broadcast"),
])
def test_a_projects_url_routes_each_service(kong, where, path, kind, upstream):
    host, prefix = where
    service, route = match(kong, prefix + path, host)
    assert service["name"] == f"project-blog-{kind}" and service["url"] == upstream
    assert route["strip_path"] is True


def upstream_path(service: dict, route: dict, path: str) -> str:
    """The path Kong 2.8 sends upstream: the service's path plus what the matched prefix leaves."""
    from urllib.parse import urlsplit

    base = urlsplit(service["url"]).path or "/"
    prefix = max((p for p in route["paths"] if path.startswith(p)), key=len) if route["strip_path"] else ""
    rest = path[len(prefix):]
    return base.rstrip("/") + "/" + rest.lstrip("/") if rest else base


@pytest.mark.parametrize("where", [LOCAL, HOSTED], ids=["local", "hostname"])
@pytest.mark.parametrize("path", ["/realtime/v1/api/tenants/realtime-dev", "/realtime/v1/api/tenants",
                                  "/realtime/v1/api/openapi", "/realtime/v1/api/tenants/realtime-dev/health"])
def test_realtimes_tenant_admin_api_is_not_behind_a_projects_url(kong, where, path):
    """Realtime's /api/tenants takes any token signed with the stack secret: with it, a project's
    anon key could set the tenant's JWT secret and mint every project's roles."""
    host, prefix = where
    service, route = match(kong, prefix + path, host)
    target = upstream_path(service, route, prefix + path)
    reaches_admin = "realtime" in service["url"] and target.startswith(("/api/tenants", "/api/openapi"))
    assert not (reaches_admin and allowed(kong, prefix + path, BLOG.anon_key, host)), (service["name"], target)


def test_rest_is_pinned_to_the_projects_schema_on_both_routes(kong):
    for host, prefix in (LOCAL, HOSTED):
        service, _ = match(kong, prefix + "/rest/v1/posts", host)
        transform = plugin(service, "request-transformer")
        assert set(transform["remove"]["headers"]) == {"Accept-Profile", "Content-Profile"}
        assert sorted(transform["add"]["headers"]) == ["Accept-Profile:blog", "Content-Profile:blog"]


def test_a_shared_auth_project_sends_auth_to_the_stacks_gotrue(kong):
    assert match(kong, "/project/team/auth/v1/token")[0]["url"] == "http://auth:9999/"


@pytest.mark.parametrize("path", ["/rest/v1/posts", "/auth/v1/user", "/realtime/v1/websocket"])
def test_only_the_projects_own_keys_pass(kong, path):
    for host, prefix in (LOCAL, HOSTED):
        assert allowed(kong, prefix + path, BLOG.anon_key, host)
        assert allowed(kong, prefix + path, BLOG.service_key, host)
        for key in (SHOP.anon_key, SHOP.service_key, TEAM.anon_key, STACK_ANON, STACK_SERVICE, None):
            assert not allowed(kong, prefix + path, key, host), (host, path, key)


@pytest.mark.parametrize("bearer", [
    SHOP.service_key, SHOP.anon_key, STACK_SERVICE, STACK_ANON, user_token("shop_authenticated"),
    user_token("authenticated"), user_token("service_role"), "not-a-jwt", "a.b.c",
])
def test_another_projects_bearer_is_refused_even_with_this_projects_apikey(kong, bearer):
    """The attack of issue 9: blog's public apikey plus a bearer of someone else."""
    for host, prefix in (LOCAL, HOSTED):
        for path in ("/rest/v1/posts", "/auth/v1/user", "/storage/v1/object/list/x"):
            assert not allowed(kong, prefix + path, BLOG.anon_key, host, bearer=bearer), (host, path, bearer[:20])


def test_this_projects_users_and_keys_pass_as_bearer(kong):
    for bearer in (BLOG.anon_key, BLOG.service_key, user_token("blog_authenticated")):
        assert allowed(kong, "/project/blog/rest/v1/posts", BLOG.anon_key, bearer=bearer)


def test_a_nested_role_claim_cannot_shadow_the_real_one(kong):
    forged = user_token("shop_authenticated", user_metadata={"role": "blog_authenticated"},
                        app_metadata={"role": "blog_service"})
    assert not allowed(kong, "/project/blog/rest/v1/posts", BLOG.anon_key, bearer=forged)


def test_shared_pool_users_pass_only_on_shared_projects(kong):
    shared_user = user_token("authenticated")
    assert allowed(kong, "/project/team/rest/v1/posts", TEAM.anon_key, bearer=shared_user)
    assert not allowed(kong, "/project/blog/rest/v1/posts", BLOG.anon_key, bearer=shared_user)


def test_an_apikey_alone_becomes_the_bearer(kong):
    service, _ = match(kong, "/project/blog/rest/v1/posts")
    result = run_guard(plugin(service, "pre-function")["access"][0], {"apikey": BLOG.anon_key})
    assert result.passed and result.set_headers == {"Authorization": f"Bearer {BLOG.anon_key}"}
    websocket = run_guard(plugin(service, "pre-function")["access"][0], {}, {"apikey": BLOG.anon_key})
    assert websocket.passed and websocket.set_headers["Authorization"] == f"Bearer {BLOG.anon_key}"


def test_email_links_and_oauth_redirects_need_no_key(kong):
    for path in ("/auth/v1/verify", "/auth/v1/callback", "/auth/v1/authorize"):
        assert allowed(kong, "/project/blog" + path, None)


def test_signed_storage_urls_and_public_files_need_no_key(kong):
    """Storage checks its own signed-URL tokens, as upstream; a bearer, if sent, must be the project's."""
    assert allowed(kong, "/project/blog/storage/v1/object/sign/b/x", None)
    assert not allowed(kong, "/project/blog/storage/v1/object/b/x", None, bearer=SHOP.service_key)


def test_project_urls_and_studios_pages_share_the_prefix_without_clashing(kong):
    """Studio's pages are /project/default/... (hence the reserved name `default`)."""
    assert match(kong, "/project/blog/rest/v1/posts")[0]["name"] == "project-blog-rest"
    assert match(kong, "/project/default/editor")[0]["name"] == "dashboard"


def test_config_with_project_urls_passes_deck_validate(tmp_path):
    deck = require_executable("deck", "apt-get install deck")
    path = tmp_path / "kong.yml"
    path.write_text(render(settings(BLOG, SHOP, TEAM)))
    done = subprocess.run([deck, "validate", "--state", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
