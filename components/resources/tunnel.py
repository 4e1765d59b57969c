"""Public access through a Cloudflare tunnel: tunnel, ingress, DNS, Access, cloudflared.

Declared only when the stack config has both `domain` and `cloudflare`; otherwise the
stack stays local and not one Cloudflare resource exists. Every public hostname (API,
Studio, dashboard, one per project) is a proxied CNAME to `<tunnel id>.cfargotunnel.com`
and an ingress rule to Kong on the stack's Docker network; Kong routes by Host and path.
Nothing listens on a public port of the Docker host: cloudflared dials out to Cloudflare.

The Cloudflare API token is the provider's own secret config (`cloudflare:apiToken`);
docs/cloudflare.md lists the permissions it needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_docker as docker
import pulumi_random as random

from components.core import urls
from components.core.config import StackConfig
from components.core.options import after

# Pinned: cloudflared is the only thing between the internet and Kong; upgrade on purpose.
IMAGE = "cloudflare/cloudflared:2025.11.1"
# Every hostname goes to Kong, which routes by Host (projects, Studio, dashboard) and path.
ORIGIN = "http://kong:8000"
CATCH_ALL = "http_status:404"
# Loopback inside the container: the metrics server also serves pprof, keep it private.
METRICS_ADDRESS = "127.0.0.1:2000"


def origin_request() -> cloudflare.ZeroTrustTunnelCloudflaredConfigConfigOriginRequestArgs:
    """What cloudflared -> Kong needs (plain HTTP inside the Docker network, so no TLS options).

    - http2_origin off: Realtime websockets need an HTTP/1.1 Upgrade; Kong's 8000 is HTTP/1.1.
    - connect_timeout 10 s: Kong is one hop away; fail fast with a 502 while it restarts.
    - tcp_keep_alive 30 s: probes long-lived websocket connections so dead ones are noticed.
    - keep_alive_timeout 50 s: below nginx's/Kong's client keepalive (60-75 s), so cloudflared
      never reuses a connection Kong is just closing (sporadic 502 on the next request).
    - chunked encoding stays on: streamed and TUS (resumable) uploads pass through unbuffered.
    """
    return cloudflare.ZeroTrustTunnelCloudflaredConfigConfigOriginRequestArgs(
        http2_origin=False,
        connect_timeout=10,
        tcp_keep_alive=30,
        keep_alive_timeout=50,
        keep_alive_connections=100,
    )


def ingress_rules(config: StackConfig) -> list[cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressArgs]:
    rules = [cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressArgs(hostname=r.hostname, service=ORIGIN)
             for r in urls.routes(config)]
    return rules + [cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressArgs(service=CATCH_ALL)]


@dataclass(frozen=True)
class PublicAccessArgs:
    config: StackConfig
    network_name: pulumi.Input[str]


class PublicAccess(pulumi.ComponentResource):
    """The stack published through one remotely managed Cloudflare tunnel."""

    def __init__(self, name: str, args: PublicAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        config = args.config
        if not config.published:
            raise ValueError("PublicAccess needs `domain` and `cloudflare` in the stack config")
        super().__init__("supabase-multi-instance:index:PublicAccess", name, None, opts)
        assert config.cloudflare is not None and config.domain is not None
        cf = config.cloudflare
        stack = pulumi.get_stack()
        child = pulumi.ResourceOptions(parent=self)

        # A remotely managed tunnel: its ingress lives in Cloudflare (the config resource
        # below), cloudflared only needs the token. The secret is >= 32 bytes, base64.
        secret = random.RandomBytes(f"{name}-tunnel-secret", length=32, opts=child)
        self.tunnel = cloudflare.ZeroTrustTunnelCloudflared(
            f"{name}-tunnel",
            account_id=cf.account_id,
            name=f"supabase-{stack}-{config.domain.replace('.', '-')}",
            config_src="cloudflare",
            tunnel_secret=secret.base64,
            opts=child,
        )
        self.tunnel_id = self.tunnel.id
        self.routes = urls.routes(config)

        self.tunnel_config = cloudflare.ZeroTrustTunnelCloudflaredConfig(
            f"{name}-tunnel-config",
            account_id=cf.account_id,
            tunnel_id=self.tunnel.id,
            config=cloudflare.ZeroTrustTunnelCloudflaredConfigConfigArgs(
                ingresses=ingress_rules(config),
                origin_request=origin_request(),
            ),
            opts=child,
        )

        # Access first: a protected hostname gets its DNS record only once Access guards it,
        # so Studio and the dashboard are never reachable without the e-mail check.
        self.access_applications: dict[str, cloudflare.ZeroTrustAccessApplication] = {}
        if cf.access_emails:
            policy = cloudflare.ZeroTrustAccessPolicy(
                f"{name}-access-policy",
                account_id=cf.account_id,
                name=f"supabase-{stack}: allowed e-mails",
                decision="allow",
                includes=[cloudflare.ZeroTrustAccessPolicyIncludeArgs(
                    email=cloudflare.ZeroTrustAccessPolicyIncludeEmailArgs(email=email))
                    for email in cf.access_emails],
                session_duration="24h",
                opts=child,
            )
            for route in self.routes:
                if not route.protected:
                    continue  # API and project hostnames: clients authenticate with keys
                self.access_applications[route.key] = cloudflare.ZeroTrustAccessApplication(
                    f"{name}-access-{route.key}",
                    account_id=cf.account_id,
                    name=f"Supabase {route.key} ({stack})",
                    type="self_hosted",
                    domain=route.hostname,
                    destinations=[cloudflare.ZeroTrustAccessApplicationDestinationArgs(
                        type="public", uri=route.hostname)],
                    policies=[cloudflare.ZeroTrustAccessApplicationPolicyArgs(id=policy.id, precedence=1)],
                    session_duration="24h",
                    app_launcher_visible=True,
                    opts=child,
                )

        target = self.tunnel.id.apply(lambda tunnel_id: f"{tunnel_id}.cfargotunnel.com")
        self.dns_records: dict[str, cloudflare.DnsRecord] = {}
        for route in self.routes:
            guard = [self.access_applications[route.key]] if route.key in self.access_applications else []
            self.dns_records[route.key] = cloudflare.DnsRecord(
                f"{name}-dns-{route.key}",
                zone_id=cf.zone_id,
                name=route.hostname,
                type="CNAME",
                content=target,
                proxied=True,  # required: the cfargotunnel.com name only resolves inside Cloudflare
                ttl=1,  # "automatic", the only TTL a proxied record has
                comment=f"supabase-multi-instance {stack}: Cloudflare tunnel",
                opts=after(child, guard),
            )

        # The token is read from Cloudflare (never built or stored by us) and reaches the
        # container only as a secret env var: not in the command line, not in `docker inspect`
        # args, not in plain state.
        token = cloudflare.get_zero_trust_tunnel_cloudflared_token_output(
            account_id=cf.account_id, tunnel_id=self.tunnel.id, opts=pulumi.InvokeOptions(parent=self))
        image = docker.RemoteImage(f"{name}-cloudflared-image", name=IMAGE, keep_locally=True, opts=child)
        self.container = docker.Container(
            f"{name}-cloudflared",
            name=f"supabase-{stack}-cloudflared",
            hostname="cloudflared",
            image=image.image_id,
            restart="unless-stopped",
            command=["tunnel", "--no-autoupdate", "--metrics", METRICS_ADDRESS, "run"],
            envs=pulumi.Output.secret(token.token.apply(lambda t: [f"TUNNEL_TOKEN={t}"])),
            # The image is distroless (no shell): exec-form check against cloudflared's /ready,
            # which is 200 only while the tunnel holds a connection to the Cloudflare edge.
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "cloudflared", "tunnel", "--metrics", METRICS_ADDRESS, "ready"],
                interval="10s", timeout="5s", retries=6, start_period="10s"),
            wait=True,
            wait_timeout=120,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name, aliases=["cloudflared"])],
            opts=after(child, [self.tunnel_config]),
        )
        self.register_outputs({"tunnelId": self.tunnel.id, "hostnames": [r.hostname for r in self.routes]})
