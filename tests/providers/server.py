"""What every stand-in provider plugin shares: the engine's ResourceProvider gRPC service.

Why Python and the SDK's own gRPC service: the Go modules of the real plugins and of
pulumi-go-provider are not served by the Go module proxy here (403 "not available"; README,
Development), while the Python SDK ships the engine's provider protocol
(`pulumi.runtime.proto`, the service the dynamic-provider plugin implements too). So the
stand-ins need no build step, and the postgresql one runs its SQL with the psycopg already
in the virtualenv.

The engine talks to a stand-in exactly as to the real plugin: it finds
`pulumi-resource-<name>` on PATH, asks GetPluginInfo for the version (the one the SDK package
declares in its pulumi-plugin.json), checks, diffs, creates, reads, updates and deletes.
Secrets are not accepted (Configure says so), so the engine strips them before a call and
re-marks the outputs the SDK declares secret; previews are not supported, so the engine
shows a new resource's outputs as unknown, as for any provider without preview support.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from concurrent import futures
from pathlib import Path
from typing import Any, Callable, Optional

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from tests.providers import schema
from tests.providers.schema import UNKNOWN


# What the engine adds to every provider's inputs (plugin version and download URL).
ENGINE_CONFIG = frozenset({"version", "pluginDownloadURL"})


class ProviderError(Exception):
    """A refusal the real provider (or the API behind it) would make; the engine prints it."""


def to_dict(struct: Optional[struct_pb2.Struct]) -> dict[str, Any]:
    return json_format.MessageToDict(struct) if struct is not None else {}


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(value)
    return found


def provider_config(package: str, config: dict[str, Any]) -> dict[str, Any]:
    """A provider's inputs as the SDKs send them: every non-string value JSON-encoded in a
    string (pulumi's provider-resource convention), decoded where the schema wants no string."""
    types = schema.provider_types(package)
    decoded = {}
    for key, value in config.items():
        if isinstance(value, str) and value != UNKNOWN and key in types and schema.wants_json(types[key]):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        decoded[key] = value
    return decoded


class ResourceType:
    """One resource type of a stand-in. By default every input change replaces (Terraform's
    ForceNew), except the inputs in `UPDATABLE`."""

    UPDATABLE: frozenset[str] = frozenset()

    def __init__(self, plugin: "StandIn"):
        self.plugin = plugin

    def check(self, news: dict[str, Any], olds: dict[str, Any]) -> list[str]:
        return []

    def create(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def read(self, id_: str, state: dict[str, Any], inputs: dict[str, Any]) -> Optional[dict[str, Any]]:
        """The live state, or None when the object is gone."""
        return state

    def update(self, id_: str, state: dict[str, Any], old_inputs: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        return {**state, **news}

    def delete(self, id_: str, state: dict[str, Any]) -> None:
        pass


class StandIn(provider_pb2_grpc.ResourceProviderServicer):
    """A provider plugin serving `types` (token -> ResourceType class) and `invokes`."""

    def __init__(self, package: str, types: dict[str, type[ResourceType]],
                 invokes: Optional[dict[str, Callable[[dict], dict]]] = None):
        self.package = package
        self.version = self._plugin_version(package)
        self.types = {token: cls(self) for token, cls in types.items()}
        self.invokes = invokes or {}
        self.config: dict[str, Any] = {}

    @staticmethod
    def _plugin_version(package: str) -> str:
        """The version the SDK package asks the engine for (its pulumi-plugin.json)."""
        module = __import__(f"pulumi_{package}")
        return json.loads((Path(module.__file__).parent / "pulumi-plugin.json").read_text())["version"]

    def _type(self, request) -> ResourceType:
        token = request.type or request.urn.split("::")[2].split("$")[-1]
        if token not in self.types:
            raise ProviderError(f"{self.package} stand-in: resource type {token} is not stood in (tests/providers)")
        return self.types[token]

    # -- plugin and provider configuration --

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=self.version)

    def GetSchema(self, request, context):
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        raise NotImplementedError("the stand-ins take their schema from the Python SDK packages")

    def CheckConfig(self, request, context):
        news = provider_config(self.package, to_dict(request.news))
        config = {k: v for k, v in news.items() if k not in ENGINE_CONFIG}
        found = schema.check(self.package, f"pulumi:providers:{self.package}", config)
        return provider_pb2.CheckResponse(inputs=request.news, failures=[
            provider_pb2.CheckFailure(property="", reason=p) for p in found])

    def DiffConfig(self, request, context):
        olds, news = to_dict(request.old_inputs or request.olds), to_dict(request.news)
        changed = sorted(k for k in set(olds) | set(news) if olds.get(k) != news.get(k) and not k.startswith("__"))
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_SOME if changed
                                         else provider_pb2.DiffResponse.DIFF_NONE, diffs=changed)

    def Configure(self, request, context):
        args = to_dict(request.args) if request.HasField("args") else {
            k.rsplit(":", 1)[-1]: v for k, v in request.variables.items()}
        self.config = provider_config(self.package, args)
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=False,
                                              acceptResources=False, acceptOutputs=False)

    def Invoke(self, request, context):
        if request.tok not in self.invokes:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{self.package} stand-in: no invoke {request.tok}")
        return provider_pb2.InvokeResponse(**{"return": to_struct(self.invokes[request.tok](to_dict(request.args)))})

    def Cancel(self, request, context):
        return empty_pb2.Empty()

    # -- resources --

    def Check(self, request, context):
        news, olds = to_dict(request.news), to_dict(request.olds)
        typ = self._type(request)
        found = schema.check(self.package, request.type or request.urn.split("::")[2].split("$")[-1], news)
        if not found and UNKNOWN not in json.dumps(news):
            found = typ.check(news, olds)
        return provider_pb2.CheckResponse(inputs=request.news, failures=[
            provider_pb2.CheckFailure(property="", reason=p) for p in found])

    def Diff(self, request, context):
        typ = self._type(request)
        olds = to_dict(request.old_inputs) if request.HasField("old_inputs") else to_dict(request.olds)
        news = to_dict(request.news)
        ignored = set(request.ignoreChanges)
        changed = sorted(k for k in set(olds) | set(news)
                         if not k.startswith("__") and k not in ignored and olds.get(k) != news.get(k))
        replaces = [k for k in changed if k not in typ.UPDATABLE]
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changed, replaces=replaces, deleteBeforeReplace=False)

    def Create(self, request, context):
        id_, outputs = self._type(request).create(to_dict(request.properties))
        return provider_pb2.CreateResponse(id=id_, properties=to_struct(outputs))

    def Read(self, request, context):
        inputs = to_dict(request.inputs)
        live = self._type(request).read(request.id, to_dict(request.properties), inputs)
        if live is None:
            return provider_pb2.ReadResponse(id="")
        return provider_pb2.ReadResponse(id=request.id, properties=to_struct(live), inputs=request.inputs)

    def Update(self, request, context):
        outputs = self._type(request).update(request.id, to_dict(request.olds), to_dict(request.old_inputs),
                                             to_dict(request.news))
        return provider_pb2.UpdateResponse(properties=to_struct(outputs))

    def Delete(self, request, context):
        self._type(request).delete(request.id, to_dict(request.properties))
        return empty_pb2.Empty()


def _guarded(servicer: StandIn) -> StandIn:
    """A ProviderError (or any failure) becomes the gRPC error the engine prints with the URN."""
    for name in ("CheckConfig", "DiffConfig", "Configure", "Invoke", "Check", "Diff", "Create", "Read", "Update",
                 "Delete"):
        method = getattr(servicer, name)

        def call(request, context, _method=method):
            try:
                return _method(request, context)
            except ProviderError as err:
                context.abort(grpc.StatusCode.UNKNOWN, str(err))
            except Exception:  # noqa: BLE001 - the engine shows it; a stand-in bug must be readable
                context.abort(grpc.StatusCode.UNKNOWN, traceback.format_exc())
        setattr(servicer, name, call)
    return servicer


def serve(servicer: StandIn) -> None:
    """Serve on a free loopback port, print it (the plugin handshake), and run until the engine
    that started this process is gone; calls in flight then finish, as a real plugin's do."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(_guarded(servicer), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    parent = os.getppid()
    stop = threading.Event()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            server.stop(grace=30).wait()
            return
    time.sleep(0)
