"""The small base every dynamic provider here shares: inputs as the program wrote them, and
one diff rule for all of them.

Numbers. Under `pulumi up` a dynamic provider never gets the dict its Resource built: the
inputs cross gRPC as a protobuf Struct, whose only number is a double, and the SDK's
dynamic provider host (pulumi/dynamic/__main__.py) hands them over as that float, in
every request (check, diff, create, update, delete, read) and for the olds from the state
too. So `fileSizeLimit: 1048576` arrived as 1048576.0 and became `"1048576.0"` in the SQL
step's JSON (`invalid input syntax for type bigint`), the admin port became `port=5432.0`
(libpq refuses it), and the dashboard, which takes a limit only as an int, dropped it.

The fix is here, where every provider's requests come in, and not per field: a float that
is a whole number becomes the int it was in the program, recursively through lists and
dicts, before any provider method sees its arguments. Per-field casts would have to be
remembered for every numeric input of every provider, and the next one forgotten would
fail only under the real engine. Nothing is lost: the program never declares a whole
float that must stay a float (the config's numbers are byte counts, ports, seconds), the
wire has already erased that difference anyway, and floats with a fraction are kept.
Every subclass gets it by inheritance (`__init_subclass__` wraps the request methods it
defines), so a new provider cannot forget it; tests/test_provider_serialization.py drives
each provider through the SDK's serialization to hold that.

Diff: a provider lists the inputs that force a replacement and the ones that never matter
(credentials that may rotate); everything else that changed is an in-place update.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

# The ResourceProvider methods the dynamic provider host calls with property dicts.
REQUESTS = ("check", "diff", "create", "update", "delete", "read")


def normalize(value: Any) -> Any:
    """`value` with every whole float made an int again, through lists and dicts; bools,
    strings (the engine's unknown marker included) and fractional floats unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def normalized(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` receiving its property-dict arguments normalized (ids are strings, kept)."""
    if getattr(method, "_normalizes_inputs", False):
        return method

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any) -> Any:
        return method(self, *(normalize(a) if isinstance(a, dict) else a for a in args),
                      **{k: normalize(v) if isinstance(v, dict) else v for k, v in kwargs.items()})

    wrapper._normalizes_inputs = True  # type: ignore[attr-defined]
    return wrapper


def changed_keys(olds: dict[str, Any], news: dict[str, Any], ignore: frozenset[str] = frozenset()) -> list[str]:
    keys = (set(olds) | set(news)) - ignore
    return sorted(k for k in keys if not k.startswith("__") and olds.get(k) != news.get(k))


class BaseProvider(ResourceProvider):
    REPLACE_ON: ClassVar[frozenset[str]] = frozenset()
    IGNORE: ClassVar[frozenset[str]] = frozenset()
    # The providers capture no secret (credentials arrive as secret inputs), so their
    # serialized code need not be a secret: previews can show when it changed.
    serialize_as_secret_always = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in REQUESTS:
            if name in cls.__dict__:
                setattr(cls, name, normalized(cls.__dict__[name]))

    @normalized
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """The SDK's default (the inputs as they are), with the numbers the program wrote."""
        return CheckResult(news, [])

    @normalized
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = changed_keys(olds, news, self.IGNORE)
        replaces = [k for k in changes if k in self.REPLACE_ON]
        return DiffResult(
            changes=bool(changes),
            replaces=replaces,
            stables=sorted(self.REPLACE_ON - set(replaces)),
            delete_before_replace=bool(replaces),
        )


class ConvergingProvider(BaseProvider):
    """Create and update are one idempotent step that brings the target to the inputs.

    Subclasses give `converge` (returns the outputs) and `resource_id`; `delete` does
    nothing unless overridden, for targets that go with their container or database.
    """

    def resource_id(self, props: dict[str, Any]) -> str:
        raise NotImplementedError

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(self.resource_id(props), self.converge(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self.converge(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        pass
