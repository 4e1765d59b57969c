"""Where the stand-ins keep what they made: `$PULUMI_STANDIN_STATE` (a folder the test owns).

docker.json is the stand-in Docker daemon's record (containers, images, networks, volumes),
read by the tests and by the stand-in `docker` CLI; containers/<name>/ is each container's
filesystem as far as the program touches it (uploads, `docker cp`, `docker exec`).
"""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

KINDS = ("containers", "images", "networks", "volumes")
_lock = threading.Lock()


def root() -> Path:
    folder = os.environ.get("PULUMI_STANDIN_STATE")
    if not folder:
        raise RuntimeError("PULUMI_STANDIN_STATE is not set: the stand-in providers (tests/providers) need a folder "
                           "for what they create; tests/stack_engine.py sets it")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def docker_file() -> Path:
    return root() / "docker.json"


def read_docker(path: Path | None = None) -> dict[str, dict[str, Any]]:
    path = path or docker_file()
    found = json.loads(path.read_text()) if path.exists() else {}
    return {kind: found.get(kind, {}) for kind in KINDS}


@contextmanager
def docker_record() -> Iterator[dict[str, dict[str, Any]]]:
    """The record, to change in place; written back atomically (the CLI stand-in reads it meanwhile)."""
    with _lock:
        record = read_docker()
        yield record
        path = docker_file()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        os.replace(tmp, path)


def container_root(name: str) -> Path:
    return root() / "containers" / name
