"""The engine's side of a Python dynamic provider, in this process: what `pulumi up` hands it.

Why not call a provider's methods with the dicts a Resource builds: the engine never does.
Under `pulumi up` every input leaves the program through the SDK's `serialize_properties`,
crosses gRPC as a protobuf `Struct` (whose only number is the double `number_value`), lives
in the engine as a PropertyMap of float64 and in the checkpoint as JSON, and reaches the
provider through the dynamic provider host's `deserialize_properties`, which does not turn
a float back into an int. A test that calls `create({"port": 5432})` passes while the
provider under the engine gets `5432.0` (issue 18: `invalid input syntax for type bigint:
"1048576.0"`).

`DynamicHost` mirrors, method for method, `DynamicResourceProviderServicer` of the Pulumi
Python SDK's dynamic provider host, `pulumi/dynamic/__main__.py` (pulumi 3.272.0, the
SDK this repository installs): Check (line 182) and Diff (line 114) deserialize with
`keep_unknowns=True`, Create (167), Update (137), Delete (156) and Read (229) without it;
the provider is the one `get_provider` (line 46) unpickles with dill from the `__provider`
input; Check's inputs and Create/Update/Read's outputs go back through
`serialize_properties` with `__provider` added. The module itself cannot be imported (it
starts its gRPC server on import), hence the mirror; `get_provider`'s `configure(Settings)`
and `provider.configure` are left out (they set this process's global Pulumi settings and
the providers here take no provider config).

What the engine adds between calls is modelled in `wire`: the Struct as bytes (gRPC), and
secrets unwrapped, because the host's Configure answers `acceptSecrets: False` (line 214)
and the engine then marshals a provider's inputs with `KeepSecrets: acceptSecrets`
(pkg/resource/plugin/provider_plugin.go, Check/Diff/Create). The engine's own float64 and
JSON checkpoint change nothing further: the Struct already holds only doubles.
"""
from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any, Optional

import dill
from google.protobuf import struct_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _deserialize

PROVIDER_KEY = "__provider"  # pulumi/dynamic/__main__.py PROVIDER_KEY


def unwrap_secrets(value: Any) -> Any:
    """What the engine sends a provider that does not accept secrets: plain values."""
    if rpc.is_rpc_secret(value):
        return unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def _serialize_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    """`rpc.serialize_properties(props, {})` on a fresh loop, as the host runs it."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def wire(props: dict[str, Any], keep_unknowns: Optional[bool] = None) -> dict[str, Any]:
    """`props` as the provider host receives them: serialized by the SDK, sent as Struct bytes,
    deserialized by the SDK (every number a float from here on)."""
    sent = _serialize_struct(unwrap_secrets(props)).SerializeToString()
    return rpc.deserialize_properties(struct_pb2.Struct.FromString(sent), keep_unknowns)


def get_provider(props: dict[str, Any]) -> ResourceProvider:
    """pulumi/dynamic/__main__.py get_provider: the provider unpickled from `__provider`."""
    text = props[PROVIDER_KEY]
    return _deserialize(lambda: dill.loads(base64.b64decode(text)))


@dataclass
class Created:
    id: str
    outputs: dict[str, Any]


class DynamicHost:
    """One call per engine request; arguments are what the engine holds (inputs from the
    program or the last Check, outputs from the state), results are what it stores."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> tuple[dict[str, Any], list]:
        olds, news = wire(olds, True), wire(news, True)  # Check, lines 183-184
        provider = get_provider(olds if news[PROVIDER_KEY] == rpc.UNKNOWN else news)
        result = provider.check(olds, news)
        inputs = result.inputs
        inputs[PROVIDER_KEY] = news[PROVIDER_KEY]
        return wire(inputs), list(result.failures)  # serialize_properties(inputs), line 197

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]):
        olds, news = wire(olds, True), wire(news, True)  # Diff, lines 115-116
        provider = get_provider(olds if news[PROVIDER_KEY] == rpc.UNKNOWN else news)
        return provider.diff(id_, olds, news)

    def create(self, props: dict[str, Any]) -> Created:
        props = wire(props)  # Create, line 168
        result = get_provider(props).create(props)
        outs = result.outs if result.outs is not None else {}
        outs[PROVIDER_KEY] = props[PROVIDER_KEY]
        return Created(result.id, wire(outs))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        olds, news = wire(olds), wire(news)  # Update, lines 138-139
        result = get_provider(news).update(id_, olds, news)
        outs = result.outs if result.outs is not None else {}
        outs[PROVIDER_KEY] = news[PROVIDER_KEY]
        return wire(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = wire(props)  # Delete, line 158
        get_provider(props).delete(id_, props)
