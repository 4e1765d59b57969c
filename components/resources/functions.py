"""features.functions: the edge runtime, serving functions from a kept volume that Studio also edits.

The main service (volumes/functions/main/index.ts) is uploaded with the container; user
functions live in the `functions-code` volume (components/resources/services.py), one folder each.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from components.core import functions_env, urls
from components.core.config import StackConfig
from components.resources.postgres import internal_url
from components.resources.secrets import StackSecrets
from components.resources.service import Mount, ServiceSpec, declare, named_volume
from components.core.options import after

MAIN = Path(__file__).resolve().parents[2] / "volumes" / "functions" / "main" / "index.ts"
MAIN_DIR = "/home/deno/main"
PROJECTS_DIR = "/home/deno/functions-projects"  # projects' functions (components/providers/project_functions.py)


@dataclass(frozen=True)
class FunctionsArgs:
    config: StackConfig
    network_name: pulumi.Input[str]
    secrets: StackSecrets
    code_volume: docker.Volume
    after: Sequence[pulumi.Resource] = ()


def edge_runtime(a: FunctionsArgs, cache: docker.Volume, projects: docker.Volume) -> ServiceSpec:
    s = a.secrets
    return ServiceSpec(
        name="functions", network_name=a.network_name,
        command=["start", "--main-service", MAIN_DIR],
        env={"SUPABASE_URL": "http://kong:8000", "SUPABASE_PUBLIC_URL": urls.api_url(a.config), "VERIFY_JWT": "false"},
        secret_env={"JWT_SECRET": s.jwt_secret, "SUPABASE_ANON_KEY": s.anon_key,
                    "SUPABASE_SERVICE_ROLE_KEY": s.service_role_key,
                    # the key the projects' folders and manifests derive from (components/core/functions_env.py)
                    "FUNCTIONS_PROJECTS_KEY": pulumi.Output.from_input(s.jwt_secret).apply(functions_env.master_key_text),
                    "SUPABASE_DB_URL": pulumi.Output.from_input(s.postgres_password).apply(
                        lambda pw: internal_url("postgresql", "postgres", pw))},
        mounts=[Mount("/home/deno/functions", volume=a.code_volume.name), Mount("/root/.cache/deno", volume=cache.name),
                Mount(PROJECTS_DIR, volume=projects.name)],
        uploads=[docker.ContainerUploadArgs(file=f"{MAIN_DIR}/index.ts", content=MAIN.read_text())],
    )


class EdgeFunctions(pulumi.ComponentResource):
    def __init__(self, name: str, args: FunctionsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:EdgeFunctions", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cache = named_volume(f"{name}-deno-cache", "deno-cache", child, keep=False)
        # Rebuilt from config by each project's deploy: not kept when the stack goes.
        projects = named_volume(f"{name}-projects", "functions-projects", child, keep=False)
        self.container = declare(edge_runtime(args, cache, projects), after(child, args.after))
        self.register_outputs({})
