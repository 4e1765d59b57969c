"""supabase-js (pinned, Node 22 from npm) invokes a project's function as an app does, through the
gateway model (tests/kong_model.py, the rendered Kong config; tests/functions_gateway.py applies
the route's request-transformer) and the real main service under the stand-in runtime."""
from __future__ import annotations

import json
import os
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from components.providers.kong_config import render
from tests import http_relay
from tests._tools import require_file
from tests.functions_gateway import upstream_request
from tests.functions_stage import INSTALL, NODE, NPM, REPO, Runtime, stage
from tests.gateway_fixtures import project, settings

ECHO = """Deno.serve(async (req) => Response.json({ url: Deno.env.get('SUPABASE_URL'), body: await req.json(),
  secret: Deno.env.get('SHOP_TOKEN') ?? null, other: Deno.env.get('CRM_TOKEN') ?? null }))
"""


def gateway(kong: dict, runtime_port: int) -> ThreadingHTTPServer:
    """Kong on loopback, as the model says it routes: the route's upstream must be the edge runtime."""
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            service, path, headers = upstream_request(kong, self.path, dict(self.headers.items()))
            assert service["url"] == "http://functions:9000/", service["name"]
            body = self.rfile.read(int(self.headers.get("content-length") or 0)) or None
            headers.pop("host", None)
            http_relay.reply(self, *http_relay.forward(f"http://127.0.0.1:{runtime_port}{path}", self.command,
                                                       headers, body))

        do_GET = do_POST = _any

        def log_message(self, *_args) -> None:
            pass

    return http_relay.serve(Handler)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    node = require_file(NODE, INSTALL)
    base = tmp_path_factory.mktemp("client")
    (base / "volume").mkdir()
    for name in ("shop", "crm"):
        (base / name / "echo").mkdir(parents=True)
        (base / name / "echo" / "index.ts").write_text(ECHO)
    shop = stage(base / "volume", "shop", base / "shop", {}, {"SHOP_TOKEN": "s-token"})
    crm = stage(base / "volume", "crm", base / "crm", {}, {"CRM_TOKEN": "c-token"})
    runtime = Runtime(base / "volume", base / "deno-dir")
    kong = yaml.safe_load(render(settings(project("shop"), project("crm"), functions=True)))
    server = gateway(kong, runtime.port)
    yield node, f"http://127.0.0.1:{server.server_address[1]}", shop, crm
    server.shutdown()
    runtime.stop()


def invoke(node, url: str, key: str, name: str = "echo") -> dict:
    done = subprocess.run([str(node), str(REPO / "tests" / "edge_runtime" / "invoke.cjs"), url, key, name],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NODE_PATH": str(NPM)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_functions_invoke_reaches_the_projects_function_with_its_env(stack):
    node, base, shop, _crm = stack
    for key in (shop.keys.publishable_key, shop.keys.anon_jwt):
        answer = invoke(node, f"{base}/project/shop", key)
        assert answer["status"] == 200, answer
        assert answer["data"] == {"url": "http://kong:8000/project/shop", "body": {"from": "supabase-js"},
                                  "secret": "s-token", "other": None}


def test_another_projects_key_is_refused_on_this_projects_url(stack):
    node, base, shop, crm = stack
    for key in (crm.keys.publishable_key, crm.keys.anon_jwt):
        assert invoke(node, f"{base}/project/shop", key)["status"] == 401
    own = invoke(node, f"{base}/project/crm", crm.keys.publishable_key)["data"]
    assert own["url"].endswith("/project/crm") and own["other"] == "c-token" and own["secret"] is None
