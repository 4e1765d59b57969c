"""Cells on several Docker hosts, under Pulumi mocks: the real __main__.py with a `cell` block.

Each cell is a stack of this program; what makes it a cell of a multi-host deployment is
that every docker resource is created by that cell's own provider (its host), that the
docker CLI of the dynamic resources is pointed at the same host, and that adding a project
to one cell changes nothing of another's and only that project (plus the gateway's routes
and the dashboard pages) of its own.
"""
from __future__ import annotations

import pytest

from components.core.config import ConfigError
from components.core.config.checks import parse_config
from tests.program import ProgramRun, Registered, run_program

EU = {"name": "eu1", "dockerHost": "ssh://deploy@10.0.0.11", "address": "10.0.0.11"}
US = {"name": "us1", "dockerHost": "ssh://deploy@10.0.0.12", "address": "10.0.0.12"}
# The dynamic resources that reach a running container with the docker CLI.
CLI_TYPES = tuple(f"pulumi-python:dynamic/supabase:{kind}" for kind in ("KongConfig", "DashboardContent",
                                                                         "ProjectFunctions"))


def cell_config(cell: dict, *projects: str, **extra) -> dict:
    return {"cell": cell, "bindAddress": cell["address"], "features": {"functions": True},
            "projects": [{"name": p, "template": "blog"} for p in projects], **extra}


def run_cell(cell: dict, *projects: str, **extra) -> ProgramRun:
    return run_program(cell_config(cell, *projects, **extra), stack=f"cell-{cell['name']}")


def provider_of(run: ProgramRun) -> Registered:
    (provider,) = run.of_type("pulumi:providers:docker")
    return provider


def docker_resources(run: ProgramRun) -> list[Registered]:
    return [r for r in run.resources if r.typ.startswith("docker:")]


@pytest.fixture(scope="module")
def cells() -> dict[str, ProgramRun]:
    return {"eu1": run_cell(EU, "blog", "shop"), "us1": run_cell(US, "crm")}


@pytest.mark.parametrize("name,cell", [("eu1", EU), ("us1", US)])
def test_every_docker_resource_of_a_cell_is_created_by_its_own_hosts_provider(cells, name, cell):
    run = cells[name]
    provider = provider_of(run)
    assert provider.name == "cell-docker" and provider.inputs["host"] == cell["dockerHost"]
    resources = docker_resources(run)
    assert {r.typ for r in resources} >= {"docker:index/container:Container", "docker:index/volume:Volume",
                                          "docker:index/network:Network", "docker:index/remoteImage:RemoteImage"}
    strays = [r.name for r in resources if not (r.provider or "").startswith(provider.urn + "::")]
    assert not strays, f"docker resources of cell {name} not on its provider: {strays}"


def test_the_two_cells_run_on_two_hosts(cells):
    assert provider_of(cells["eu1"]).inputs["host"] != provider_of(cells["us1"]).inputs["host"]
    for name, cell in (("eu1", EU), ("us1", US)):
        gotrues = [r for r in docker_resources(cells[name]) if r.typ.endswith("Container") and "auth" in r.name]
        assert gotrues, "each project's GoTrue is a container of its cell"


@pytest.mark.parametrize("name,cell", [("eu1", EU), ("us1", US)])
def test_the_docker_cli_of_a_cells_dynamic_resources_reaches_its_host(cells, name, cell):
    dynamic = [r for r in cells[name].resources if r.typ in CLI_TYPES and "container" in r.inputs]
    kinds = {r.name.rsplit("-", 1)[-1] for r in dynamic}
    assert {"routes", "content"} <= kinds  # Kong's live config, the dashboard pages
    assert all(r.inputs.get("docker_host") == cell["dockerHost"] for r in dynamic), \
        {r.name: r.inputs.get("docker_host") for r in dynamic}


def test_a_cell_reaches_its_database_at_its_address(cells):
    (postgresql,) = cells["eu1"].of_type("pulumi:providers:postgresql")
    assert postgresql.inputs["host"] == "10.0.0.11"
    assert cells["eu1"].outputs["projects"]["blog"]["url"].startswith("http://10.0.0.11:8000/")
    assert cells["eu1"].outputs["cell"] == {"name": "eu1", "address": "10.0.0.11",
                                           "dockerHost": "ssh://deploy@10.0.0.11", "maxProjects": 25}


def test_a_stack_without_a_cell_keeps_the_default_provider():
    run = run_program({"projects": [{"name": "blog", "template": "blog"}]})
    assert not run.of_type("pulumi:providers:docker")
    assert {r.provider for r in docker_resources(run)} == {""}  # no explicit provider: the default one
    assert "cell" not in run.outputs


def _state(run: ProgramRun) -> dict[str, tuple]:
    return {r.urn: (r.inputs, r.provider, r.parent) for r in run.resources}


# What adding a project is allowed to change besides that project's own resources: Kong's
# live routes and the dashboard's pages (both pushed into running containers) and the two
# component shells that hold them.
SHARED_CHANGES = ("gateway-routes", "dashboard-content")


def test_adding_a_project_to_one_cell_leaves_the_other_cell_and_its_own_projects_unchanged(cells):
    before_eu, before_us = cells["eu1"], cells["us1"]
    after_eu = run_cell(EU, "blog", "shop", "news")
    after_us = run_cell(US, "crm")  # the other cell's stack, run again on its unchanged config
    assert _state(after_us) == _state(before_us)
    old, new = _state(before_eu), _state(after_eu)
    assert set(old) <= set(new)
    changed = sorted(urn.rsplit("::", 1)[-1] for urn in old if old[urn] != new[urn])
    assert set(changed) <= set(SHARED_CHANGES), changed
    added = {urn.rsplit("::", 1)[-1] for urn in set(new) - set(old)}
    assert added and all("news" in name for name in added), sorted(added)


def test_cell_stack_hostnames_carry_the_cell_name():
    run = run_cell(EU, "blog", domain="example.com", publicUrl="https://example.com")
    assert run.outputs["studioUrl"] == "https://studio-eu1.example.com"
    assert run.outputs["projects"]["blog"]["url"] == "https://blog-api.example.com"


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, frozenset())
    return err.value.problems


def test_a_cell_over_its_max_projects_is_refused_with_the_numbers():
    (problem,) = problems_of(cell_config({**EU, "maxProjects": 2}, "a", "b", "c"))
    assert problem.startswith("projects: cell 'eu1' holds 3 projects, over its cell.maxProjects 2;")


def test_a_remote_cell_on_loopback_or_without_address_is_refused():
    problems = problems_of({"cell": {"name": "eu1", "dockerHost": "ssh://deploy@10.0.0.11"}})
    assert any(p.startswith("cell.address: is required with cell.dockerHost 'ssh://deploy@10.0.0.11'") for p in problems)
    assert any(p.startswith("bindAddress: 127.0.0.1 publishes cell 'eu1'") for p in problems)


@pytest.mark.parametrize("field,value,rule", [
    ("name", "EU-1", "must be 1-20 characters of a-z and 0-9"),
    ("dockerHost", "10.0.0.11", "must be a Docker daemon address as DOCKER_HOST takes it"),
    ("maxProjects", 0, "must be at least 1"),
    ("maxProjects", 201, "must be at most 200"),
    ("address", "10.0.0.11/24", "must be the host name or IP address of the cell's Docker host"),
    ("dockerHost", "ssh://", "must be a Docker daemon address as DOCKER_HOST takes it"),
])
def test_bad_cell_fields_are_named(field, value, rule):
    problems = problems_of({"cell": {**EU, field: value}, "bindAddress": "10.0.0.11"})
    assert any(p.startswith(f"cell.{field}:") and rule in p for p in problems), problems


CLOUDFLARE = {"accountId": "a" * 32, "zoneId": "b" * 32}


def test_each_published_cell_has_its_own_tunnel_routing_only_its_hostnames():
    published = {"domain": "example.com", "cloudflare": CLOUDFLARE}
    eu, us = run_cell(EU, "blog", "shop", **published), run_cell(US, "crm", **published)
    names, routed = [], []
    for run in (eu, us):
        (tunnel,) = run.of_type("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared")
        names.append(tunnel.inputs["name"])
        routed.append({r.inputs["name"] for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord")})
    assert names[0] != names[1]
    assert routed[0] == {"api-eu1.example.com", "studio-eu1.example.com", "supabase-eu1.example.com",
                         "blog-api.example.com", "shop-api.example.com"}
    assert routed[1] == {"api-us1.example.com", "studio-us1.example.com", "supabase-us1.example.com",
                         "crm-api.example.com"}
    cloudflared = [r for r in docker_resources(eu) if r.name.endswith("cloudflared")]
    assert cloudflared and all(r.provider.startswith(provider_of(eu).urn + "::") for r in cloudflared)
