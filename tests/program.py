"""Run the real __main__.py under Pulumi mocks with a real stack config, and record it all.

`run_program` returns every registered resource (type, name, inputs, parent) and the
resolved stack outputs with their secretness, so tests assert on what `pulumi up` would
declare. A run that registered nothing fails loudly instead of passing silently.
"""
from __future__ import annotations

import gc
import json
import runpy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "supabase-multi-instance"
FAKE_SECRET_PREFIX = "FAKESECRET"


def fake_secret(name: str, length: int) -> str:
    """Recognisable generated secrets, so tests can search for them in plain inputs."""
    text = f"{FAKE_SECRET_PREFIX}{name.replace('-', '')}0123456789abcdefghijklmnopqrstuvwxyz" * 4
    return text[: max(length, 32)]


def fake_tunnel_token(account_id: Any, tunnel_id: Any) -> str:
    """The mocked tunnel token: it names the account and tunnel it was asked for."""
    return f"{FAKE_SECRET_PREFIX}tunneltoken-{account_id}-{tunnel_id}"


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: Optional[str]
    custom: bool
    urn: str = ""
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        outputs = dict(args.inputs)
        computed = self._computed(args)
        outputs.update(computed)
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider, bool(args.custom)))
        # A computed "id" (e.g. a tunnel's UUID) is the resource's id, as the provider's would be.
        return [str(computed.get("id") or f"{args.name}-id"), outputs]

    @staticmethod
    def _computed(args) -> dict[str, Any]:
        """What providers compute on create, for the types whose outputs the program reads."""
        if args.typ == "random:index/randomPassword:RandomPassword":
            return {"result": fake_secret(args.name, int(args.inputs.get("length", 32)))}
        if args.typ == "random:index/randomBytes:RandomBytes":
            return {"base64": "RkFLRVNFQ1JFVGJ5dGVzMDEyMzQ1Njc4OWFiY2RlZmdoaWo=", "hex": "00" * 32}
        if args.typ == "docker:index/remoteImage:RemoteImage":
            return {"imageId": f"sha256:{args.name}", "repoDigest": f"{args.inputs.get('name')}@sha256:0"}
        if args.typ.startswith("cloudflare:index/zeroTrustTunnelCloudflared:"):
            return {"id": "f70ff985-a4ef-4643-bbbc-4a0ed4fc8415"}
        return {}

    def call(self, args: pulumi_mocks.MockCallArgs):
        if args.token.startswith("cloudflare:index/getZeroTrustTunnelCloudflaredToken"):
            return {"token": fake_tunnel_token(args.args.get("accountId"), args.args.get("tunnelId")),
                    "id": args.args.get("tunnelId")}
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Adds what MockResourceArgs leaves out: URN, parent, dependencies, protect."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        with self._lock:
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                record = self.mocks.resources[-1]
                record.urn, record.parent = response.urn, request.parent
                record.dependencies = list(request.dependencies)
                record.protect = bool(request.protect)
                record.retain_on_delete = bool(request.retainOnDelete)
                record.delete_before_replace = bool(request.deleteBeforeReplace)
            return response


@dataclass
class ProgramRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{len(matches)} resources named {name!r}"
        return matches[0]

    def by_urn(self, urn: str) -> Optional[Registered]:
        return next((r for r in self.resources if r.urn == urn), None)

    def parent_of(self, resource: Registered) -> Optional[Registered]:
        return self.by_urn(resource.parent)

    def descendants(self, component: Registered) -> list[Registered]:
        found, frontier = [], {component.urn}
        while frontier:
            children = [r for r in self.resources if r.parent in frontier]
            found += children
            frontier = {c.urn for c in children}
        return found


def dev_config() -> dict[str, Any]:
    """Pulumi.dev.yaml's config block: the local default stack, as the CLI would pass it."""
    return yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]


def _reveal(value: Any) -> tuple[Any, bool]:
    """`{"secure": v}` anywhere in a value (`pulumi config set --secret --path`): v, and that
    the whole top-level key is secret, as the Pulumi CLI hands it to the program."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return value["secure"], True
    if isinstance(value, dict):
        pairs = {k: _reveal(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        pairs = [_reveal(v) for v in value]
        return [v for v, _ in pairs], any(s for _, s in pairs)
    return value, False


def _flatten(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    flat: dict[str, str] = {}
    secret: list[str] = []
    for key, value in config.items():
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        value, is_secret = _reveal(value)
        if is_secret:
            secret.append(full)
        flat[full] = value if isinstance(value, str) else json.dumps(value)
    return flat, secret


def run_program(config: Optional[dict[str, Any]] = None, *, preview: bool = False, stack: str = "dev",
                recorder: Optional[RecordingMocks] = None) -> ProgramRun:
    flat, secret_keys = _flatten(dev_config() if config is None else config)
    pulumi_settings.reset_options(project=NAMESPACE, stack=stack, preview=preview)
    pulumi.runtime.set_all_config(flat, secret_keys)
    recorder = recorder or RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project=NAMESPACE, stack=stack, preview=preview,
                             monitor=RecordingMonitor(recorder))
    root = pulumi_settings.get_root_resource()

    async def resolve() -> tuple[dict, set]:
        values, secrets = {}, set()
        for name, value in root.outputs.items():
            out = pulumi.Output.from_input(value)
            values[name] = await out.future(with_unknowns=True)
            if await out.is_secret():
                secrets.add(name)
        return values, secrets

    result: dict[str, Any] = {}

    def program():
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        result["outputs"] = _sync_await(resolve())

    try:
        _sync_await(run_pulumi_func(program))
    finally:
        gc.unfreeze()  # __main__.py freezes what exists; a test process runs it many times
    assert recorder.resources, "the mocks saw no resource: the program did not run"
    outputs, secrets = result["outputs"]
    return ProgramRun(recorder.resources, outputs, secrets)


def verified_claims(run: "ProgramRun", token: str) -> dict:
    """A token's claims, verified with the public key its `kid` names among the program's
    outputs (each project's `jwks` and `stackJwks`), as PostgREST with that JWKS would."""
    import jwt

    sets = [p["jwks"] for p in run.outputs["projects"].values()] + [run.outputs["stackJwks"]]
    keys = {k.key_id: k for jwks in sets for k in jwt.PyJWKSet.from_dict(jwks).keys}
    key = keys[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(token, key.key, algorithms=["ES256"], options={"verify_aud": False})
