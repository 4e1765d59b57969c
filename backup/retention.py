"""Keep the newest N backups of each project in a folder; older ones go."""
from __future__ import annotations

import re
from pathlib import Path

from backup import archive

NAME = re.compile(r"^(?P<project>[a-z][a-z0-9_]*)-\d{8}T\d{12}Z" + re.escape(archive.SUFFIX) + "$")


def backups_of(folder: Path, project: str) -> list[Path]:
    """A project's backup files, oldest first (their names sort in time order)."""
    folder = Path(folder) / project
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and (m := NAME.match(p.name)) and m["project"] == project)


def prune(folder: Path, project: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups of `project`; returns what was deleted."""
    if keep < 1:
        raise ValueError("retention keeps at least one backup")
    old = backups_of(folder, project)[:-keep]
    for path in old:
        path.unlink()
    return old
