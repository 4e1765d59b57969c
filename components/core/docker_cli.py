"""Files into a running container with the docker CLI, for the dynamic resources that must
not change a container's inputs (Kong's live config, the dashboard pages).

The CLI honours DOCKER_HOST and docker contexts, as the pulumi-docker provider does; a cell's
resources pass its `dockerHost` (`host`), so the CLI reaches the same daemon as the cell's
docker provider whatever the shell running `pulumi` has set.
"""
from __future__ import annotations

import io
import os
import subprocess
import tarfile


def tar_archive(files: dict[str, str | bytes]) -> bytes:
    """Files as the tar stream `docker cp -` reads: world-readable, fixed mtime (same bytes, same digest)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, text in sorted(files.items()):
            data = text if isinstance(text, bytes) else text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class DockerError(RuntimeError):
    """A docker CLI call failed; `stderr` is what the CLI (or the command it ran) said."""

    def __init__(self, command: str, returncode: int, stderr: str):
        super().__init__(f"docker {command} failed: {stderr}")
        self.returncode, self.stderr = returncode, stderr


def docker(*args: str, stdin: bytes = b"", timeout: float = 120, host: str | None = None) -> str:
    """Runs the docker CLI (against `host` when given); returns its standard output."""
    env = {**os.environ, "DOCKER_HOST": host} if host else None
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise DockerError(args[0], result.returncode, result.stderr.decode(errors="replace").strip())
    return result.stdout.decode(errors="replace")


def copy_into(container: str, directory: str, archive: bytes, host: str | None = None) -> None:
    docker("cp", "-", f"{container}:{directory}", stdin=archive, host=host)
