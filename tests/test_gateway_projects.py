"""Each project's one URL at the gateway: its local path prefix and its hostname route its API,
auth, storage and realtime, and only its own keys and tokens pass (apikey AND Authorization).

The routes are checked with the model of Kong in tests/kong_model.py; the Lua guard runs for
real under LuaJIT (tests/kong_guard.py); `deck file validate` checks the file. The attacks of issue
17 (whose key signed a token) are in tests/test_gateway_keys.py."""
from __future__ import annotations


import pytest
import yaml

from components.providers.kong_config import render
from tests._tools import deck_run
from tests.gateway_fixtures import STACK_ANON, STACK_SERVICE, hs256, project, settings, signed_by
from tests.kong_guard import run_guard
from tests.kong_model import allowed, match, plugin, upstream_path

BLOG, SHOP = project("blog", "blog-api.example.com"), project("shop", "shop-api.example.com")
TEAM = project("team", shared_auth=True)
LOCAL = ("127.0.0.1", "/project/blog")
HOSTED = ("blog-api.example.com", "")


@pytest.fixture(scope="module")
def kong() -> dict:
    return yaml.safe_load(render(settings(BLOG, SHOP, TEAM)))


@pytest.mark.parametrize("where", [LOCAL, HOSTED], ids=["local", "hostname"])
@pytest.mark.parametrize("path, kind, upstream", [
    ("/rest/v1/posts", "rest", "http://rest:3000/"),
    ("/auth/v1/token", "auth", "http://auth-blog:9999/"),
    ("/auth/v1/verify", "auth-verify", "http://auth-blog:9999/verify"),
    ("/auth/v1/callback", "auth-callback", "http://auth-blog:9999/callback"),
    ("/storage/v1/object/list/x", "storage", "http://storage:5000/"),
    ("/storage/v1/object/public/x", "storage-object-public", "http://storage:5000/object/public/"),
    ("/realtime/v1/websocket", "realtime", "http://realtime-dev.supabase-realtime:4000/socket"),
    ("/realtime/v1/api/broadcast", "realtime-broadcast", "http://realtime-dev.supabase-realtime:4000/api/broadcast"),
])
def test_a_projects_url_routes_each_service(kong, where, path, kind, upstream):
    host, prefix = where
    service, route = match(kong, prefix + path, host)
    assert service["name"] == f"project-blog-{kind}" and service["url"] == upstream
    assert route["strip_path"] is True


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
        assert allowed(kong, prefix + path, BLOG.publishable_key, host)
        assert allowed(kong, prefix + path, BLOG.secret_key, host)
        for key in (SHOP.anon_key, SHOP.service_key, SHOP.publishable_key, SHOP.secret_key, TEAM.anon_key,
                    TEAM.publishable_key, STACK_ANON, STACK_SERVICE, None, ""):
            assert not allowed(kong, prefix + path, key, host), (host, path, key)


@pytest.mark.parametrize("bearer", [
    SHOP.service_key, SHOP.anon_key, SHOP.secret_key, SHOP.publishable_key, STACK_SERVICE, STACK_ANON,
    signed_by("shop", "shop_authenticated"), signed_by("@stack", "authenticated"), hs256("blog_authenticated"),
    hs256("service_role"), "not-a-jwt", "a.b.c", "sb_publishable_x",
])
def test_another_projects_bearer_is_refused_even_with_this_projects_apikey(kong, bearer):
    """The attack of issue 9: blog's public apikey plus a bearer of someone else."""
    for host, prefix in (LOCAL, HOSTED):
        for path in ("/rest/v1/posts", "/auth/v1/user", "/storage/v1/object/list/x"):
            assert not allowed(kong, prefix + path, BLOG.anon_key, host, bearer=bearer), (host, path, bearer[:20])


def test_this_projects_users_and_keys_pass_as_bearer(kong):
    for bearer in (BLOG.anon_key, BLOG.service_key, signed_by("blog", "blog_authenticated"), BLOG.publishable_key,
                   BLOG.secret_key):
        assert allowed(kong, "/project/blog/rest/v1/posts", BLOG.anon_key, bearer=bearer)


def test_a_nested_role_claim_cannot_shadow_the_real_one(kong):
    forged = signed_by("blog", "shop_authenticated", user_metadata={"role": "blog_authenticated"},
                       app_metadata={"role": "blog_service"})
    assert not allowed(kong, "/project/blog/rest/v1/posts", BLOG.anon_key, bearer=forged)


def test_shared_pool_users_pass_only_on_shared_projects(kong):
    shared_user = signed_by("@stack", "authenticated")
    assert allowed(kong, "/project/team/rest/v1/posts", TEAM.anon_key, bearer=shared_user)
    assert allowed(kong, "/project/team/rest/v1/posts", TEAM.publishable_key, bearer=shared_user)
    assert not allowed(kong, "/project/blog/rest/v1/posts", BLOG.anon_key, bearer=shared_user)
    # the stack's key opens a shared project for signed-in users only, never as its keys' roles
    for role in ("team_anon", "team_service", "service_role", "anon"):
        assert not allowed(kong, "/project/team/rest/v1/posts", TEAM.anon_key, bearer=signed_by("@stack", role))


def test_an_apikey_alone_becomes_the_bearer(kong):
    service, _ = match(kong, "/project/blog/rest/v1/posts")
    guard = plugin(service, "pre-function")["access"][0]
    result = run_guard(guard, {"apikey": BLOG.anon_key})
    assert result.passed and result.set_headers == {"Authorization": f"Bearer {BLOG.anon_key}",
                                                    "apikey": BLOG.anon_key, "x-api-key": BLOG.anon_key}
    websocket = run_guard(guard, {}, {"apikey": BLOG.publishable_key, "vsn": "1.0.0"})
    assert websocket.passed and websocket.set_headers["Authorization"] == f"Bearer {BLOG.anon_key}"
    assert websocket.query == {"apikey": BLOG.anon_key, "vsn": "1.0.0"}  # Realtime reads ?apikey


def test_email_links_and_oauth_redirects_need_no_key(kong):
    for path in ("/auth/v1/verify", "/auth/v1/callback", "/auth/v1/authorize"):
        assert allowed(kong, "/project/blog" + path, None)


@pytest.mark.parametrize("where", [LOCAL, HOSTED], ids=["local", "hostname"])
@pytest.mark.parametrize("method, path", [
    ("GET", "/storage/v1/object/sign/b/x"), ("HEAD", "/storage/v1/object/public/b/x"),
    ("GET", "/storage/v1/object/public/b/x"), ("PUT", "/storage/v1/object/upload/sign/b/x"),
    ("GET", "/storage/v1/object/info/public/b/x"), ("GET", "/storage/v1/render/image/sign/b/x"),
    ("GET", "/storage/v1/render/image/public/b/x"),
])
def test_signed_storage_urls_and_public_files_need_no_key_and_pass_no_credential(kong, where, method, path):
    """Storage checks its own signed-URL tokens (supabase/storage v1.44.2: these routes skip its
    jwt plugin), as upstream; whatever credential a client sends there never reaches Storage."""
    from tests.kong_model import send

    host, prefix = where
    assert allowed(kong, prefix + path, None, host, method=method)
    out = send(kong, prefix + path, {"Authorization": f"Bearer {hs256('service_role')}", "apikey": STACK_SERVICE,
                                     "x-api-key": STACK_SERVICE}, host, method)
    assert out.passed and not {"authorization", "apikey", "x-api-key"} & set(out.headers)
    assert out.service["url"] == "http://storage:5000" + path.split("/b/x")[0].removeprefix("/storage/v1") + "/"


@pytest.mark.parametrize("method, path", [("POST", "/storage/v1/object/sign/b/x"),
                                          ("POST", "/storage/v1/object/upload/sign/b/x"),
                                          ("GET", "/storage/v1/object/authenticated/b/x"),
                                          ("DELETE", "/storage/v1/object/public/b/x")])
def test_creating_signed_urls_and_everything_else_of_storage_needs_the_projects_key(kong, method, path):
    assert match(kong, "/project/blog" + path, method=method)[0]["name"] == "project-blog-storage"
    assert not allowed(kong, "/project/blog" + path, None, method=method)
    assert not allowed(kong, "/project/blog" + path, SHOP.anon_key, method=method)
    assert allowed(kong, "/project/blog" + path, BLOG.publishable_key, method=method)


def test_project_urls_and_studios_pages_share_the_prefix_without_clashing(kong):
    """Studio's pages are /project/default/... (hence the reserved name `default`)."""
    assert match(kong, "/project/blog/rest/v1/posts")[0]["name"] == "project-blog-rest"
    assert match(kong, "/project/default/editor")[0]["name"] == "dashboard"


def test_config_with_project_urls_passes_deck_validate(tmp_path):
    path = tmp_path / "kong.yml"
    path.write_text(render(settings(BLOG, SHOP, TEAM)))
    done = deck_run("file", "validate", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
