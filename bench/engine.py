"""`pulumi up` of many projects' SQL resources under the real engine (the CLI from
scripts/build-pulumi.sh), on a real PostgreSQL: what mocks cannot measure.

The inline program of tests/engine.py declares the stack bootstrap and one SQL resource per
project; roles and schemas are made beforehand as the pulumi-postgresql resources would make
them (untimed). Timed: the first `up` (everything created), an `up` with nothing changed,
and the `up` that adds one project.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from bench.database import database
from components.core.config import BUILTIN_TEMPLATES
from components.core.naming import ProjectNames
from tests import pg
from tests.engine import CLI_ROOT, CLI_VERSION, EngineStack, Operation, open_stack


def _timed_up(stack: EngineStack) -> tuple[float, Operation]:
    started = time.perf_counter()
    op = stack.up()
    return time.perf_counter() - started, op


def measure(projects: int, repeat: int = 1) -> dict[str, Any]:
    """The run with the fastest first `up` of `repeat` runs, each on a fresh database and stack."""
    if not (CLI_ROOT / "bin" / "pulumi").exists():
        raise SystemExit(f"the Pulumi CLI {CLI_VERSION} is not built: run scripts/build-pulumi.sh")
    cli = auto.PulumiCommand(root=str(CLI_ROOT))
    runs = [_run(projects, cli) for _ in range(max(repeat, 1))]
    return min(runs, key=lambda r: r["up_seconds"]) | {"runs": len(runs)}


def _run(projects: int, cli: auto.PulumiCommand) -> dict[str, Any]:
    names = [f"p{i:03d}" for i in range(projects + 1)]
    with database() as dsn, tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        templates = Path(tmp) / "templates"
        shutil.copytree(BUILTIN_TEMPLATES / "blog", templates / "blog")
        for name in names:
            pg.provider_create(dsn, ProjectNames(name))
        config = [{"name": n} for n in names[:projects]]
        stack = open_stack(Path(tmp), dsn, templates, config, cli)
        first, created = _timed_up(stack)
        unchanged, _ = _timed_up(stack)
        stack.set_projects(config + [{"name": names[-1]}])
        one_more, added = _timed_up(stack)
        overhead = _automation_overhead(stack)
    return {
        "cli": CLI_VERSION,
        "projects": projects,
        "resources_created": created.summary.get("create", 0),
        "up_seconds": first,
        "seconds_per_project": first / projects,
        "unchanged_up_seconds": unchanged,
        "add_one_project_up_seconds": one_more,
        "add_one_project_steps": added.changed(),
        # Part of each timed `up`: the Automation API reads outputs and stack info after the CLI's `up`.
        "automation_overhead_seconds": overhead,
    }


def _automation_overhead(stack: EngineStack) -> float:
    started = time.perf_counter()
    stack.stack.outputs()
    stack.stack.info()
    return time.perf_counter() - started
