"""The one Postgres every project lives in, and the admin connection the program uses.

The pulumi-postgresql provider and the SQL resources connect through the port published
on bindAddress, and only once the container reports healthy (`wait=True`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote

import pulumi
import pulumi_docker as docker
import pulumi_postgresql as postgresql

from components.sql_migrations import StackBootstrap

IMAGE = "supabase/postgres:15.8.1.085"
ADMIN_USER = "supabase_admin"
DATABASE = "postgres"


@dataclass(frozen=True)
class PostgresArgs:
    network_name: pulumi.Input[str]
    bind_address: str
    port: int
    password: pulumi.Input[str]
    jwt_secret: pulumi.Input[str]


def client_host(bind_address: str) -> str:
    """Where this program reaches a port published on bind_address."""
    return "127.0.0.1" if bind_address in ("0.0.0.0", "::") else bind_address


class Postgres(pulumi.ComponentResource):
    def __init__(self, name: str, args: PostgresArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:Postgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        image = docker.RemoteImage(f"{name}-image", name=IMAGE, keep_locally=True, opts=child)
        volume = docker.Volume(f"{name}-data", name=f"supabase-{pulumi.get_stack()}-db-data",
                               opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True)))
        self.container = docker.Container(
            name,
            name=f"supabase-{pulumi.get_stack()}-db",
            hostname="db",
            image=image.image_id,
            restart="unless-stopped",
            envs=pulumi.Output.secret(pulumi.Output.all(args.password, args.jwt_secret).apply(lambda v: [
                "POSTGRES_HOST=/var/run/postgresql", "PGPORT=5432", "POSTGRES_PORT=5432",
                f"PGPASSWORD={v[0]}", f"POSTGRES_PASSWORD={v[0]}", "PGDATABASE=postgres", "POSTGRES_DB=postgres",
                f"JWT_SECRET={v[1]}", "JWT_EXP=3600"])),
            command=["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "log_min_messages=fatal"],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"],
                interval="5s", timeout="5s", retries=10),
            wait=True,
            wait_timeout=300,
            ports=[docker.ContainerPortArgs(internal=5432, external=args.port, ip=args.bind_address)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name, aliases=["db"])],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/postgresql/data")],
            opts=child,
        )
        after_db = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.container]))
        host = client_host(args.bind_address)
        self.admin_dsn = pulumi.Output.secret(pulumi.Output.from_input(args.password).apply(
            lambda pw: f"postgresql://{ADMIN_USER}:{quote(pw, safe='')}@{host}:{args.port}/{DATABASE}?sslmode=disable"))
        self.provider = postgresql.Provider(
            f"{name}-provider", host=host, port=args.port, username=ADMIN_USER, password=args.password,
            database=DATABASE, sslmode="disable", superuser=True, opts=after_db)
        self.bootstrap = StackBootstrap(f"{name}-bootstrap", self.admin_dsn, opts=after_db)
        self.register_outputs({})
