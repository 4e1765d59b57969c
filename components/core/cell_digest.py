"""What a cell's `pulumi up` depends on, as one digest: its config and the program's files.

`python -m cells up --changed` runs only the cells whose digest differs from the one their
last `up` exported (`cellDigest`), so adding a project to one cell of forty costs one
stack's `up`, not forty previews. The digest covers the stack's config (this program's
namespace, secrets included, which is why the output is a secret), the program's own files,
and the folders the config names (templatesDir, supabaseDir, functions.dir): a new migration
file in an app's folder changes its cell's digest and only that one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

PROGRAM_ROOT = Path(__file__).resolve().parents[2]
# What `pulumi up` runs or ships into containers; tests, docs and benchmarks are not.
PROGRAM_PARTS = ("__main__.py", "Pulumi.yaml", "requirements.txt", "components", "sql", "templates", "volumes",
                 "dashboard", "backup")
SKIPPED = ("__pycache__",)


def digest(raw: Mapping[str, Any], stack_dir: Path = Path("."), root: Path = PROGRAM_ROOT) -> str:
    """sha256 of the namespace config `raw` (as the program reads it) and every file it depends on."""
    h = hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode())
    for label, base in (("program", root), ("stack", stack_dir)):
        parts = PROGRAM_PARTS if label == "program" else named_folders(raw)
        for name, path in _files(base, parts):
            h.update(f"\0{label}:{name}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def named_folders(raw: Mapping[str, Any]) -> list[str]:
    """The folders a config names, relative to the stack's folder."""
    found = [raw["templatesDir"]] if isinstance(raw.get("templatesDir"), str) else []
    for project in raw.get("projects") or []:
        if not isinstance(project, dict):
            continue
        found += [project["supabaseDir"]] if isinstance(project.get("supabaseDir"), str) else []
        functions = project.get("functions")
        found += [functions["dir"]] if isinstance(functions, dict) and isinstance(functions.get("dir"), str) else []
    return sorted(set(found))


def _files(base: Path, parts: Iterable[str]) -> list[tuple[str, Path]]:
    """(name, path) of every file of `parts` (relative to `base`, or absolute: a config may
    name a supabaseDir either way), named by the part as written and the path inside it."""
    found: list[tuple[str, Path]] = []
    for part in parts:
        path = base / part
        if path.is_file():
            found.append((part, path))
        elif path.is_dir():
            found += [(f"{part}/{p.relative_to(path).as_posix()}", p) for p in path.rglob("*")
                      if p.is_file() and not any(s in p.parts for s in SKIPPED)]
    return sorted(found)
