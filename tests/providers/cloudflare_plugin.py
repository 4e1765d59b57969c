"""Stand-in for pulumi-resource-cloudflare (pulumi-cloudflare 6.x): no Cloudflare API here.

Values of the real shapes: ids are 32 lowercase hex characters (DNS records, Access
applications and policies) or a UUID (tunnels), as the Cloudflare API returns them; the
tunnel token of `getZeroTrustTunnelCloudflaredToken` is what cloudflared expects, base64 of
`{"a": account, "t": tunnel, "s": secret}`. Objects are recorded in
`$PULUMI_STANDIN_STATE/cloudflare.json` so a test can read what was published. Account and
zone ids must be 32 hex characters and DNS names must lie in a zone, or the API refuses them.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from typing import Any

from tests.providers import state
from tests.providers.server import ProviderError, ResourceType, StandIn, serve

HEX32 = re.compile(r"^[0-9a-f]{32}$")
_lock = threading.Lock()


def _record(kind: str, id_: str, value: Any) -> None:
    with _lock:
        path = state.root() / "cloudflare.json"
        found = json.loads(path.read_text()) if path.exists() else {}
        bucket = found.setdefault(kind, {})
        if value is None:
            bucket.pop(id_, None)
        else:
            bucket[id_] = value
        path.write_text(json.dumps(found, indent=1, sort_keys=True))


class Recorded(ResourceType):
    KIND = ""
    UPDATABLE = frozenset({"name", "content", "proxied", "ttl", "comment", "config", "includes", "decision",
                           "destinations", "policies", "sessionDuration", "type", "appLauncherVisible"})

    def ids(self, inputs: dict[str, Any]) -> list[str]:
        return [k for k in ("accountId", "zoneId") if k in inputs]

    def check(self, news, olds):
        return [f"{k}: {news[k]!r} is not a 32-character hex id" for k in self.ids(news) if not HEX32.match(news[k])]

    def new_id(self, inputs: dict[str, Any]) -> str:
        return uuid.uuid4().hex

    def outputs(self, id_: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {**inputs, "id": id_}

    def create(self, inputs):
        id_ = self.new_id(inputs)
        _record(self.KIND, id_, inputs)
        return id_, self.outputs(id_, inputs)

    def update(self, id_, st, old_inputs, news):
        _record(self.KIND, id_, news)
        return self.outputs(id_, news)

    def delete(self, id_, st):
        _record(self.KIND, id_, None)


class Tunnel(Recorded):
    KIND = "tunnels"

    def new_id(self, inputs):
        return str(uuid.uuid4())

    def outputs(self, id_, inputs):
        return {**inputs, "id": id_, "status": "inactive", "tunType": "cfd_tunnel", "remoteConfig": True}


class TunnelConfig(Recorded):
    KIND = "tunnel_configs"

    def check(self, news, olds):
        found = super().check(news, olds)
        ingress = ((news.get("config") or {}).get("ingresses")) or []
        if ingress and ingress[-1].get("hostname"):
            found.append("config.ingresses: the last rule must match every hostname (no hostname)")
        return found


class DnsRecord(Recorded):
    KIND = "dns_records"

    def check(self, news, olds):
        found = super().check(news, olds)
        if not news.get("name") or news.get("type") not in ("A", "AAAA", "CNAME", "TXT", "MX"):
            found.append(f"type: {news.get('type')!r} with name {news.get('name')!r} is not a DNS record")
        return found

    def outputs(self, id_, inputs):
        return {**inputs, "id": id_, "proxiable": True, "createdOn": "2026-01-01T00:00:00Z"}


class AccessApplication(Recorded):
    KIND = "access_applications"

    def outputs(self, id_, inputs):
        return {**inputs, "id": id_, "aud": uuid.uuid4().hex * 2}


class AccessPolicy(Recorded):
    KIND = "access_policies"


def tunnel_token(args: dict[str, Any]) -> dict[str, Any]:
    tunnel = args.get("tunnelId") or ""
    path = state.root() / "cloudflare.json"
    tunnels = (json.loads(path.read_text()) if path.exists() else {}).get("tunnels", {})
    if tunnel not in tunnels:
        raise ProviderError(f"tunnel {tunnel} not found in account {args.get('accountId')}")
    secret = tunnels[tunnel].get("tunnelSecret") or ""
    token = base64.b64encode(json.dumps({"a": args["accountId"], "t": tunnel, "s": secret}).encode())
    return {**args, "id": tunnel, "token": token.decode()}


TYPES = {
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": Tunnel,
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": TunnelConfig,
    "cloudflare:index/dnsRecord:DnsRecord": DnsRecord,
    "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication": AccessApplication,
    "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy": AccessPolicy,
}
INVOKES = {
    "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken": tunnel_token,
}

if __name__ == "__main__":
    serve(StandIn("cloudflare", TYPES, INVOKES))
