"""UsageCollector: what each project uses, measured on the stack every minute.

A container of the stack's pinned Postgres image (for its psql) runs
`sql/stack/usage_query.sql.j2` in a loop and writes the JSON it returns into a volume the
dashboard's nginx serves read-only at `usage/usage.json`: the dashboard's own origin, so
the page needs no key and shows figures of the last minute, not of the last `pulumi up`.
It logs in as `supabase_usage`, a member of `supabase_usage_reader` (sql/bootstrap/0008),
which may execute `supabase_multi.usage()` and nothing else: counts and sizes, never a row.
It joins only the auth network (Postgres). Adding a project changes nothing here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker
import pulumi_postgresql as postgresql
import pulumi_random as random

from components.core.connection_budget import USAGE_LIMIT
from components.core.images import DB_IMAGE
from components.core.naming import DATABASE
from components.core.options import after
from components.core.sql_templates import SQL_ROOT, render
from components.resources.postgres import PORT, Postgres
from components.resources.service import Mount, ServiceSpec, declare, named_volume

ROLE = "supabase_usage"
READER_GROUP = "supabase_usage_reader"  # created by sql/bootstrap/0008_project_usage.sql.j2
USAGE_DIR = "/usage"
QUERY_FILE = "/etc/usage/usage.sql"
INTERVAL_S = 60
EXACT_ROWS = 100_000  # tables the planner estimates above this are not counted row by row
# Written beside the file and renamed over it, so nginx never serves half a document.
LOOP = (f'while :; do psql -X -q -A -t -v ON_ERROR_STOP=1 -f {QUERY_FILE} > {USAGE_DIR}/usage.json.tmp '
        f'&& chmod 644 {USAGE_DIR}/usage.json.tmp && mv {USAGE_DIR}/usage.json.tmp {USAGE_DIR}/usage.json; '
        'sleep "$USAGE_INTERVAL"; done')


def query() -> str:
    return render(SQL_ROOT / "stack" / "usage_query.sql.j2", exact_rows=EXACT_ROWS)


@dataclass(frozen=True)
class UsageArgs:
    auth_network_name: pulumi.Input[str]  # where Postgres is and nothing else of the stack
    database: Postgres


class UsageCollector(pulumi.ComponentResource):
    def __init__(self, name: str, args: UsageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:UsageCollector", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        role = postgresql.Role(ROLE, name=ROLE, login=True, password=password.result, connection_limit=USAGE_LIMIT,
                               roles=[READER_GROUP], opts=pulumi.ResourceOptions.merge(
                                   after(child, [args.database.bootstrap]),
                                   pulumi.ResourceOptions(provider=args.database.provider)))
        self.volume = named_volume(f"{name}-data", "usage", child, keep=False)  # measured again every minute
        self.container = declare(ServiceSpec(
            name="usage", image_key=DB_IMAGE[args.database.major], network_name=args.auth_network_name,
            env={"PGHOST": "db", "PGPORT": str(PORT), "PGDATABASE": DATABASE, "PGUSER": ROLE,
                 "PGAPPNAME": "supabase-usage", "USAGE_INTERVAL": str(INTERVAL_S)},
            secret_env={"PGPASSWORD": password.result},
            uploads=[docker.ContainerUploadArgs(file=QUERY_FILE, content=query())],
            mounts=[Mount(USAGE_DIR, volume=self.volume.name)],
            entrypoint=["/bin/sh", "-c"], command=[LOOP],
        ), after(child, [role]))
        self.register_outputs({})
