"""The one Postgres every project lives in, and the admin connection the program uses.

The pulumi-postgresql provider and the SQL resources connect through the port published
on bindAddress, and only once the container reports healthy (`wait=True`, a TCP
`pg_isready`: the image's init runs on a socket-only server, so TCP answers only after it).
The upstream init SQL is rendered from volumes/db/ and uploaded where the official compose
mounts it; the uploads hold no secret (psql reads passwords from the container env).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import quote

import pulumi
import pulumi_docker as docker
import pulumi_postgresql as postgresql

from components.providers.database_passwords import DatabasePasswords, DatabasePasswordsArgs
from components.resources.service import Healthcheck, Mount, ServiceSpec, declare, named_volume, publish
from components.providers.sql_migrations import StackBootstrap
from components.core.sql_templates import render
from components.core.connection_budget import PROVIDER_POOL
from components.core.images import DB_IMAGE
from components.core.naming import DATABASE
from components.core.signing_keys import SigningKey
from components.core.options import after

ADMIN_USER = "supabase_admin"
INTERNAL_DATABASE = "_supabase"
PORT = 5432
JWT_EXP = 3600
VOLUMES = Path(__file__).resolve().parents[2] / "volumes" / "db"
INITDB = "/docker-entrypoint-initdb.d"
# template -> where the official compose mounts it (init-scripts run as postgres before the
# image's migrations; migrations/ run as supabase_admin). Logs and pooler are always there:
# init SQL only runs on an empty volume, so enabling a feature later must not need it again.
INIT_SQL = {
    "webhooks.sql.j2": f"{INITDB}/init-scripts/98-webhooks.sql",
    "roles.sql.j2": f"{INITDB}/init-scripts/99-roles.sql",
    "jwt.sql.j2": f"{INITDB}/init-scripts/99-jwt.sql",
    "_supabase.sql.j2": f"{INITDB}/migrations/97-_supabase.sql",
    "realtime.sql.j2": f"{INITDB}/migrations/99-realtime.sql",
    "logs.sql.j2": f"{INITDB}/migrations/99-logs.sql",
    "pooler.sql.j2": f"{INITDB}/migrations/99-pooler.sql",
}
# Roles the image creates that log in with the stack password (upstream roles.sql).
LOGIN_ROLES = ("supabase_admin", "authenticator", "pgbouncer", "supabase_auth_admin", "supabase_storage_admin")
API_ROLES = ("postgres", "anon", "authenticated", "service_role")


@dataclass(frozen=True)
class PostgresArgs:
    network_name: pulumi.Input[str]
    bind_address: str
    port: int
    reach_host: str  # where `pulumi` reaches the published port (urls.reach_host): the cell's address, or the bind's
    password: pulumi.Input[str]
    jwt_secret: pulumi.Input[str]
    auth_network_name: Optional[pulumi.Input[str]] = None  # the projects' GoTrues reach it there
    stack_key: Optional[pulumi.Output[SigningKey]] = None  # its public half is recorded for the services
    major: int = 17  # config postgresMajor: the image and the data volume of that PostgreSQL major
    extensions: Sequence[str] = ()  # config extensions: installed by the superuser in schema `extensions`
    max_connections: int = 1000  # config postgresMaxConnections (components/core/connection_budget.py)


def volumes_of(major: int) -> dict[str, str]:
    """Resource suffix -> volume suffix of the data and config volumes of `major`. 15 keeps the
    names stacks created before 17 have; a newer major gets volumes of its own, so switching
    majors never points a server at the other major's files (nor chowns the pgsodium key of the
    old image's postgres user: the two images' users differ), and the old volumes stay,
    protected, for a rollback (README, "Upgrading Postgres to a new major")."""
    tail = "" if major == 15 else f"-{major}"
    return {f"data{tail}": f"db-data{tail}", f"config{tail}": f"db-config{tail}"}


def init_sql_context(database: str = DATABASE, internal_database: str = INTERNAL_DATABASE) -> dict:
    return {"admin_role": ADMIN_USER, "database": database, "internal_database": internal_database,
            "login_roles": list(LOGIN_ROLES), "api_roles": list(API_ROLES)}


def render_init_sql(template: str, **overrides) -> str:
    return render(VOLUMES / template, **(init_sql_context() | overrides))


def init_sql_uploads() -> list[docker.ContainerUploadArgs]:
    return [docker.ContainerUploadArgs(file=path, content=render_init_sql(name), permissions="0644")
            for name, path in INIT_SQL.items()]


def db_spec(args: PostgresArgs, data: docker.Volume, config: docker.Volume) -> ServiceSpec:
    """The db service as upstream declares it: env names, command, mounts, healthcheck."""
    return ServiceSpec(
        name="db",
        image_key=DB_IMAGE[args.major],
        network_name=args.network_name,
        extra_networks=[args.auth_network_name] if args.auth_network_name is not None else [],
        env={"POSTGRES_HOST": "/var/run/postgresql", "PGPORT": str(PORT), "POSTGRES_PORT": str(PORT),
             "PGDATABASE": DATABASE, "POSTGRES_DB": DATABASE, "JWT_EXP": str(JWT_EXP)},
        secret_env={"PGPASSWORD": args.password, "POSTGRES_PASSWORD": args.password, "JWT_SECRET": args.jwt_secret},
        command=["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "log_min_messages=fatal",
                 "-c", f"max_connections={args.max_connections}"],
        healthcheck=Healthcheck(["CMD", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"], retries=10),
        wait=True,
        ports=[publish(PORT, args.port, args.bind_address)],
        mounts=[Mount("/var/lib/postgresql/data", volume=data.name),
                Mount("/etc/postgresql-custom", volume=config.name)],  # pgsodium root key
        uploads=init_sql_uploads(),
    )


class Postgres(pulumi.ComponentResource):
    def __init__(self, name: str, args: PostgresArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:Postgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.major = args.major
        (data_res, data_vol), (config_res, config_vol) = volumes_of(args.major).items()
        data = named_volume(f"{name}-{data_res}", data_vol, child, keep=True)
        config = named_volume(f"{name}-{config_res}", config_vol, child, keep=True)
        self.volumes = [data, config]
        self.container = declare(db_spec(args, data, config), child)
        host = args.reach_host
        # The live roles take postgresPassword first; everything that logs in waits for that.
        self.passwords = DatabasePasswords(f"{name}-passwords", DatabasePasswordsArgs(
            host=host, port=args.port, user=ADMIN_USER, database=DATABASE, internal_database=INTERNAL_DATABASE,
            password=args.password), opts=after(child, [self.container]))
        self.ready: pulumi.Resource = self.passwords
        after_db = after(child, [self.container, self.passwords])
        self.admin_dsn = pulumi.Output.secret(pulumi.Output.from_input(args.password).apply(
            lambda pw: f"postgresql://{ADMIN_USER}:{quote(pw, safe='')}@{host}:{args.port}/{DATABASE}?sslmode=disable"))
        self.provider = postgresql.Provider(
            f"{name}-provider", host=host, port=args.port, username=ADMIN_USER, password=args.password,
            database=DATABASE, sslmode="disable", superuser=True, max_connections=PROVIDER_POOL, opts=after_db)
        # PostgREST's and Realtime's verifying keys live in the database (sql/bootstrap/0005):
        # the legacy secret (the stack's legacy keys) and the stack GoTrue's public key.
        self.bootstrap = StackBootstrap(
            f"{name}-bootstrap", self.admin_dsn, opts=after_db, jwt_secret=args.jwt_secret, extensions=args.extensions,
            jwks=None if args.stack_key is None else pulumi.Output.unsecret(
                pulumi.Output.from_input(args.stack_key).apply(lambda k: [k.public_jwk()])))
        self.register_outputs({})


def internal_url(scheme: str, user: str, password: str, database: str = DATABASE) -> str:
    """A connection URL for a service on the stack network (host `db`), password quoted."""
    return f"{scheme}://{user}:{quote(password, safe='')}@db:{PORT}/{database}"
