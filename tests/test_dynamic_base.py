"""components/providers/dynamic_base.py: what every provider's requests look like after the base.

The engine's side (every number a float) is in tests/test_provider_serialization.py; here,
the rule itself and that it reaches every request method of a subclass.
"""
from __future__ import annotations

import json
from typing import Any

from pulumi.dynamic import CreateResult, UpdateResult
from pulumi.runtime.rpc import UNKNOWN

from components.providers.dynamic_base import BaseProvider, ConvergingProvider, normalize


def test_whole_floats_become_ints_through_lists_and_dicts():
    received = {"port": 5432.0, "buckets": [{"fileSizeLimit": 1048576.0, "public": True, "allowedMimeTypes": None}],
                "ratio": 0.5, "negative": -3.0, "zero": 0.0, "flag": False, "name": "1.0", "later": UNKNOWN}
    found = normalize(received)
    assert found == {"port": 5432, "buckets": [{"fileSizeLimit": 1048576, "public": True, "allowedMimeTypes": None}],
                     "ratio": 0.5, "negative": -3, "zero": 0, "flag": False, "name": "1.0", "later": UNKNOWN}
    assert json.dumps(found["buckets"]) == '[{"fileSizeLimit": 1048576, "public": true, "allowedMimeTypes": null}]'
    assert type(found["port"]) is int and type(found["ratio"]) is float and found["flag"] is False


class Recording(ConvergingProvider):
    """Overrides create and delete itself; inherits update (ConvergingProvider) and check/diff (BaseProvider)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def resource_id(self, props: dict[str, Any]) -> str:
        return "r"

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(("converge", props))
        return props

    def create(self, props: dict[str, Any]) -> CreateResult:
        self.seen.append(("create", props))
        return super().create(props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self.seen.append(("delete", props))


def test_every_request_method_of_a_subclass_sees_ints():
    provider, props = Recording(), {"n": 7.0, "nested": {"list": [1.0, 2.5]}}
    assert provider.check({}, props).inputs == {"n": 7, "nested": {"list": [1, 2.5]}}
    assert type(provider.check({}, props).inputs["n"]) is int
    assert provider.create(props).outs == {"n": 7, "nested": {"list": [1, 2.5]}}
    assert isinstance(provider.update("r", props, props), UpdateResult)
    provider.delete("r", props)
    assert [(step, type(seen["n"])) for step, seen in provider.seen] == [
        ("create", int), ("converge", int), ("converge", int), ("delete", int)]


def test_a_whole_float_and_its_int_are_no_change():
    assert BaseProvider().diff("r", {"n": 7.0, "__provider": "a"}, {"n": 7, "__provider": "b"}).changes is False
    assert BaseProvider().diff("r", {"n": 7.0}, {"n": 7.5}).changes is True
