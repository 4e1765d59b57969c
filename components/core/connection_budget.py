"""How many Postgres connections the stack may open at most, against its `max_connections`.

Every service that talks to the one Postgres has a pool with a ceiling. An idle project
GoTrue holds none (its idle connections are given back after GOTRUE_DB_CONN_MAX_IDLE_TIME),
but after a host reboot every GoTrue starts at once, and under load each fills its pool:
if the ceilings add up to more than `max_connections`, the last to ask (a project's sign-in,
PostgREST's next request) is refused with "too many clients already". So the sum of the
ceilings must fit, and the config check (components/core/config/checks.py) refuses a stack
whose projects do not, naming the numbers.

`max_connections` is the db container's start argument: changing it restarts Postgres. It
is therefore a stack setting (`postgresMaxConnections`) rather than a figure derived from the
project count, so that adding a project never restarts a shared container.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.core.config import StackConfig

# Pools this program sets (the containers' env), so each ceiling is ours and not a default.
PROJECT_AUTH_POOL = 5   # GOTRUE_DB_MAX_POOL_SIZE of each project's GoTrue (components/resources/gotrue.py)
STACK_AUTH_POOL = 10    # the same for the stack's GoTrue; unset, GoTrue's pool has no ceiling
REST_POOL = 10          # PGRST_DB_POOL (PostgREST's db-pool)
PROVIDER_POOL = 4       # the pulumi-postgresql provider's maxConnections during `pulumi up`
USAGE_LIMIT = 2         # CONNECTION LIMIT of the usage collector's role (components/resources/usage.py)


@dataclass(frozen=True)
class Use:
    """One claimant on the connections: who, how many at most, and where that figure comes from."""

    who: str
    connections: int
    source: str


def shared_uses(config: "StackConfig") -> list[Use]:
    uses = [
        Use("superuser reserve", 3, "PostgreSQL's superuser_reserved_connections default"),
        Use("rest", REST_POOL, "PGRST_DB_POOL, set here"),
        Use("auth (the stack's GoTrue)", STACK_AUTH_POOL, "GOTRUE_DB_MAX_POOL_SIZE, set here"),
        Use("storage", 20, "DATABASE_MAX_CONNECTIONS default, supabase/storage src/config.ts"),
        Use("realtime", 10, "DB_POOL_SIZE 5 (supabase/realtime config/runtime.exs) and its tenant's "
                            "replication and subscription connections"),
        Use("meta and studio", 5, "pg-meta opens a pool of one per request; Studio's concurrent requests"),
        Use("usage", USAGE_LIMIT, "the supabase_usage role's CONNECTION LIMIT"),
        Use("pulumi up", PROVIDER_POOL + 10, "the postgresql provider's maxConnections, set here, and the "
                                             "SQL steps the engine runs in parallel"),
    ]
    if config.backups.enabled:
        uses.append(Use("backup", 2, "one pg_dump at a time, and its check"))
    if config.features.pooler:
        uses.append(Use("supavisor", 25, "DB_POOL_SIZE 5 and POOLER_DEFAULT_POOL_SIZE 20, set here"))
    if config.features.analytics:
        uses.append(Use("analytics", 10, "Logflare's Postgres backend pool"))
    return uses


def project_uses(config: "StackConfig") -> list[Use]:
    own = [p for p in config.projects if p.auth.mode == "own"]
    if not own:
        return []
    return [Use(f"{len(own)} project GoTrues", len(own) * PROJECT_AUTH_POOL,
                f"GOTRUE_DB_MAX_POOL_SIZE {PROJECT_AUTH_POOL} each, set here")]


def needed(config: "StackConfig") -> int:
    return sum(u.connections for u in shared_uses(config) + project_uses(config))


def problems(config: "StackConfig") -> list[str]:
    """A line naming the numbers when the ceilings do not fit `postgresMaxConnections`."""
    total, limit = needed(config), config.postgres_max_connections
    if total <= limit:
        return []
    parts = ", ".join(f"{u.who} {u.connections}" for u in shared_uses(config) + project_uses(config))
    return [f"postgresMaxConnections: {limit} is fewer than the {total} connections the stack's pools may "
            f"open ({parts}); set postgresMaxConnections to at least {total} (Postgres restarts once), or run "
            "fewer projects with their own users (auth.mode: shared uses the stack's GoTrue)"]
