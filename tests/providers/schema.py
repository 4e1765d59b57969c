"""The real input names and types of a provider's resources, read from its Python SDK package.

Why from the package: pulumi_docker, pulumi_postgresql, pulumi_random and pulumi_cloudflare are
generated from each provider's own schema, and every `*Args` class keeps each input's wire
name (`@pulumi.getter(name=...)`) and type. The stand-ins check what the engine hands them
against that, so a misspelt key, a string where Docker wants a port number or a list where it
wants one object is refused at `check`, as the real provider's schema refuses it, instead of
being recorded as if Docker had taken it.
"""
from __future__ import annotations

import collections.abc
import importlib
import typing
from typing import Any

import pulumi._types as pulumi_types

# The engine's placeholder for a value not known yet (a preview, or an output of a resource
# not created yet): sdk/go/common/resource/plugin/rpc.go UnknownStringValue.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def args_class(package: str, token: str) -> type:
    """`docker:index/container:Container` -> pulumi_docker.ContainerArgs; `pulumi:providers:x` -> ProviderArgs."""
    module = importlib.import_module(f"pulumi_{package}")
    name = "Provider" if token.startswith("pulumi:providers:") else token.rsplit(":", 1)[-1]
    return getattr(module, f"{name}Args")


def _unwrap(typ: Any) -> Any:
    """Input[T] / Optional[T] / Union[T, Awaitable[T], Output[T]] -> T."""
    while True:
        origin = typing.get_origin(typ)
        if origin is typing.Union:
            plain = [a for a in typing.get_args(typ) if a is not type(None)
                     and typing.get_origin(a) is not collections.abc.Awaitable
                     and not (isinstance(a, type) and a.__name__ == "Output")
                     and getattr(typing.get_origin(a), "__name__", "") != "Output"]
            if len(plain) != 1:
                return Any
            typ = plain[0]
            continue
        return typ


def problems(value: Any, typ: Any, path: str) -> list[str]:
    """Why `value` (as the engine serialized it: numbers are floats) does not fit `typ`."""
    if value is None or value == UNKNOWN:
        return []
    typ = _unwrap(typ)
    origin = typing.get_origin(typ)
    if typ is Any:
        return []
    if isinstance(typ, type) and pulumi_types.is_input_type(typ):
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        return object_problems(value, typ, path)
    if origin in (collections.abc.Sequence, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        (item,) = typing.get_args(typ) or (Any,)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        item = typing.get_args(typ)[-1] if typing.get_args(typ) else Any
        return [p for k, v in value.items() for p in problems(v, item, f"{path}.{k}")]
    if typ is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected a bool, got {value!r}"]
    if typ is int:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
        return [] if ok else [f"{path}: expected an integer, got {value!r}"]
    if typ is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a number, got {value!r}"]
    if typ is str:
        return [] if isinstance(value, str) else [f"{path}: expected a string, got {value!r}"]
    return []


def object_problems(value: dict[str, Any], cls: type, path: str = "") -> list[str]:
    """Unknown keys and ill-typed values of one object of the input type `cls`."""
    types = pulumi_types.input_type_types(cls)
    found = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key.startswith("__"):  # engine metadata (__defaults)
            continue
        if key not in types:
            found.append(f"{where}: unknown property (known: {', '.join(sorted(types))})")
        else:
            found.extend(problems(item, types[key], where))
    return found


def provider_types(package: str) -> dict[str, Any]:
    return pulumi_types.input_type_types(args_class(package, f"pulumi:providers:{package}"))


def wants_json(typ: Any) -> bool:
    return _unwrap(typ) is not str


def check(package: str, token: str, inputs: dict[str, Any]) -> list[str]:
    return object_problems(inputs, args_class(package, token))
