"""A project's Edge Function files, read from its functions folder, as the deploy ships them.

Everything under the folder ships (a function imports `../_shared/cors.ts` as the Supabase
CLI allows), except what never belongs in a deploy: hidden entries (`.env`, `.git`) and
`node_modules`. The digest covers paths and bytes, so it changes exactly when a deploy would.
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Iterable

# Supabase's own limit on one function bundle is 20 MB; a folder past this is a mistake
# (a build output or data set), caught before it is copied into state and the runtime.
MAX_TOTAL_BYTES = 20 * 1024 * 1024
SKIPPED_NAMES = frozenset({"node_modules"})


class FunctionFilesError(ValueError):
    pass


def _shipped(relative: Path) -> bool:
    return not any(part.startswith(".") or part in SKIPPED_NAMES for part in relative.parts)


def collect(folder: Path, left_out: Iterable[str] = ()) -> dict[str, bytes]:
    """`relative/path` -> bytes of every shipped file under `folder` (symlinks not followed),
    but those of the functions `left_out` (disabled: the runtime finds nothing to serve)."""
    found: dict[str, bytes] = {}
    total = 0
    skipped = frozenset(left_out)
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not _shipped(relative) or relative.parts[0] in skipped or path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            raise FunctionFilesError(f"{folder}: more than {MAX_TOTAL_BYTES // (1024 * 1024)} MB of files; "
                                     "keep build outputs and data out of the functions folder")
        found[relative.as_posix()] = data
    return found


def encoded(files: dict[str, bytes]) -> dict[str, str]:
    """Files as resource inputs (text only crosses the engine): base64 of each file's bytes."""
    return {path: base64.b64encode(data).decode() for path, data in sorted(files.items())}


def decoded(files: dict[str, str]) -> dict[str, bytes]:
    return {path: base64.b64decode(text) for path, text in files.items()}


def digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for path, data in sorted(files.items()):
        h.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()
