"""supabase-multi-instance: one self-hosted Supabase, one isolated project per config entry.

Config is validated before anything is declared; this file only wires components and
exports the outputs contract of DESIGN.md.
"""
import pulumi

from components import urls
from components.config import load_config, warnings
from components.dashboard_site import IMAGE as DASHBOARD_IMAGE
from components.dashboard_site import DashboardSite, DashboardSiteArgs
from components.network import StackNetwork
from components.postgres import Postgres, PostgresArgs
from components.project import ProjectArgs, SupabaseProject
from components.secrets import SecretsArgs, StackSecrets

config = load_config()
for message in warnings(config):
    pulumi.log.warn(message)

secrets = StackSecrets("secrets", SecretsArgs(
    postgres_password=config.postgres_password,
    jwt_secret=config.jwt_secret,
    dashboard_password=config.dashboard_password,
))

# --- shared stack -------------------------------------------------------------------
network = StackNetwork("network")
database = Postgres("db", PostgresArgs(
    network_name=network.name,
    bind_address=config.bind_address,
    port=config.ports.postgres,
    password=secrets.postgres_password,
    jwt_secret=secrets.jwt_secret,
))
services = []  # [{name, image, healthUrl}]
# --- end shared stack ---------------------------------------------------------------

projects = {
    p.name: SupabaseProject(p.name, ProjectArgs(
        config=p,
        template_dir=config.template_path(p.template),
        dsn=database.admin_dsn,
        jwt_secret=secrets.jwt_secret,
        rest_url=urls.project_rest_url(config, p),
        hostname=urls.project_hostname(config, p),
    ), opts=pulumi.ResourceOptions(provider=database.provider, depends_on=[database.bootstrap]))
    for p in config.projects
}

# --- dashboard ----------------------------------------------------------------------
services.append({"name": "dashboard", "image": DASHBOARD_IMAGE, "healthUrl": f"{urls.dashboard_url(config)}healthz"})
public_outputs = {
    "stack": pulumi.get_stack(),
    "apiUrl": urls.api_url(config),
    "studioUrl": urls.studio_url(config),
    "dashboardUrl": urls.dashboard_url(config),
    "anonKey": secrets.anon_key,
    "projects": {name: p.info for name, p in projects.items()},
    "services": services,
}
DashboardSite("dashboard", DashboardSiteArgs(network_name=network.name, public_outputs=public_outputs))
# --- end dashboard ------------------------------------------------------------------

# --- public access ------------------------------------------------------------------
# Published only with `domain` and `cloudflare` in config; otherwise the stack stays local
# and not one Cloudflare resource is declared. Ingress goes to Kong on the stack network.
if config.published:
    from components.tunnel import PublicAccess, PublicAccessArgs

    PublicAccess("public", PublicAccessArgs(config=config, network_name=network.name))
# --- end public access --------------------------------------------------------------

for key, value in public_outputs.items():
    pulumi.export(key, value)
pulumi.export("serviceRoleKey", secrets.service_role_key)
pulumi.export("projectServiceKeys", pulumi.Output.secret({name: p.service_key for name, p in projects.items()}))
