"""One project's Edge Functions, copied into the running edge runtime, never into its inputs.

Why a dynamic resource: as a container input, each project's code would recreate the shared
functions container and cut every project's requests. Instead the files and the sealed
manifest (components/core/functions_env.py) go with `docker cp` into the `functions-projects`
volume as a new version folder `<folder>/v-<version>`, and a `docker exec` swaps the folder's
`current` link to it (a rename: a request sees the old version or the new, never half of
one) and removes older versions. The main service resolves `current` per request, so the
next request runs the new code in new workers (the runtime keeps workers per service path,
supabase/edge-runtime v1.70.3 crates/base/src/worker/pool.rs:228-231). No container is
replaced or restarted. A new container id (the runtime recreated) copies it again.
"""
from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import Resource

from components.core import function_files
from components.core.docker_cli import copy_into, docker, tar_archive
from components.providers.dynamic_base import ConvergingProvider

ROOT = "/home/deno/functions-projects"
# $1 the project's folder, $2 the version: link, rename over `current`, drop older versions.
SWAP_SCRIPT = """set -eu
cd "$1"
ln -sfn "v-$2" current.next
mv -Tf current.next current
for d in v-*; do [ "$d" = "v-$2" ] || rm -rf "$d"; done
"""


def version_files(folder: str, version: str, files: dict[str, bytes], sealed: str) -> dict[str, bytes]:
    """The version folder as paths under ROOT: its functions and its sealed manifest."""
    base = f"{folder}/v-{version}"
    return {**{f"{base}/functions/{path}": data for path, data in files.items()},
            f"{base}/env.enc": sealed.encode()}


def deploy(container: str, folder: str, version: str, files: dict[str, bytes], sealed: str,
           host: Optional[str] = None) -> None:
    copy_into(container, ROOT, tar_archive(version_files(folder, version, files, sealed)), host=host)
    docker("exec", container, "sh", "-c", SWAP_SCRIPT, "functions-swap", f"{ROOT}/{folder}", version, host=host)


class ProjectFunctionsProvider(ConvergingProvider):
    """`sealed` is encrypted anew on each run (a fresh nonce), so it never counts as a change:
    `version` (files and manifest) does."""

    IGNORE = frozenset({"sealed"})
    REPLACE_ON = frozenset({"folder"})

    def resource_id(self, props: dict[str, Any]) -> str:
        return f"{props['container']}-{props['project']}-functions"

    def converge(self, props: dict[str, Any]) -> dict[str, Any]:
        deploy(props["container"], props["folder"], props["version"], function_files.decoded(props["files"]),
               props["sealed"], props.get("docker_host"))
        return props

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        docker("exec", props["container"], "rm", "-rf", f"{ROOT}/{props['folder']}", host=props.get("docker_host"))


class ProjectFunctions(Resource, module="supabase", name="ProjectFunctions"):
    def __init__(self, name: str, *, project: str, container: pulumi.Input[str], container_id: pulumi.Input[str],
                 folder: pulumi.Input[str], version: pulumi.Input[str], files: dict[str, str],
                 sealed: pulumi.Input[str], docker_host: Optional[str] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"project": project, "container": container, "container_id": container_id,
                 "folder": pulumi.Output.secret(folder), "version": version, "files": files,
                 "sealed": pulumi.Output.secret(sealed), **({"docker_host": docker_host} if docker_host else {})}
        super().__init__(ProjectFunctionsProvider(), name, props, opts)
