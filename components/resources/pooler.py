"""features.pooler: Supavisor, a connection pooler in front of the stack's Postgres.

Transaction mode is published on bindAddress:6543 (upstream's POOLER_PROXY_PORT_TRANSACTION);
session mode stays on the database's own published port. The tenant id is the stack name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.core.config import POOLER_TRANSACTION_PORT
from components.resources.postgres import ADMIN_USER, DATABASE, INTERNAL_DATABASE, PORT, Postgres, internal_url
from components.resources.secrets import StackSecrets
from components.resources.service import Healthcheck, ServiceSpec, declare, publish
from components.core.options import after

SCRIPT = Path(__file__).resolve().parents[2] / "volumes" / "pooler" / "pooler.exs"
TRANSACTION_PORT = POOLER_TRANSACTION_PORT
START = '/app/bin/migrate && /app/bin/supavisor eval "$(cat /etc/pooler/pooler.exs)" && /app/bin/server'


@dataclass(frozen=True)
class PoolerArgs:
    network_name: pulumi.Input[str]
    bind_address: str
    secrets: StackSecrets
    database: Postgres


def supavisor(a: PoolerArgs, vault_key: pulumi.Input[str]) -> ServiceSpec:
    s = a.secrets
    return ServiceSpec(
        name="supavisor", network_name=a.network_name, aliases=["pooler"],
        env={"PORT": "4000", "POSTGRES_PORT": str(PORT), "POSTGRES_DB": DATABASE, "CLUSTER_POSTGRES": "true",
             "REGION": "local", "ERL_AFLAGS": "-proto_dist inet_tcp", "POOLER_TENANT_ID": pulumi.get_stack(),
             "POOLER_DEFAULT_POOL_SIZE": "20", "POOLER_MAX_CLIENT_CONN": "100", "POOLER_POOL_MODE": "transaction",
             "DB_POOL_SIZE": "5"},
        secret_env={"POSTGRES_PASSWORD": s.postgres_password,
                    "DATABASE_URL": pulumi.Output.from_input(s.postgres_password).apply(
                        lambda pw: internal_url("ecto", ADMIN_USER, pw, INTERNAL_DATABASE)),
                    "SECRET_KEY_BASE": s.secret_key_base, "VAULT_ENC_KEY": vault_key,
                    "API_JWT_SECRET": s.jwt_secret, "METRICS_JWT_SECRET": s.jwt_secret},
        ports=[publish(TRANSACTION_PORT, TRANSACTION_PORT, a.bind_address)],
        uploads=[docker.ContainerUploadArgs(file="/etc/pooler/pooler.exs", content=SCRIPT.read_text())],
        command=["/bin/sh", "-c", START],
        healthcheck=Healthcheck(["CMD", "curl", "-sSfL", "--head", "-o", "/dev/null", "http://127.0.0.1:4000/api/health"],
                                interval="10s", retries=5),
    )


class Pooler(pulumi.ComponentResource):
    def __init__(self, name: str, args: PoolerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:Pooler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vault_key = pulumi.Output.secret(random.RandomPassword(
            "supavisor-vault-key", length=32, special=False, opts=child).result)
        self.container = declare(supavisor(args, vault_key), after(child, [args.database.ready]))
        self.register_outputs({})
