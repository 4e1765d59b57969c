"""External tools the tests drive (deck, chromium, the Pulumi CLI built into .tools/).

Outside CI a missing tool skips the test with the reason; under CI=true it fails,
because a green CI must mean every check ran.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_executable(name: str, install_hint: str, also_in: tuple[str, ...] = ()) -> str:
    """Return the path of `name` (on PATH or in `also_in`, e.g. /usr/sbin for a non-root
    user), or skip (outside CI) / fail (in CI) saying how to install it."""
    path = shutil.which(name) or (shutil.which(name, path=os.pathsep.join(also_in)) if also_in else None)
    if path:
        return path
    message = f"{name} is not installed ({install_hint})"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_file(path: Path, install_hint: str) -> Path:
    """`path` if it exists (a tool built into the repository's .tools/), else skip / fail in CI."""
    if path.exists():
        return path
    message = f"{path} does not exist ({install_hint})"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
