"""External tools the tests drive (decK and the Pulumi CLI built into .tools/, chromium).

Outside CI a missing tool skips the test with the reason; under CI=true it fails,
because a green CI must mean every check ran.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
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


ROOT = Path(__file__).resolve().parents[1]
DECK_VERSION = (ROOT / "scripts" / "deck.version").read_text().strip()


def deck() -> str:
    """decK at the pinned version, built by scripts/build-deck.sh into .tools/ (Debian's deck
    1.4.0 predates Kong 3's format 3.0); skip / fail in CI when it was not built."""
    path = ROOT / ".tools" / f"deck-{DECK_VERSION}" / "bin" / "deck"
    return str(require_file(path, "scripts/build-deck.sh builds it with Go"))


def deck_run(*args: str, timeout: int = 120) -> "subprocess.CompletedProcess[str]":
    """`deck <args>` with decK's usage reports off (it would call Kong's servers otherwise)."""
    return subprocess.run([deck(), "--analytics=false", *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
