"""A project's Edge Functions (`projects[].functions`): its files and sealed manifest, deployed into
the stack's edge runtime by components/providers/project_functions.py.

Everything here is computed inside outputs from the project's keys and the stack's secret
(components/core/functions_env.py); the files are read at preview, so a changed function
shows as an update of this one resource. No container input depends on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.core import function_files, functions_env, urls
from components.core.config import FunctionsConfig
from components.providers.project_functions import ProjectFunctions

INTERNAL_KONG = "http://kong:8000"  # functions reach the project's API through Kong (on the auth network with them)


@dataclass(frozen=True)
class ProjectFunctionsArgs:
    project: str
    functions: FunctionsConfig
    runtime: docker.Container  # the stack's edge runtime (components/resources/functions.py)
    stack_secret: pulumi.Input[str]
    anon_key: pulumi.Input[str]
    service_key: pulumi.Input[str]
    publishable_key: pulumi.Input[str]
    secret_key: pulumi.Input[str]
    jwks: pulumi.Input[list]
    verifying_keys: pulumi.Input[list]
    docker_host: Optional[str] = None  # a cell's daemon (components/core/config/cell.py)


def internal_url(project: str) -> str:
    """SUPABASE_URL of the project's functions: its URL as Kong serves it inside the stack."""
    return f"{INTERNAL_KONG}{urls.project_path(project)}"


class ProjectEdgeFunctions(pulumi.ComponentResource):
    def __init__(self, name: str, args: ProjectFunctionsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:ProjectEdgeFunctions", name, None, opts)
        f, p = args.functions, args.project
        files = function_files.collect(f.dir, left_out=f.disabled)
        files_digest = function_files.digest(files)
        secrets = {k: v.get_secret_value() for k, v in f.secrets.items()}

        def build(v: list) -> dict:
            stack_secret, anon, service, publishable, secret_key, jwks, verifying = v
            master = functions_env.master_key(stack_secret)
            env = functions_env.worker_env(internal_url(p), anon, service, publishable, secret_key, jwks, secrets)
            content = functions_env.manifest(p, f.names, f.verify_jwt, env, verifying, anon, service, publishable,
                                             secret_key)
            return {"folder": functions_env.folder(master, p),
                    "version": functions_env.content_digest(files_digest, content),
                    "sealed": functions_env.seal(functions_env.env_key(master, p), p, content)}

        built = pulumi.Output.all(args.stack_secret, args.anon_key, args.service_key, args.publishable_key,
                                  args.secret_key, args.jwks, args.verifying_keys).apply(build)
        self.deploy = ProjectFunctions(
            f"{name}-deploy", project=p, container=args.runtime.name, container_id=args.runtime.id,
            folder=built.apply(lambda b: b["folder"]),
            version=pulumi.Output.unsecret(built.apply(lambda b: b["version"])),
            files=function_files.encoded(files), sealed=built.apply(lambda b: b["sealed"]),
            docker_host=args.docker_host, opts=pulumi.ResourceOptions(parent=self, depends_on=[args.runtime]))
        self.register_outputs({})
