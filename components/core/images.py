"""Every container image of the stack, pinned to the exact tag the official self-hosting stack uses.

One table, so an upgrade is one reviewed diff. Tags come from supabase/supabase
`docker/docker-compose.yml` at UPSTREAM_COMMIT; never `latest`, which would change what a
later `pulumi up` runs without any change in this repository. `python -m components.core.image_check`
compares this table with an upstream compose file (README, "Upgrading").
"""
from __future__ import annotations

from dataclasses import dataclass

UPSTREAM_REPO = "supabase/supabase"
UPSTREAM_COMMIT = "00069a4c6fe35a6db32b91015dad24f2fe161302"
UPSTREAM_COMPOSE = f"https://github.com/{UPSTREAM_REPO}/blob/{UPSTREAM_COMMIT}/docker/docker-compose.yml"

# service name (the compose service / network alias) -> image:tag
IMAGES: dict[str, str] = {
    "db": "supabase/postgres:15.8.1.085",  # PostgreSQL 15: stacks that have not upgraded (postgresMajor: 15)
    "kong": "kong/kong:3.9.3",  # upstream's Kong override, not its compose file: see OVERRIDE_PINS
    "auth": "supabase/gotrue:v2.186.0",
    "rest": "postgrest/postgrest:v14.5",
    "realtime": "supabase/realtime:v2.78.15",
    "storage": "supabase/storage-api:v1.44.2",
    "imgproxy": "darthsim/imgproxy:v3.30.1",
    "meta": "supabase/postgres-meta:v0.95.2",
    "studio": "supabase/studio:2026.02.16-sha-26c615c",
    "functions": "supabase/edge-runtime:v1.70.3",
    "analytics": "supabase/logflare:1.31.2",
    "vector": "timberio/vector:0.53.0-alpine",
    "supavisor": "supabase/supavisor:2.7.4",
    # Upstream's Postgres 17 override (OVERRIDE_PINS): the db of new stacks (postgresMajor: 17, the default).
    "db-17": "supabase/postgres:17.6.1.084",
    # Not in the upstream compose: this program's own services.
    "dashboard": "nginx:1.30.6-alpine",  # serves the generated dashboard; nginx's stable line
    # Base of the backup service's image (backup/Dockerfile): Debian 12 ships postgresql-client-15,
    # the db image's major version, and the Python packages the backup tool needs.
    "backup-base": "debian:12.13-slim",
    # The backup image's base for a PostgreSQL 17 stack: Debian 13 ships postgresql-client-17.
    "backup-base-17": "debian:13.5-slim",
}
# Pins that follow one of upstream's override files instead of docker-compose.yml: the pin here ->
# the file, the commit it was read at, and the service it sets there. image_check compares such a
# pin with that file's image (given on its command line, or recorded in the stored list), never
# with the compose file's service of the same name. Kong: the compose file at UPSTREAM_COMMIT
# still runs kong:2.8.1 (2022, frozen); docker/docker-compose.kong.yml runs Kong's own 3.9.3
# build (docs/stack.md, "Why Kong 3.9"). db-17: the db of postgresMajor 17 stacks; the 15 pin
# above is also upstream's docker-compose.pg15.yml (commit 44a06d351dc5, "the rollback target
# for utils/upgrade-pg17.sh").
@dataclass(frozen=True)
class OverridePin:
    path: str  # in supabase/supabase
    commit: str
    service: str  # the service of that file whose image this pin is


OVERRIDE_PINS: dict[str, OverridePin] = {
    "kong": OverridePin("docker/docker-compose.kong.yml", "1fdecb95a017ef139e09c5bb7cc7c30c1639c85e", "api-gw"),
    "db-17": OverridePin("docker/docker-compose.pg17.yml", "22d28badeaf4cbaf0be4e3b814c34c42fe32d7ed", "db"),
}
OWN_SERVICES = frozenset({"dashboard", "backup-base", "backup-base-17"})  # pinned here, absent from upstream's compose by design
# postgresMajor -> the db image and the backup image's base of that major.
DB_IMAGE = {15: "db", 17: "db-17"}
BACKUP_BASE = {15: "backup-base", 17: "backup-base-17"}
POSTGRES_MAJORS = tuple(DB_IMAGE)


def image(service: str) -> str:
    """The pinned reference of `service`; refuses an unpinned or digest-less table entry."""
    ref = IMAGES[service]
    _, _, tag = ref.rpartition(":")
    if "/" in tag or not tag or tag == "latest":
        raise ValueError(f"{service}: image {ref!r} must carry an explicit version tag")
    return ref
