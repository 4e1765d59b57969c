"""supabase-multi-instance: one self-hosted Supabase, one isolated project per config entry.

Config is validated before anything is declared; this file only wires components and
exports the outputs contract (the README's Outputs table; the design's reasons are in
docs/stack.md).
"""
import gc

import pulumi

from components.core import cell_digest, urls
from components.resources.analytics import Analytics, AnalyticsArgs
from components.resources.backup import BackupArgs, BackupService
from components.resources.cell_docker import cell_options
from components.core.config import load_config, namespace_warnings, raw_namespace_config, warnings
from components.resources.dashboard_site import DashboardSite, DashboardSiteArgs
from components.resources.functions import EdgeFunctions, FunctionsArgs
from components.resources.gateway import Gateway, GatewayArgs
from components.resources.network import StackNetwork
from components.resources.pooler import Pooler, PoolerArgs
from components.resources.postgres import Postgres, PostgresArgs
from components.resources.project import ProjectArgs, SupabaseProject
from components.resources.project_functions import ProjectEdgeFunctions, ProjectFunctionsArgs
from components.resources.secrets import SecretsArgs, StackSecrets
from components.resources.usage import UsageArgs, UsageCollector
from components.resources.services import ServicesArgs, SupabaseServices
from components.resources.services import project_status, status as stack_status

# The SDK keeps thousands of long-lived Outputs and futures alive; every full collection of
# Python's cyclic GC rescans them all, which is most of its superlinear cost at hundreds of
# projects (README, Performance). Freeze what the imports made and collect less often.
gc.freeze()
gc.set_threshold(50_000, 20, 100)

config = load_config()
for message in [*namespace_warnings(), *warnings(config)]:
    pulumi.log.warn(message)

# A cell's docker provider (config `cell`), inherited by every docker resource of the stack.
on_cell = cell_options(config)


def cell_opts(**extra) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(on_cell, pulumi.ResourceOptions(**extra))


secrets = StackSecrets("secrets", SecretsArgs(
    postgres_password=config.postgres_password,
    jwt_secret=config.jwt_secret,
    dashboard_password=config.dashboard_password,
))

# -- shared stack --
network = StackNetwork("network", opts=cell_opts())
database = Postgres("db", PostgresArgs(
    network_name=network.name,
    bind_address=config.bind_address,
    port=config.ports.postgres,
    reach_host=urls.reach_host(config),
    password=secrets.postgres_password,
    jwt_secret=secrets.jwt_secret,
    auth_network_name=network.auth_name,
    major=config.postgres_major,
    max_connections=config.postgres_max_connections,
    stack_key=secrets.stack_key,
    extensions=tuple(config.extensions),
), opts=cell_opts())
# Optional upstream services (features.*); when analytics is off nothing waits for it.
analytics = Analytics("analytics", AnalyticsArgs(network.name, secrets, database), opts=cell_opts()) if config.features.analytics else None
waits_for = [analytics.container] if analytics else []
api = SupabaseServices("services", ServicesArgs(
    config=config,
    network_name=network.name,
    secrets=secrets,
    database=database,
    logflare=analytics.access if analytics else None,
    after=waits_for,
), opts=cell_opts())
edge = None
if config.features.functions:
    # On the keyed network, not the stack's: projects' code runs there (docs/stack.md, "Edge Functions").
    edge = EdgeFunctions("functions", FunctionsArgs(config, network.auth_name, secrets, api.functions_volume,
                                             after=[*waits_for, database.ready]), opts=cell_opts())
if config.features.pooler:
    Pooler("pooler", PoolerArgs(network.name, config.bind_address, secrets, database), opts=cell_opts())
if config.backups.enabled:
    BackupService("backup", BackupArgs(config.backups, network.name, database, secrets.postgres_password),
                  opts=cell_opts())
services = stack_status(config)  # [{name, image, healthUrl}]

projects = {
    p.name: SupabaseProject(p.name, ProjectArgs(
        config=p,
        template_dir=config.template_path(p.template),
        dsn=database.admin_dsn,
        stack_key=secrets.stack_key,
        url=urls.project_url(config, p),
        network_name=network.auth_name,  # its GoTrue reaches Postgres only; Kong reaches it
        auth_image_id=api.auth_image_id,
        hostname=urls.project_hostname(config, p),
        services=[api.containers["storage"], api.containers["realtime"]],
        status=project_status(config, p.name, p.auth.mode),
        extensions=tuple(config.extensions),
    ), opts=cell_opts(provider=database.provider, depends_on=[database.bootstrap]))
    for p in config.projects
}

# Each project's own Edge Functions, copied live into the edge runtime (no container changes).
for p in config.projects:
    if p.functions is not None and edge is not None:
        c = projects[p.name].credentials
        ProjectEdgeFunctions(f"{p.name}-functions", ProjectFunctionsArgs(
            project=p.name, functions=p.functions, runtime=edge.container, stack_secret=secrets.jwt_secret,
            anon_key=c.anon_key, service_key=c.service_key, publishable_key=c.publishable_key,
            secret_key=c.secret_key, jwks=c.jwks, verifying_keys=c.verifying_keys, docker_host=config.docker_host,
        ), opts=pulumi.ResourceOptions(parent=projects[p.name]))

# -- gateway --
# Kong's container depends on stack settings only; every project's keys and hostname
# routes reach it through the gateway's config resource, pushed live (no restart).
gateway = Gateway("gateway", GatewayArgs(
    config=config,
    network_name=network.name,
    secrets=secrets,
    projects=[projects[p.name].gateway() for p in config.projects],
    after=waits_for,
    auth_network_name=network.auth_name,
), opts=cell_opts())

# -- dashboard --
public_outputs = {
    "stack": pulumi.get_stack(),
    "apiUrl": urls.api_url(config),
    "studioUrl": urls.studio_url(config),
    "dashboardUrl": urls.dashboard_url(config),
    "anonKey": secrets.anon_key,
    # Public keys of the stack's own GoTrue (Studio's users, `auth.mode: shared` projects).
    "stackJwks": pulumi.Output.unsecret(secrets.stack_key.apply(lambda k: {"keys": [k.public_jwk()]})),
    "projects": {name: p.info for name, p in projects.items()},
    "services": services,
    # Which cell of a multi-host deployment this stack is (config `cell`); `python -m cells`
    # joins the cells' outputs into one dashboard.
    **({"cell": {"name": config.cell.name, "address": config.cell.address, "dockerHost": config.docker_host,
                 "maxProjects": config.cell.max_projects}} if config.cell else {}),
}
usage = UsageCollector("usage", UsageArgs(auth_network_name=network.auth_name, database=database), opts=cell_opts())
DashboardSite("dashboard", DashboardSiteArgs(network_name=network.name, public_outputs=public_outputs,
                                             auth_network_name=network.auth_name, usage_volume=usage.volume.name,
                                             docker_host=config.docker_host), opts=cell_opts())

# -- public access --
# Published only with `domain` and `cloudflare` in config; otherwise the stack stays local
# and not one Cloudflare resource is declared. Ingress goes to Kong on the stack network.
if config.published:
    from components.resources.tunnel import PublicAccess, PublicAccessArgs

    PublicAccess("public", PublicAccessArgs(config=config, network_name=network.name), opts=cell_opts())

for key, value in public_outputs.items():
    pulumi.export(key, value)
pulumi.export("serviceRoleKey", secrets.service_role_key)
pulumi.export("dashboardPassword", secrets.dashboard_password)  # basic-auth of Studio and the dashboard
pulumi.export("databaseUrl", database.admin_dsn)  # for `python -m backup` on the host; secret
pulumi.export("projectServiceKeys", pulumi.Output.secret({name: p.service_key for name, p in projects.items()}))
if config.cell:  # what `python -m cells up --changed` compares (components/core/cell_digest.py)
    pulumi.export("cellDigest", pulumi.Output.secret(cell_digest.digest(raw_namespace_config())))
pulumi.export("projectSecretKeys", pulumi.Output.secret({name: p.secret_key for name, p in projects.items()}))
# What moving a project to another cell copies into that cell's projects[].keys.seeds (docs/cells.md).
pulumi.export("projectKeySeeds", pulumi.Output.secret({name: p.credentials.seeds for name, p in projects.items()}))
