"""Public URLs, derived in components/core/urls.py only: local, behind the user's proxy (publicUrl), Cloudflare.

Run through the real __main__.py under mocks: the outputs, GoTrue's API_EXTERNAL_URL and
SITE_URL, Storage's public URL, Studio's and the edge runtime's SUPABASE_PUBLIC_URL and the
status page's health URLs all follow publicUrl, and no Cloudflare resource is declared.
"""
from __future__ import annotations

import pytest

from components.core import urls
from components.core.config import parse_config
from tests.program import ProgramRun, run_program
from tests.stack_inputs import config_with, containers, env_value

NS = "supabase-multi-instance"
PUBLIC = "https://supabase.example.lan"


def with_projects(**extra) -> dict:
    config = config_with(**extra)
    config[f"{NS}:projects"] = [{"name": "blog"}, {"name": "shop", "hostname": "shop.example.lan"}]
    return config


@pytest.fixture(scope="module")
def behind_proxy() -> ProgramRun:
    return run_program(with_projects(publicUrl=PUBLIC, features={"functions": True}))


def test_outputs_use_the_public_url(behind_proxy):
    out = behind_proxy.outputs
    assert (out["apiUrl"], out["studioUrl"], out["dashboardUrl"]) == (PUBLIC, f"{PUBLIC}/", f"{PUBLIC}/dashboard/")
    assert out["projects"]["blog"]["url"] == f"{PUBLIC}/project/blog"
    assert out["projects"]["blog"]["restUrl"] == f"{PUBLIC}/project/blog/rest/v1"
    assert out["projects"]["blog"]["authUrl"] == f"{PUBLIC}/project/blog/auth/v1"


def test_a_project_hostname_is_served_with_the_public_urls_scheme(behind_proxy):
    assert behind_proxy.outputs["projects"]["shop"]["restUrl"] == "https://shop.example.lan/rest/v1"
    assert behind_proxy.outputs["projects"]["shop"]["hostname"] == "shop.example.lan"


def test_services_are_told_the_public_url(behind_proxy):
    c = containers(behind_proxy)
    assert env_value(c["auth"], "API_EXTERNAL_URL") == f"{PUBLIC}/auth/v1"
    assert env_value(c["auth"], "GOTRUE_SITE_URL") == PUBLIC
    assert env_value(c["auth-blog"], "API_EXTERNAL_URL") == f"{PUBLIC}/project/blog/auth/v1"
    assert env_value(c["auth-shop"], "API_EXTERNAL_URL") == "https://shop.example.lan/auth/v1"
    assert env_value(c["storage"], "STORAGE_PUBLIC_URL") == PUBLIC
    assert env_value(c["studio"], "SUPABASE_PUBLIC_URL") == PUBLIC
    assert env_value(c["functions"], "SUPABASE_PUBLIC_URL") == PUBLIC


def test_the_status_page_checks_the_public_url(behind_proxy):
    health = {s["name"]: s["healthUrl"] for s in behind_proxy.outputs["services"]}
    assert health["kong"] == f"{PUBLIC}/dashboard/status/kong"  # the dashboard's own status endpoint
    assert health["dashboard"] == f"{PUBLIC}/dashboard/healthz"
    assert all(url is None or url.startswith(f"{PUBLIC}/dashboard/") for url in health.values())


def test_no_cloudflare_resource_behind_the_users_proxy(behind_proxy):
    assert not [r for r in behind_proxy.resources if r.typ.startswith("cloudflare:")]


def test_ports_stay_where_bind_address_says(behind_proxy):
    kong = containers(behind_proxy)["kong"]
    assert {(p["external"], p["ip"]) for p in kong.inputs["ports"]} == {(8000, "127.0.0.1")}


def test_without_public_url_the_stack_stays_local():
    run = run_program(with_projects())
    assert run.outputs["apiUrl"] == "http://127.0.0.1:8000"
    # the hostname resolves nowhere: the project keeps its local URL
    assert run.outputs["projects"]["shop"]["restUrl"] == "http://127.0.0.1:8000/project/shop/rest/v1"
    assert env_value(containers(run)["auth"], "API_EXTERNAL_URL") == "http://127.0.0.1:8000/auth/v1"


def test_a_lan_address_without_a_proxy():
    run = run_program(with_projects(publicUrl="http://192.168.1.10:8000", bindAddress="192.168.1.10"))
    assert run.outputs["apiUrl"] == "http://192.168.1.10:8000"
    assert run.outputs["projects"]["shop"]["restUrl"] == "http://shop.example.lan:8000/rest/v1"


def test_with_a_domain_the_stack_hostnames_are_served_under_it():
    config = parse_config({"publicUrl": "https://api.example.lan", "domain": "example.lan",
                           "projects": [{"name": "blog"}]})
    assert urls.api_url(config) == "https://api.example.lan"
    assert urls.studio_url(config) == "https://studio.example.lan"
    assert urls.dashboard_url(config) == "https://supabase.example.lan/"
    assert urls.project_rest_url(config, config.projects[0]) == "https://blog-api.example.lan/rest/v1"


def test_cloudflare_publishing_is_unchanged():
    config = parse_config({"domain": "example.com", "projects": [{"name": "blog"}],
                           "cloudflare": {"accountId": "a" * 32, "zoneId": "b" * 32}})
    assert (urls.api_url(config), urls.studio_url(config), urls.dashboard_url(config)) == (
        "https://api.example.com", "https://studio.example.com", "https://supabase.example.com/")
    assert urls.project_rest_url(config, config.projects[0]) == "https://blog-api.example.com/rest/v1"


@pytest.mark.parametrize(("bind", "host"), [("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"), ("0:0::0", "127.0.0.1"),
                                            ("192.168.1.10", "192.168.1.10")])
def test_the_program_reaches_its_ports_on_a_usable_address(bind, host):
    assert urls.client_host(bind) == host
