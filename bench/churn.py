"""Shared-service churn: what else changes when one project is added to a stack of N."""
from __future__ import annotations

from typing import Any

from bench.program import PROJECT_TYPE, project_config

CONTAINER = "docker:index/container:Container"


def measure(projects: int) -> dict[str, Any]:
    from tests.program import run_program

    before = run_program(project_config(projects))
    config = project_config(projects)
    config["supabase-multi-instance:projects"].append({"name": "added"})
    after = run_program(config)

    (component,) = [r for r in after.resources if r.typ == PROJECT_TYPE and r.name == "added"]
    own = {(r.typ, r.name) for r in [component, *after.descendants(component)]}
    old = {(r.typ, r.name): r.inputs for r in before.resources}
    changed = [r for r in after.resources
               if (r.typ, r.name) not in own and (r.typ, r.name) in old and old[(r.typ, r.name)] != r.inputs]
    return {
        "projects": projects,
        "added_resources": len(own),
        "shared_containers_changed": sorted(r.name for r in changed if r.typ == CONTAINER),
        "other_resources_changed": sorted(f"{r.typ} {r.name}" for r in changed),
        "removed_resources": sorted(f"{t} {n}" for t, n in set(old) - {(r.typ, r.name) for r in after.resources}),
    }
