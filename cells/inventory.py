"""The cells of a deployment: the stacks of this project folder that have a `cell` block.

Read through the Automation API (`pulumi config --json --show-secrets` of each stack), so a
key set with `--secret` is read as the program reads it; the passphrase comes from
PULUMI_CONFIG_PASSPHRASE (scripts/env.sh), as for `pulumi up`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from pulumi import automation as auto

from components.core.config import NAMESPACE, namespace_values
from components.core.config.rules import NESTED_SECRET_KEYS, SECRET_KEYS


@dataclass(frozen=True)
class Cell:
    stack: str
    raw: dict[str, Any]  # the stack's namespace config, decoded as the program decodes it
    secret: frozenset[str]  # its keys set with --secret

    @property
    def block(self) -> dict[str, Any]:
        return self.raw["cell"] if isinstance(self.raw.get("cell"), dict) else {}

    @property
    def name(self) -> str:
        return str(self.block.get("name", "?"))

    @property
    def projects(self) -> list[str]:
        entries = self.raw.get("projects") if isinstance(self.raw.get("projects"), list) else []
        return [str(p["name"]) for p in entries if isinstance(p, dict) and "name" in p]

    def get(self, key: str, default: Optional[Any] = None) -> Any:
        return self.block.get(key, default)


def read_cell(workspace: auto.Workspace, stack: str) -> Optional[Cell]:
    """The stack as a cell, or None when its config has no `cell` block."""
    values = workspace.get_all_config(stack)
    raw = namespace_values({key: v.value for key, v in values.items()})
    if "cell" not in raw:
        return None
    watched = {f"{NAMESPACE}:{k}" for k in (*SECRET_KEYS, *NESTED_SECRET_KEYS)}
    secret = frozenset(k.split(":", 1)[1] for k, v in values.items() if v.secret and k in watched)
    return Cell(stack, raw, secret)


def read_cells(workspace: auto.Workspace, stacks: Optional[list[str]] = None) -> list[Cell]:
    """Every cell of the workspace (or of `stacks`), in stack-name order."""
    names = stacks if stacks is not None else sorted(s.name for s in workspace.list_stacks())
    return [c for c in (read_cell(workspace, name) for name in names) if c is not None]
