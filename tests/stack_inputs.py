"""Reading what the real __main__.py declared under Pulumi mocks (tests/program.py): the
resource types, the containers and their env, inputs with their secret markers removed, and
whether any secret stands in plain text; shared by the tests of the stack's graph.
"""
from __future__ import annotations

from typing import Any, Iterator

from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.core import keys
from components.providers.kong_config import rendered
from tests.program import FAKE_SECRET_PREFIX, ProgramRun, Registered, dev_config, fake_secret

NS = "supabase-multi-instance"
CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
RANDOM = "random:index/randomPassword:RandomPassword"
KONG_CONFIG = "pulumi-python:dynamic/supabase:KongConfig"
ALL_FEATURES = {"analytics": True, "functions": True, "pooler": True}


def pushed(push) -> str:
    """The Kong config a KongConfig resource's inputs stand for (it keeps the settings)."""
    return rendered({"settings": plain(push.inputs["settings"])})

def config_with(**extra: Any) -> dict[str, Any]:
    config = dev_config()
    config.update({f"{NS}:{k}" if ":" not in k else k: v for k, v in extra.items()})
    return config


def plain(value: Any) -> Any:
    """An input with every secret marker removed (for reading names and values)."""
    if is_rpc_secret(value):
        return plain(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def containers(run: ProgramRun) -> dict[str, Registered]:
    found = {r.name: r for r in run.of_type(CONTAINER)}
    assert len(found) == len(run.of_type(CONTAINER)), "container resource names must be unique"
    return found


def env_names(container: Registered) -> set[str]:
    return {line.split("=", 1)[0] for line in plain(container.inputs.get("envs") or [])}


def env_value(container: Registered, name: str) -> str:
    (value,) = [line.split("=", 1)[1] for line in plain(container.inputs["envs"]) if line.startswith(f"{name}=")]
    return value


def plain_strings(value: Any, inside_secret: bool = False) -> Iterator[tuple[str, bool]]:
    """Every string of an input, with whether a secret marker encloses it."""
    if is_rpc_secret(value):
        yield from plain_strings(unwrap_rpc_secret(value), True)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from plain_strings(k, inside_secret)
            yield from plain_strings(v, inside_secret)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from plain_strings(v, inside_secret)
    elif isinstance(value, str):
        yield value, inside_secret


def leaks(inputs: dict[str, Any], secrets: list[str]) -> list[str]:
    """Secret values found in a string that is not under a secret marker."""
    return [f"{text[:60]}... holds {secret[:16]}..." for text, covered in plain_strings(inputs) if not covered
            for secret in secrets if secret in text]


def secret_values(run: ProgramRun) -> list[str]:
    """Every fake generated secret, and every service key derived from the fake JWT secret."""
    generated = [fake_secret(r.name, int(r.inputs.get("length", 32))) for r in run.of_type(RANDOM)]
    jwt_secret = fake_secret("jwt-secret", 64)
    projects = [p["name"] for p in run_projects(run)]
    service_keys = [keys.sign(jwt_secret, "service_role")] + [keys.sign(jwt_secret, f"{p}_service") for p in projects]
    return generated + service_keys + [FAKE_SECRET_PREFIX]


def run_projects(run: ProgramRun) -> list[dict]:
    return [{"name": name} for name in run.outputs["projects"]]


def docker_inputs(run: ProgramRun) -> dict[tuple[str, str], dict]:
    return {(r.typ, r.name): r.inputs for r in run.resources if r.typ.startswith("docker:")}
