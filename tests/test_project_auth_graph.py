"""Each project's GoTrue container as the real __main__.py declares it, under Pulumi mocks."""
from __future__ import annotations

import json

import pytest
from pulumi.runtime.rpc import is_rpc_secret

from tests.program import dev_config, fake_secret, run_program
from tests.test_project import AUTH, PER_SHARED_PROJECT, component, counts
from tests.stack_inputs import CONTAINER, IMAGE, NS, containers, plain

SMTP = {"host": "smtp.example.com", "port": 2525, "user": "mailer", "pass": {"secure": "smtp-pass-0123"},
        "sender": "no@example.com"}


def with_projects(*projects: dict, **stack) -> dict:
    config = dev_config()
    config[f"{NS}:projects"] = list(projects)
    for key, value in stack.items():
        config[f"{NS}:{key}"] = value
    return config


@pytest.fixture(scope="module")
def dev():
    return run_program()


def env(container) -> dict[str, str]:
    return dict(line.split("=", 1) for line in plain(container.inputs["envs"]))


def test_each_project_has_its_own_gotrue(dev):
    found = containers(dev)
    blog, stack_auth = env(found["auth-blog"]), env(found["auth"])
    url = dev.outputs["projects"]["blog"]["url"]
    assert blog["DB_NAMESPACE"] == "blog_auth" and stack_auth["DB_NAMESPACE"] == "auth"
    assert blog["GOTRUE_JWT_DEFAULT_GROUP_NAME"] == "blog_authenticated"
    assert blog["GOTRUE_JWT_ADMIN_ROLES"] == "blog_service" and blog["GOTRUE_JWT_AUD"] == "blog"
    assert blog["GOTRUE_JWT_ISSUER"] == blog["API_EXTERNAL_URL"] == f"{url}/auth/v1"
    assert blog["GOTRUE_SITE_URL"] == url
    assert blog["GOTRUE_MAILER_URLPATHS_CONFIRMATION"] == "/project/blog/auth/v1/verify"
    assert blog["GOTRUE_DISABLE_SIGNUP"] == "false" and blog["GOTRUE_MAILER_AUTOCONFIRM"] == "true"
    password = fake_secret("blog-auth-admin-password", 32)
    assert blog["GOTRUE_DB_DATABASE_URL"] == f"postgres://blog_auth_admin:{password}@db:5432/postgres"
    # Its own HS256 secret (GoTrue requires one; with JWT_KEYS set it refuses HS256 tokens anyway),
    # and only its own ES256 key signs: the real GoTrue v2.186.0 refused the stack secret's tokens.
    assert blog["GOTRUE_JWT_SECRET"] not in (fake_secret("jwt-secret", 64), env(found["auth-shop"])["GOTRUE_JWT_SECRET"])
    keys = json.loads(blog["GOTRUE_JWT_KEYS"])
    assert [k["key_ops"] for k in keys] == [["sign", "verify"]] and keys[0]["alg"] == "ES256"
    assert keys[0]["kid"] == dev.outputs["projects"]["blog"]["signingKeyId"]
    assert json.loads(env(found["auth-shop"])["GOTRUE_JWT_KEYS"])[0]["kid"] != keys[0]["kid"]
    assert "GOTRUE_JWT_VALIDMETHODS" not in blog  # it would let HS256 tokens back in
    assert blog["GOTRUE_DB_MAX_POOL_SIZE"] == "5"
    assert is_rpc_secret(found["auth-blog"].inputs["envs"])


def test_project_gotrue_runs_the_stacks_pinned_image_on_the_auth_network_only(dev):
    """A project's GoTrue reaches Postgres and is reached by Kong; it cannot call PostgREST,
    Storage, Realtime, Studio or another project's GoTrue: no network of theirs is its own."""
    found = containers(dev)
    blog, stack_auth = found["auth-blog"], found["auth"]
    assert blog.inputs["image"] == stack_auth.inputs["image"]
    assert len([r for r in dev.of_type(IMAGE) if "gotrue" in r.inputs["name"]]) == 1  # pulled once
    assert blog.inputs["name"] == "supabase-dev-auth-blog"
    (network,) = blog.inputs["networksAdvanced"]
    assert network["aliases"] == ["auth-blog"] and network["name"] == "supabase-dev-auth"
    on_auth_network = {name for name, c in found.items()
                       if "supabase-dev-auth" in {n["name"] for n in c.inputs["networksAdvanced"]}}
    # Besides: the dashboard's nginx (static pages, and the GoTrues' /health probes) and the usage
    # collector (Postgres only, as a role that may run one function): neither holds a key.
    assert on_auth_network == {"db", "kong", "auth-blog", "auth-shop", "dashboard", "usage"}
    for shared in ("rest", "storage", "realtime", "studio", "meta", "auth"):
        assert {n["name"] for n in found[shared].inputs["networksAdvanced"]} == {"supabase-dev"}
    assert blog.inputs["healthcheck"]["tests"][-1] == "http://localhost:9999/health" and blog.inputs["wait"]
    assert not blog.inputs.get("ports")  # reached through Kong only


def test_project_auth_settings_reach_its_gotrue_only():
    run = run_program(with_projects(
        {"name": "blog", "auth": {"signup": "closed", "siteUrl": "https://blog.example.org", "jwtExpiry": 600,
                                  "redirectUrls": ["https://blog.example.org/**", "myapp://callback"],
                                  "smtp": SMTP, "external": {"google": {"clientId": "gid", "secret": {"secure": "google-secret-0123"}}}}},
        {"name": "shop"}))
    found = containers(run)
    blog, shop = env(found["auth-blog"]), env(found["auth-shop"])
    assert blog["GOTRUE_DISABLE_SIGNUP"] == "true" and shop["GOTRUE_DISABLE_SIGNUP"] == "false"
    assert blog["GOTRUE_SITE_URL"] == "https://blog.example.org" and blog["GOTRUE_JWT_EXP"] == "600"
    assert blog["GOTRUE_URI_ALLOW_LIST"] == "https://blog.example.org/**,myapp://callback"
    assert blog["GOTRUE_MAILER_AUTOCONFIRM"] == "false"  # mail confirms when SMTP is set
    assert (blog["GOTRUE_SMTP_HOST"], blog["GOTRUE_SMTP_PORT"], blog["GOTRUE_SMTP_ADMIN_EMAIL"]) == \
        ("smtp.example.com", "2525", "no@example.com")
    assert blog["GOTRUE_SMTP_PASS"] == "smtp-pass-0123" and "GOTRUE_SMTP_HOST" not in shop
    assert blog["GOTRUE_EXTERNAL_GOOGLE_ENABLED"] == "true" and blog["GOTRUE_EXTERNAL_GOOGLE_CLIENT_ID"] == "gid"
    assert blog["GOTRUE_EXTERNAL_GOOGLE_SECRET"] == "google-secret-0123"
    assert blog["GOTRUE_EXTERNAL_GOOGLE_REDIRECT_URI"] == "http://127.0.0.1:8000/project/blog/auth/v1/callback"
    assert run.outputs["projects"]["blog"]["auth"] == {"mode": "own", "signup": "closed", "autoconfirm": False,
                                                        "providers": ["google"]}
    # The secrets travel only inside the secret env list, never in plain inputs or outputs.
    for container in found.values():
        assert "smtp-pass-0123" not in str(container.inputs) or is_rpc_secret(container.inputs["envs"])
    assert "smtp-pass-0123" not in str(run.outputs) and "google-secret-0123" not in str(run.outputs)


def test_the_stack_auth_block_configures_the_stacks_gotrue():
    run = run_program(with_projects({"name": "blog"}, auth={"signup": "closed", "siteUrl": "https://studio.example.org"}))
    stack_auth = env(containers(run)["auth"])
    assert stack_auth["GOTRUE_DISABLE_SIGNUP"] == "true" and stack_auth["GOTRUE_SITE_URL"] == "https://studio.example.org"
    assert stack_auth["GOTRUE_JWT_DEFAULT_GROUP_NAME"] == "authenticated"
    assert stack_auth["GOTRUE_JWT_ADMIN_ROLES"] == "service_role"
    assert env(containers(run)["auth-blog"])["GOTRUE_DISABLE_SIGNUP"] == "false"


def test_a_published_project_uses_its_hostname():
    run = run_program(with_projects({"name": "blog"}, domain="example.com",
                                    cloudflare={"accountId": "0" * 32, "zoneId": "f" * 32}))
    blog = env(containers(run)["auth-blog"])
    assert run.outputs["projects"]["blog"]["url"] == "https://blog-api.example.com"
    assert blog["API_EXTERNAL_URL"] == "https://blog-api.example.com/auth/v1"
    assert blog["GOTRUE_MAILER_URLPATHS_RECOVERY"] == "/auth/v1/verify"


def test_a_shared_auth_project_has_no_gotrue_of_its_own():
    run = run_program(with_projects({"name": "blog", "auth": {"mode": "shared"}}))
    children = run.descendants(component(run, "blog"))
    assert counts(children) == PER_SHARED_PROJECT
    assert not run.of_type(AUTH) and "auth-blog" not in containers(run)
    grants = {r.inputs["role"] for r in children if r.typ == "postgresql:index/grant:Grant"}
    assert grants == {"blog_anon", "authenticated", "blog_service"}
    assert run.outputs["projects"]["blog"]["auth"]["mode"] == "shared"


def test_two_shared_projects_do_not_clash_on_the_shared_role_grant():
    run = run_program(with_projects({"name": "blog", "auth": {"mode": "shared"}}, {"name": "shop", "auth": {"mode": "shared"}}))
    names = [r.name for r in run.of_type("postgresql:index/grant:Grant") if r.inputs["role"] == "authenticated"]
    assert sorted(names) == ["blog-authenticated-usage", "shop-authenticated-usage"]


def test_removing_a_project_removes_its_gotrue_and_nothing_shared():
    two, one = run_program(with_projects({"name": "blog"}, {"name": "shop"})), run_program(with_projects({"name": "blog"}))
    gone = {(r.typ, r.name) for r in two.resources} - {(r.typ, r.name) for r in one.resources}
    assert (CONTAINER, "auth-shop") in gone
    assert all(name.startswith("shop") or name in ("auth-shop",) for _, name in gone), gone
