"""One dashboard over all cells: their public outputs joined into one outputs document.

Only outputs the CLI does not mark secret are read (the dashboard never takes secrets,
dashboard/__main__.py). Projects keep their entries and gain `cell`; services are named
`<cell>/<service>`; `cells` lists each cell with its own dashboard, whose status probes run
on that cell's host.
"""
from __future__ import annotations

from typing import Any, Mapping

from pulumi import automation as auto

DEPLOYMENT = "all-cells"


def public(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Any]:
    return {k: v.value for k, v in outputs.items() if not v.secret}


def merged(per_stack: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """[(stack, its public outputs)] -> the outputs `dashboard.build` renders."""
    projects: dict[str, Any] = {}
    services: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    for stack, out in per_stack:
        cell = out.get("cell") if isinstance(out.get("cell"), dict) else {}
        name = str(cell.get("name") or stack)
        mine = out.get("projects") if isinstance(out.get("projects"), dict) else {}
        projects.update({p: {**info, "cell": name} for p, info in mine.items() if isinstance(info, dict)})
        services += [{**s, "name": f"{name}/{s.get('name')}"} for s in out.get("services") or [] if isinstance(s, dict)]
        cells.append({"name": name, "stack": stack, "address": cell.get("address"), "projects": len(mine),
                      "maxProjects": cell.get("maxProjects"), "dashboardUrl": out.get("dashboardUrl"),
                      "studioUrl": out.get("studioUrl")})
    return {"stack": DEPLOYMENT, "projects": projects, "services": services, "cells": cells}
