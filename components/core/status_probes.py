"""What the status page checks: one health endpoint per service, asked on the stack network.

The dashboard's nginx answers `/status/<service>` by asking the service itself
(volumes/dashboard/default.conf.j2). The page and its checks share one origin (the
dashboard, behind basic-auth or Access), so the browser sees each real status code: a 502
is DOWN, never an opaque "answered". No key is needed or sent: these endpoints are the
ones the upstream containers' own healthchecks use, and nginx forwards no header of the
person looking at the page.

Sources (pinned versions of components/core/images.py):
- auth, storage, studio, analytics, vector, supavisor: the healthchecks of supabase/supabase
  docker/docker-compose.yml (the same as components/resources/services.py and its tests)
- rest: PostgREST v14.5 answers HEAD on its root (src/PostgREST/ApiRequest.hs, ActSchemaRead
  headers only): 200 once its schema cache is loaded, 503 without the database
- realtime: v2.78.15 `GET /healthcheck` (lib/realtime_web/router.ex, PageController)
- imgproxy: v3.30.1 `GET /health` (router/router.go) on IMGPROXY_BIND :5001
- meta: postgres-meta v0.95.2 `GET /health` (src/server/app.ts)
- kong: this program's `gateway-health` route (templates/kong.yml.j2), answered by Kong itself
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    url: str  # on the stack network: compose service name and internal port
    method: str = "GET"


PROBES: dict[str, Probe] = {
    "kong": Probe("http://kong:8000/gateway/health"),
    "auth": Probe("http://auth:9999/health"),
    "rest": Probe("http://rest:3000/", method="HEAD"),
    "realtime": Probe("http://realtime:4000/healthcheck"),
    "storage": Probe("http://storage:5000/status"),
    "imgproxy": Probe("http://imgproxy:5001/health"),
    "meta": Probe("http://meta:8080/health"),
    "studio": Probe("http://studio:3000/api/platform/profile"),
    "analytics": Probe("http://analytics:4000/health"),
    "vector": Probe("http://vector:9001/health"),
    "supavisor": Probe("http://supavisor:4000/api/health", method="HEAD"),
}
STATUS_PATH = "status/"  # under the dashboard's URL
# A project's own GoTrue, `auth-<label>` on the auth network (components/resources/project_auth.py
# service_name): nginx asks `http://auth-<label>:9999/health` for `/status/project/<label>`.
# One regex location for every project, so adding a project never changes nginx's config.
PROJECT_STATUS_PATH = "status/project/"
PROJECT_PROBE_PORT = 9999  # GoTrue's API port; /health is its own healthcheck (gotrue.healthcheck)
PROJECT_LABEL_RE = "[a-z][a-z0-9-]{0,39}"  # a project name with `_` as `-`
SELF_PATH = "healthz"  # the dashboard's nginx itself
