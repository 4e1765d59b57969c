"""features.analytics: Logflare (analytics) and Vector, so Studio's log pages work.

Off by default: the stack works without them, and nothing else waits for them then. When
on, the services that upstream starts after a healthy `analytics` do the same here.
Vector reads the Docker socket (as upstream), so it sees every container on the host.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.resources.postgres import ADMIN_USER, INTERNAL_DATABASE, PORT, Postgres, internal_url
from components.resources.secrets import StackSecrets
from components.resources.service import Healthcheck, Mount, ServiceSpec, container_name, declare
from components.resources.services import LogflareAccess
from components.core.sql_templates import render
from components.core.options import after

URL = "http://analytics:4000"
VECTOR_CONFIG = Path(__file__).resolve().parents[2] / "volumes" / "logs" / "vector.yml.j2"
DOCKER_SOCKET = "/var/run/docker.sock"
# Vector route -> Logflare source (upstream vector.yml); kong has two parsers.
SINKS = {
    "auth": (["auth_logs"], "gotrue.logs.prod"),
    "realtime": (["realtime_logs"], "realtime.logs.prod"),
    "rest": (["rest_logs"], "postgREST.logs.prod"),
    "db": (["db_logs"], "postgres.logs"),
    "functions": (["functions_logs"], "deno-relay-logs"),
    "storage": (["storage_logs"], "storage.logs.prod.2"),
    "kong": (["kong_logs", "kong_err"], "cloudflare.logs.prod"),
}


@dataclass(frozen=True)
class AnalyticsArgs:
    network_name: pulumi.Input[str]
    secrets: StackSecrets
    database: Postgres


def vector_config() -> str:
    return render(VECTOR_CONFIG, vector_container=container_name("vector"), analytics_url=URL, sinks=SINKS,
                  containers={service: container_name(service) for service in SINKS})


def logflare(a: AnalyticsArgs, public: pulumi.Input[str], private: pulumi.Input[str]) -> ServiceSpec:
    pw = a.secrets.postgres_password
    return ServiceSpec(
        name="analytics", network_name=a.network_name,
        env={"LOGFLARE_NODE_HOST": "127.0.0.1", "DB_USERNAME": ADMIN_USER, "DB_DATABASE": INTERNAL_DATABASE,
             "DB_HOSTNAME": "db", "DB_PORT": str(PORT), "DB_SCHEMA": "_analytics", "LOGFLARE_SINGLE_TENANT": "true",
             "LOGFLARE_SUPABASE_MODE": "true", "POSTGRES_BACKEND_SCHEMA": "_analytics",
             "LOGFLARE_FEATURE_FLAG_OVERRIDE": "multibackend=true"},
        secret_env={"DB_PASSWORD": pw, "LOGFLARE_PUBLIC_ACCESS_TOKEN": public, "LOGFLARE_PRIVATE_ACCESS_TOKEN": private,
                    "POSTGRES_BACKEND_URL": pulumi.Output.from_input(pw).apply(
                        lambda p: internal_url("postgresql", ADMIN_USER, p, INTERNAL_DATABASE))},
        healthcheck=Healthcheck(["CMD", "curl", "http://localhost:4000/health"], retries=10),
        wait=True,
    )


def vector(a: AnalyticsArgs, public: pulumi.Input[str]) -> ServiceSpec:
    return ServiceSpec(
        name="vector", network_name=a.network_name, command=["--config", "/etc/vector/vector.yml"],
        secret_env={"LOGFLARE_PUBLIC_ACCESS_TOKEN": public},
        uploads=[docker.ContainerUploadArgs(file="/etc/vector/vector.yml", content=vector_config())],
        mounts=[Mount(DOCKER_SOCKET, host_path=DOCKER_SOCKET, read_only=True)],
        security_opts=["label=disable"],
        healthcheck=Healthcheck(["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://vector:9001/health"]),
    )


class Analytics(pulumi.ComponentResource):
    def __init__(self, name: str, args: AnalyticsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:Analytics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        public, private = (pulumi.Output.secret(random.RandomPassword(
            f"logflare-{kind}-token", length=48, special=False, opts=child).result) for kind in ("public", "private"))
        after_db = after(child, [args.database.ready])
        self.container = declare(logflare(args, public, private), after_db)
        self.vector = declare(vector(args, public), after(child, [self.container]))
        self.access = LogflareAccess(URL, public, private)
        self.register_outputs({})
