"""`preview` or `up` over cells: each cell's stack in its own Pulumi CLI process, a few at a time.

One stack per process is what keeps a change bounded: a cell's `up` reads and writes only
its own checkpoint (bench/cells.py measures it). `only_changed` skips a cell whose config
and program files hash to the digest its last `up` exported (components/core/cell_digest.py):
the cells nothing was done to are not even previewed. A failing cell does not stop the
others; every cell's result is reported.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pulumi import automation as auto

from cells.inventory import Cell
from components.core import cell_digest

# The stack of a cell, ready to run: `auto.select_stack(name, work_dir=...)` for the project
# folder's program (what an operator runs); tests hand an inline program instead.
Opener = Callable[[str], auto.Stack]
VERBS = ("preview", "up")


@dataclass
class CellRun:
    stack: str
    cell: str
    verb: str
    skipped: bool = False  # unchanged since its last `up` (only_changed)
    changes: dict[str, int] = field(default_factory=dict)  # create/update/delete/same ... counts
    seconds: float = 0.0
    error: Optional[str] = None

    @property
    def line(self) -> str:
        if self.skipped:
            return f"{self.stack} ({self.cell}): unchanged since its last up, skipped"
        if self.error:
            return f"{self.stack} ({self.cell}): {self.verb} FAILED after {self.seconds:.0f} s: {self.error}"
        counts = ", ".join(f"{n} {op}" for op, n in sorted(self.changes.items()) if n) or "no resources"
        return f"{self.stack} ({self.cell}): {self.verb} in {self.seconds:.0f} s: {counts}"


def unchanged(stack: auto.Stack, cell: Cell, stack_dir: Path) -> bool:
    """Its last `up` exported the digest its config and files have now."""
    last = stack.outputs().get("cellDigest")
    return last is not None and last.value == cell_digest.digest(cell.raw, stack_dir)


def run_cell(cell: Cell, verb: str, opener: Opener, only_changed: bool, stack_dir: Path) -> CellRun:
    result = CellRun(cell.stack, cell.name, verb)
    started = time.monotonic()
    try:
        stack = opener(cell.stack)
        if only_changed and unchanged(stack, cell, stack_dir):
            result.skipped = True
            return result
        if verb == "preview":
            counts = stack.preview(color="never").change_summary
        else:
            counts = stack.up(color="never").summary.resource_changes or {}
        result.changes = {str(getattr(op, "value", op)): n for op, n in counts.items()}
    except auto.CommandError as err:
        result.error = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    finally:
        result.seconds = time.monotonic() - started
    return result


def run(cells: list[Cell], verb: str, opener: Opener, parallel: int = 2, only_changed: bool = False,
        stack_dir: Path = Path(".")) -> list[CellRun]:
    """Every cell's result, in the cells' order."""
    if verb not in VERBS:
        raise ValueError(f"verb must be one of {', '.join(VERBS)}")
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(lambda c: run_cell(c, verb, opener, only_changed, stack_dir), cells))
