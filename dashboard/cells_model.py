"""The cells of a deployment on the dashboard, from the `cells` entry `python -m cells
dashboard` writes into the merged outputs (cells/outputs.py); a single stack has none.

Each cell's own dashboard stays the page of its status probes (they run in that cell's
nginx, next to its GoTrues); the merged page lists every cell's projects and links there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboard.key_filter import Sanitizer


@dataclass(frozen=True)
class CellSummary:
    name: str
    address: str | None
    projects: int
    max_projects: int | None
    dashboard_url: str | None
    studio_url: str | None

    @property
    def fill(self) -> str:
        return f"{self.projects} of {self.max_projects}" if self.max_projects else str(self.projects)


def cells(value: Any, s: Sanitizer, is_url) -> list[CellSummary]:
    value = s.items(value, "cells")
    found = []
    for i, raw in enumerate(value):
        where = f"cells[{i}]"
        name = s.text(raw.get("name"), f"{where}.name") if isinstance(raw, dict) else None
        if not name:
            s.warn(f"{where}: no name, ignored")
            continue
        count, limit = raw.get("projects"), raw.get("maxProjects")
        urls = {k: s.text(raw.get(k), f"{where}.{k}") for k in ("dashboardUrl", "studioUrl")}
        found.append(CellSummary(
            name=name, address=s.text(raw.get("address"), f"{where}.address"),
            projects=count if isinstance(count, int) and not isinstance(count, bool) else 0,
            max_projects=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
            dashboard_url=urls["dashboardUrl"] if is_url(urls["dashboardUrl"]) else None,
            studio_url=urls["studioUrl"] if is_url(urls["studioUrl"]) else None))
    return found
