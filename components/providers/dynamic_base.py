"""The small base every dynamic provider here shares: one diff rule for all of them.

A provider lists the inputs that force a replacement and the ones that never matter
(credentials that may rotate); everything else that changed is an in-place update.
"""
from __future__ import annotations

from typing import Any, ClassVar

from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult


def changed_keys(olds: dict[str, Any], news: dict[str, Any], ignore: frozenset[str] = frozenset()) -> list[str]:
    keys = (set(olds) | set(news)) - ignore
    return sorted(k for k in keys if not k.startswith("__") and olds.get(k) != news.get(k))


class BaseProvider(ResourceProvider):
    REPLACE_ON: ClassVar[frozenset[str]] = frozenset()
    IGNORE: ClassVar[frozenset[str]] = frozenset()
    # The providers capture no secret (credentials arrive as secret inputs), so their
    # serialized code need not be a secret: previews can show when it changed.
    serialize_as_secret_always = False

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
