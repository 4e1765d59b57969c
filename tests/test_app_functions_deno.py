"""An imported app's own function, run for real: Supabase's examples/edge-functions `restful-tasks`
(tests/fixtures/apps/supabase_edge_functions), its FunctionsConfig made by parse_config from the
app's folder, staged as the deploy stages it (tests/functions_stage.py), served by the real main
service (volumes/functions/main/index.ts) under the stand-in runtime with Deno from .tools/npm, and
called by supabase-js (Node) on the project's URL through the gateway model (tests/kong_model.py,
the rendered Kong config).

The function itself calls back: `createClient(SUPABASE_URL, SUPABASE_ANON_KEY, {Authorization})`,
then `from('tasks').select('*')`. That request reaches the same loopback gateway, which records it
and answers as PostgREST answers a table with no row visible (`[]`): what is under test is the
function's env (its project's URL and key), not the REST path to PostgreSQL, which the SQL tests
cover. The app's migration PostgreSQL cannot parse is left out (tests/test_app_import_functions.py
asserts its refusal)."""
from __future__ import annotations

import json
import os
import subprocess
from http.server import BaseHTTPRequestHandler

import pytest
import yaml

from components.core.config import parse_config
from components.providers.kong_config import render
from tests import apps, http_relay
from tests.functions_gateway import upstream_request
from tests.functions_stage import INSTALL, NODE, NPM, REPO, Runtime, stage
from tests.gateway_fixtures import project, settings
from tests.kong_model import match
from tests._tools import require_file

FUNCTIONS_UPSTREAM = "http://functions:9000/"


def invoke(node, url: str, key: str, name: str, method: str) -> dict:
    """supabase-js's functions.invoke, as the app's client calls it (tests/edge_runtime/invoke.cjs)."""
    done = subprocess.run([str(node), str(REPO / "tests" / "edge_runtime" / "invoke.cjs"), url, key, name, method],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "NODE_PATH": str(NPM)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Gateway:
    """Kong on loopback as the model routes: functions routes go to the edge runtime; any other
    route (the function's own call to its project's REST API) is recorded and answered `[]`."""

    def __init__(self, kong: dict, runtime_port: int):
        self.calls: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)) or None
                service, _route = match(kong, self.path.split("?")[0], "127.0.0.1", self.command)
                if service["url"] == FUNCTIONS_UPSTREAM:
                    status, data, kind = gateway.forward(kong, runtime_port, self, body)
                else:
                    gateway.calls.append({"service": service["name"], "path": self.path,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
                    status, data, kind = 200, b"[]", "application/json"
                http_relay.reply(self, status, data, kind)

            do_GET = do_POST = _any

            def log_message(self, *_args) -> None:
                pass

        self.server = http_relay.serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def forward(kong: dict, runtime_port: int, handler: BaseHTTPRequestHandler, body) -> tuple[int, bytes, str]:
        _service, path, headers = upstream_request(kong, handler.path, dict(handler.headers.items()))
        headers.pop("host", None)
        return http_relay.forward(f"http://127.0.0.1:{runtime_port}{path}", handler.command, headers, body)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    node = require_file(NODE, INSTALL)
    base = tmp_path_factory.mktemp("app-functions")
    app = apps.deployable(apps.EDGE_FUNCTIONS, base, (apps.EDGE_FUNCTIONS_UNPARSABLE,))
    config = parse_config({"features": {"functions": True},
                           "projects": [{"name": "tasks", "supabaseDir": str(app)},
                                        {"name": "crm", "supabaseDir": str(app)}]},
                          frozenset({"postgresPassword", "jwtSecret", "dashboardPassword"}))
    (base / "volume").mkdir()
    runtime = Runtime(base / "volume", base / "deno-dir", packages=True)
    try:
        kong = yaml.safe_load(render(settings(project("tasks"), project("crm"), functions=True)))
        gateway = Gateway(kong, runtime.port)
        try:
            staged = {p.name: stage(base / "volume", p.name, p.functions.dir, p.functions.verify_jwt, {},
                                    url=f"{gateway.url}/project/{p.name}") for p in config.projects}
            yield node, gateway, staged, config
        finally:
            gateway.server.shutdown()
    finally:
        runtime.stop()


def test_the_apps_function_answers_on_its_project_url_calling_back_with_its_projects_env(world):
    node, gateway, staged, config = world
    tasks = staged["tasks"]
    assert config.projects[0].functions.verifies("restful-tasks")  # config.toml sets no verify_jwt: true
    answer = invoke(node, f"{gateway.url}/project/tasks", tasks.keys.publishable_key, "restful-tasks", "GET")
    assert answer == {"data": {"tasks": []}, "status": 200}, answer
    (call,) = gateway.calls
    # SUPABASE_URL is the project's URL and SUPABASE_ANON_KEY its anon key; the caller's key reached
    # the function as the project's anon token (the main service maps a publishable key to it).
    assert call["path"] == "/project/tasks/rest/v1/tasks?select=*"
    assert call["headers"]["apikey"] == tasks.keys.anon_jwt
    assert call["headers"]["authorization"] == f"Bearer {tasks.keys.anon_jwt}"


def test_another_projects_keys_are_refused_before_the_function_runs(world):
    node, gateway, staged, _config = world
    before = len(gateway.calls)
    for key in (staged["crm"].keys.publishable_key, staged["crm"].keys.anon_jwt):
        assert invoke(node, f"{gateway.url}/project/tasks", key, "restful-tasks", "GET")["status"] == 401
    assert len(gateway.calls) == before  # the function never ran


def test_the_same_app_as_another_project_calls_back_with_that_projects_env(world):
    node, gateway, staged, _config = world
    crm = staged["crm"]
    answer = invoke(node, f"{gateway.url}/project/crm", crm.keys.anon_jwt, "restful-tasks", "GET")
    assert answer["status"] == 200, answer
    call = gateway.calls[-1]
    assert call["path"].startswith("/project/crm/rest/v1/tasks") and call["headers"]["apikey"] == crm.keys.anon_jwt
    assert json.dumps(call).count(staged["tasks"].keys.anon_jwt) == 0
