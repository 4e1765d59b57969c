"""Public access: the Cloudflare tunnel graph from the real __main__.py under Pulumi mocks.

Published (domain + cloudflare): one tunnel, its ingress, a proxied CNAME per hostname,
Access only in front of Studio and the dashboard, and a cloudflared container that gets the
tunnel token only as a secret. Local (no cloudflare): not one Cloudflare resource.
"""
from __future__ import annotations

import base64
import re
from typing import Any, Iterator

import pytest
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.core import urls
from components.core.config import ConfigError, parse_config, warnings
from tests.program import ProgramRun, RecordingMocks, Registered, fake_tunnel_token, run_program

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "fedcba9876543210fedcba9876543210"
TUNNEL_ID = "f70ff985-a4ef-4643-bbbc-4a0ed4fc8415"  # what the mocks give the tunnel
TOKEN = fake_tunnel_token(ACCOUNT, TUNNEL_ID)
KONG = "http://kong:8000"

PUBLIC_ACCESS = "supabase-multi-instance:index:PublicAccess"
TUNNEL = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
ACCESS_APP = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
ACCESS_POLICY = "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy"
CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"

STACK_HOSTS = ["api.example.com", "studio.example.com", "supabase.example.com"]


def published(*projects: str, emails: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    cloudflare: dict[str, Any] = {"accountId": ACCOUNT, "zoneId": ZONE}
    if emails is not None:
        cloudflare["accessEmails"] = emails
    return {"projects": [{"name": p} for p in projects], "domain": "example.com", "cloudflare": cloudflare, **extra}


def local(*projects: str, **extra: Any) -> dict[str, Any]:
    return {"projects": [{"name": p} for p in projects], **extra}


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program(published("notes", "blog", "my_shop"))  # config order, not sorted


@pytest.fixture(scope="module")
def guarded() -> ProgramRun:
    return run_program(published("blog", "my_shop", emails=["ada@example.org", "grace@example.net"]))


# -- helpers ---------------------------------------------------------------------------


def one(run: ProgramRun, typ: str) -> Registered:
    found = run.of_type(typ)
    assert len(found) == 1, f"{len(found)} resources of type {typ}"
    return found[0]


def plain_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string NOT inside a secret, with its path. The mock monitor delivers a secret
    input as {<sig key>: <secret sig>, "value": ...}; those subtrees are skipped."""
    if is_rpc_secret(value):
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from plain_strings(k, f"{path}.<key>")
            yield from plain_strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from plain_strings(v, f"{path}[{i}]")


def leaks(resources: list[Registered], needle: str) -> list[str]:
    return [f"{r.typ} {r.name}{path}" for r in resources for path, text in plain_strings(r.inputs) if needle in text]


def public_subtree(run: ProgramRun) -> list[Registered]:
    return run.descendants(one(run, PUBLIC_ACCESS))


def ingress(run: ProgramRun) -> list[dict]:
    return one(run, TUNNEL_CONFIG).inputs["config"]["ingresses"]


def cloudflared(run: ProgramRun) -> Registered:
    images = [i for i in run.of_type(IMAGE) if str(i.inputs.get("name", "")).startswith("cloudflare/cloudflared")]
    assert len(images) == 1
    (container,) = [c for c in run.of_type(CONTAINER) if c.inputs.get("image") == f"sha256:{images[0].name}"]
    return container


# -- the published graph ---------------------------------------------------------------


def test_tunnel_is_remotely_managed_with_a_random_secret(run):
    t = one(run, TUNNEL)
    assert t.inputs["accountId"] == ACCOUNT
    assert t.inputs["configSrc"] == "cloudflare"
    assert t.inputs["name"] == "supabase-dev-example-com"
    secret_bytes = one(run, RANDOM_BYTES)
    assert secret_bytes.inputs["length"] >= 32
    assert is_rpc_secret(t.inputs["tunnelSecret"]), "the tunnel secret must be a secret input"
    assert len(base64.b64decode(unwrap_rpc_secret(t.inputs["tunnelSecret"]), validate=True)) >= 32
    assert secret_bytes.urn in t.dependencies


def test_every_cloudflare_resource_belongs_to_the_public_access_component(run):
    component = one(run, PUBLIC_ACCESS)
    cloud = [r for r in run.resources if r.typ.startswith("cloudflare:")]
    assert cloud and all(run.parent_of(r) is component for r in cloud)
    assert cloudflared(run) in run.descendants(component)


def test_one_proxied_cname_per_hostname_to_the_tunnel(run):
    records = run.of_type(DNS)
    expected = STACK_HOSTS + ["blog-api.example.com", "my-shop-api.example.com", "notes-api.example.com"]
    assert sorted(r.inputs["name"] for r in records) == sorted(expected)
    for r in records:
        assert r.inputs["type"] == "CNAME"
        assert r.inputs["proxied"] is True
        assert r.inputs["content"] == f"{TUNNEL_ID}.cfargotunnel.com"
        assert r.inputs["zoneId"] == ZONE
        assert r.inputs["ttl"] == 1


def test_ingress_rules_in_order_to_kong_ending_with_404(run):
    rules = ingress(run)
    assert [r.get("hostname") for r in rules] == STACK_HOSTS + [
        "notes-api.example.com", "blog-api.example.com", "my-shop-api.example.com", None]
    assert all(r["service"] == KONG for r in rules[:-1])
    assert rules[-1] == {"service": "http_status:404"}
    config = one(run, TUNNEL_CONFIG)
    assert config.inputs["tunnelId"] == TUNNEL_ID and config.inputs["accountId"] == ACCOUNT


def test_origin_settings_keep_websockets_and_uploads_working(run):
    origin = one(run, TUNNEL_CONFIG).inputs["config"]["originRequest"]
    assert origin["http2Origin"] is False  # websockets (Realtime) need HTTP/1.1 upgrades
    assert 0 < origin["connectTimeout"] <= 30
    assert 0 < origin["keepAliveTimeout"] < 60  # below Kong/nginx's client keepalive
    assert origin["tcpKeepAlive"] > 0
    assert not origin.get("disableChunkedEncoding")  # streamed and TUS uploads
    assert "noTlsVerify" not in origin  # http origin: TLS options would be noise


def test_cloudflared_container_runs_the_tunnel_with_a_secret_token(run):
    container = cloudflared(run)
    image = next(i for i in run.of_type(IMAGE) if container.inputs["image"] == f"sha256:{i.name}")
    assert re.fullmatch(r"cloudflare/cloudflared:\d{4}\.\d{1,2}\.\d+", image.inputs["name"]), "pin an exact version"
    assert container.inputs["restart"] == "unless-stopped"
    assert [n["name"] for n in container.inputs["networksAdvanced"]] == ["supabase-dev"]
    command = container.inputs["command"]
    assert command[0] == "tunnel" and command[-1] == "run" and "--no-autoupdate" in command
    assert not any("token" in str(part).lower() for part in command), "the token never goes on the command line"
    envs = container.inputs["envs"]
    assert is_rpc_secret(envs), "envs carry the token: they must be a secret input"
    assert f"TUNNEL_TOKEN={TOKEN}" in unwrap_rpc_secret(envs)  # the token of this account and tunnel
    assert container.inputs["healthcheck"]["tests"][0] == "CMD"  # distroless image: no shell


def test_token_and_tunnel_secret_never_appear_in_plain_inputs_or_outputs(run):
    tunnel_secret = unwrap_rpc_secret(one(run, TUNNEL).inputs["tunnelSecret"])
    assert leaks(run.resources, TOKEN) == []
    assert leaks(run.resources, tunnel_secret) == []
    plain_outputs = [v for k, v in run.outputs.items() if k not in run.secret_outputs]
    assert not [s for _, s in plain_strings(plain_outputs) if TOKEN in s or tunnel_secret in s]


def test_the_leak_check_can_fail():
    """A token in a plain input is found, the same token inside a secret wrapper is not."""
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": [f"TUNNEL_TOKEN={TOKEN}"]}
    assert is_rpc_secret(secret)
    plain = Registered(CONTAINER, "leaky", {"envs": [f"TUNNEL_TOKEN={TOKEN}"], "command": ["run"]}, None, True)
    in_command = Registered(CONTAINER, "leaky2", {"command": ["tunnel", "run", "--token", TOKEN]}, None, True)
    hidden = Registered(CONTAINER, "safe", {"envs": secret}, None, True)
    assert leaks([plain], TOKEN) == [f"{CONTAINER} leaky.envs[0]"]
    assert leaks([in_command], TOKEN) == [f"{CONTAINER} leaky2.command[3]"]
    assert leaks([hidden], TOKEN) == []


def test_no_access_resources_without_access_emails(run):
    assert run.of_type(ACCESS_APP) == [] and run.of_type(ACCESS_POLICY) == []
    assert run_program(published("blog", emails=[])).of_type(ACCESS_APP) == []


def test_access_guards_only_studio_and_dashboard(guarded):
    policy = one(guarded, ACCESS_POLICY)
    assert policy.inputs["accountId"] == ACCOUNT and policy.inputs["decision"] == "allow"
    assert policy.inputs["includes"] == [{"email": {"email": "ada@example.org"}},
                                         {"email": {"email": "grace@example.net"}}]
    apps = guarded.of_type(ACCESS_APP)
    assert sorted(a.inputs["domain"] for a in apps) == ["studio.example.com", "supabase.example.com"]
    for app in apps:
        assert app.inputs["type"] == "self_hosted" and app.inputs["accountId"] == ACCOUNT
        assert [d["uri"] for d in app.inputs["destinations"]] == [app.inputs["domain"]]
        assert app.inputs["policies"] == [{"id": "public-access-policy-id", "precedence": 1}]
    guarded_hosts = {d["uri"] for a in apps for d in a.inputs["destinations"]} | {a.inputs["domain"] for a in apps}
    assert not guarded_hosts & {"api.example.com", "blog-api.example.com", "my-shop-api.example.com"}


def test_protected_hostnames_get_dns_only_after_access(guarded):
    apps = {a.inputs["domain"]: a.urn for a in guarded.of_type(ACCESS_APP)}
    for record in guarded.of_type(DNS):
        app = apps.get(record.inputs["name"])
        if app:
            assert app in record.dependencies, record.inputs["name"]
        else:
            assert not set(apps.values()) & set(record.dependencies), record.inputs["name"]


def test_configured_and_deep_hostnames_are_used_as_given():
    run = run_program(published(hostnames={"api": "supabase-api.example.com", "studio": "admin.example.com"},
                                projects=[{"name": "blog"}, {"name": "shop", "hostname": "shop.api.example.com"}]))
    assert [r.get("hostname") for r in ingress(run)] == [
        "supabase-api.example.com", "admin.example.com", "supabase.example.com",
        "blog-api.example.com", "shop.api.example.com", None]
    assert sorted(r.inputs["name"] for r in run.of_type(DNS)) == sorted(h for h in (r.get("hostname") for r in ingress(run)) if h)


def test_adding_a_project_adds_one_rule_and_one_record_and_nothing_else():
    before = run_program(published("blog", "my_shop", emails=["ada@example.org"]))
    after = run_program(published("blog", "my_shop", "alpha", emails=["ada@example.org"]))
    old = {(r.typ, r.name): r for r in public_subtree(before)}
    new = {(r.typ, r.name): r for r in public_subtree(after)}
    assert set(new) - set(old) == {(DNS, "public-dns-project-alpha")}
    assert set(old) - set(new) == set()
    assert new[(DNS, "public-dns-project-alpha")].inputs["name"] == "alpha-api.example.com"
    changed = sorted(name for (typ, name), r in old.items() if r.inputs != new[(typ, name)].inputs)
    assert changed == ["public-tunnel-config"]
    rules_before, rules_after = ingress(before), ingress(after)
    assert len(rules_after) == len(rules_before) + 1
    # appended after the existing rules (config order), just before the catch-all
    assert rules_after[:-2] == rules_before[:-1] and rules_after[-1] == rules_before[-1]
    assert rules_after[-2] == {"hostname": "alpha-api.example.com", "service": KONG}
    old_cfg, new_cfg = old[(TUNNEL_CONFIG, "public-tunnel-config")].inputs, new[(TUNNEL_CONFIG, "public-tunnel-config")].inputs
    assert {k: v for k, v in old_cfg.items() if k != "config"} == {k: v for k, v in new_cfg.items() if k != "config"}
    assert old_cfg["config"]["originRequest"] == new_cfg["config"]["originRequest"]


def test_published_outputs_are_https_hostnames(run):
    assert run.outputs["apiUrl"] == "https://api.example.com"
    assert run.outputs["studioUrl"] == "https://studio.example.com"
    assert run.outputs["dashboardUrl"] == "https://supabase.example.com/"
    assert run.outputs["projects"]["my_shop"]["restUrl"] == "https://my-shop-api.example.com/rest/v1"
    assert run.outputs["projects"]["my_shop"]["hostname"] == "my-shop-api.example.com"


# -- the local stack -------------------------------------------------------------------


@pytest.mark.parametrize("config", [local("blog", "shop"), local("blog", domain="example.com")],
                         ids=["no-domain", "domain-without-cloudflare"])
def test_local_stack_declares_nothing_of_cloudflare(config):
    run = run_program(config)
    assert run.resources, "the mocks saw resources"
    assert [r.typ for r in run.resources if "cloudflare" in r.typ.lower()] == []
    assert run.of_type(PUBLIC_ACCESS) == [] and run.of_type(RANDOM_BYTES) == []
    assert [i for i in run.of_type(IMAGE) if "cloudflared" in str(i.inputs.get("name"))] == []
    assert [c for c in run.of_type(CONTAINER) if "cloudflared" in c.name or "cloudflared" in str(c.inputs)] == []
    assert run.outputs["apiUrl"].startswith("http://127.0.0.1:")
    assert run.outputs["studioUrl"].startswith("http://127.0.0.1:")


# -- validation ------------------------------------------------------------------------


def config_problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, frozenset())
    return err.value.problems


def test_half_given_cloudflare_config_names_the_missing_key():
    assert config_problems({"domain": "example.com", "cloudflare": {"accountId": ACCOUNT}}) == [
        "cloudflare.zoneId: is required"]


def test_bad_cloudflare_ids_and_emails_name_the_key():
    lines = config_problems({"domain": "example.com",
                             "cloudflare": {"accountId": "abc", "zoneId": ZONE.upper(), "accessEmails": ["nobody"]}})
    assert lines[0].startswith("cloudflare.accountId: 'abc' must be the 32-character hex id")
    assert lines[1].startswith(f"cloudflare.zoneId: {ZONE.upper()!r} must be the 32-character hex id")
    assert lines[2].startswith("cloudflare.accessEmails: ['nobody'] not e-mail addresses: nobody")


@pytest.mark.parametrize("domain", ["not a domain", "example", "-bad.example.com", "a..b"])
def test_bad_domain_names_the_key(domain):
    (line,) = config_problems(published(domain=domain))
    assert line.startswith(f"domain: {domain!r} must be a DNS name")


def test_cloudflare_without_domain_names_both_keys():
    raw = published()
    del raw["domain"]
    (line,) = config_problems(raw)
    assert line.startswith("cloudflare: publishing needs `domain` too")


def test_bad_hostname_names_the_key():
    (line,) = config_problems(published(hostnames={"studio": "studio..example.com"}))
    assert line.startswith("hostnames.studio: 'studio..example.com' must be a DNS name")


def test_hostnames_two_levels_deep_are_warned_about_by_key():
    config = parse_config(published(hostnames={"studio": "studio.admin.example.com"},
                                    projects=[{"name": "blog"}, {"name": "shop", "hostname": "shop.api.example.com"}]))
    found = [w for w in warnings(config) if "Universal SSL" in w]
    assert len(found) == 2
    assert found[0].startswith("hostnames.studio: 'studio.admin.example.com' is more than one level below 'example.com'")
    assert found[1].startswith("projects[1].hostname: 'shop.api.example.com' is more than one level below")
    assert all("Universal SSL" in w and "*.example.com" in w for w in found)


def test_default_hostnames_are_first_level_and_not_warned_about():
    config = parse_config(published("blog", "my_shop"))
    assert [w for w in warnings(config) if "Universal SSL" in w] == []
    assert all(r.hostname.count(".") == 2 for r in urls.routes(config))


def test_route_conflicts_name_the_keys_before_anything_is_declared():
    with pytest.raises(ConfigError) as err:
        parse_config(published(
            hostnames={"studio": "api.example.com"},
            projects=[{"name": "blog", "hostname": "blog.other.org"}, {"name": "my_shop"}]))
    assert err.value.problems == [
        "hostnames.studio: 'api.example.com' is already the hostname of hostnames.api; public hostnames must be unique",
        "projects[0].hostname: 'blog.other.org' is not inside the Cloudflare zone 'example.com'; "
        "its DNS record can only be created in that zone",
    ]
    recorder = RecordingMocks()
    with pytest.raises(ConfigError, match=r"hostnames\.studio: 'api\.example\.com' is already"):
        run_program(published(hostnames={"studio": "api.example.com"}, projects=[{"name": "blog"}]), recorder=recorder)
    assert recorder.resources == []