"""The dashboard served inside the stack: nginx on the stack network, pages copied in place."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.resources.dashboard_site import IMAGE, NGINX_CONF, WEB_ROOT, SiteContentProvider, nginx_conf
from components.core.sql_templates import render
from components.core.status_probes import PROBES, Probe
from tests._tools import require_executable, free_port
from components.core.images import image
from tests.program import dev_config, run_program

IMAGE_AUTH = image("auth")

FIXTURE = Path(__file__).parent / "fixtures" / "outputs-3-projects.json"
CONTENT = "pulumi-python:dynamic/supabase:DashboardContent"


def dashboard_container(run):
    return next(r for r in run.of_type("docker:index/container:Container") if r.name == "dashboard")


def test_dashboard_container_is_pinned_private_and_on_the_network():
    run = run_program()
    container = dashboard_container(run)
    (image,) = [r for r in run.of_type("docker:index/remoteImage:RemoteImage") if r.name == "dashboard-image"]
    assert image.inputs["name"] == IMAGE and not IMAGE.endswith(":latest")
    assert not container.inputs.get("ports")
    assert container.inputs["networksAdvanced"][0]["aliases"] == ["dashboard"]
    assert container.inputs["restart"] == "unless-stopped" and container.inputs["healthcheck"]["tests"]


def test_a_project_change_reuploads_pages_without_touching_the_container():
    config = dev_config()
    two = run_program(config)
    config["supabase-multi-instance:projects"] = config["supabase-multi-instance:projects"] + [{"name": "crm"}]
    three = run_program(config)
    assert dashboard_container(two).inputs == dashboard_container(three).inputs
    (before,), (after,) = two.of_type(CONTENT), three.of_type(CONTENT)
    assert set(after.inputs["outputs"]["projects"]) - set(before.inputs["outputs"]["projects"]) == {"crm"}


def test_site_content_never_carries_a_secret_output():
    run = run_program()
    (content,) = run.of_type(CONTENT)
    text = json.dumps(content.inputs["outputs"])
    assert run.outputs["serviceRoleKey"] not in text
    assert all(key not in text for key in run.outputs["projectServiceKeys"].values())


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """A docker CLI stand-in that applies `exec rm` and `cp -` to a folder standing for the container."""
    root = tmp_path / "container"
    (root / WEB_ROOT.strip("/") / "projects").mkdir(parents=True)
    (root / WEB_ROOT.strip("/") / "projects" / "gone.html").write_text("stale")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"""#!{shutil.which('bash')}
set -e
echo "$@" >> {tmp_path}/calls
case "$1" in
  exec) shift 2; [ "$1" = rm ] && rm -rf "{root}${{@: -1}}" ;;
  cp) dest="{root}${{3#*:}}"; mkdir -p "$dest"; tar -x -C "$dest" ;;
esac
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return root / WEB_ROOT.strip("/"), tmp_path / "calls"


def test_publish_copies_the_built_site_into_the_running_container(fake_docker):
    web_root, calls = fake_docker
    outputs = json.loads(FIXTURE.read_text())
    result = SiteContentProvider().create({"container": "supabase-dev-dashboard", "outputs": outputs, "digest": None})
    assert (web_root / "index.html").exists() and (web_root / "status.html").exists()
    assert sorted(p.name for p in (web_root / "projects").iterdir()) == sorted(
        f"{name}.html" for name in outputs["projects"])
    assert (web_root / "static" / "style.css").exists()
    assert calls.read_text().splitlines()[1].startswith(f"cp - supabase-dev-dashboard:{WEB_ROOT}")
    assert len(result.outs["digest"]) == 64


# -- the status endpoint, in a real nginx ------------------------------------------------------


class Upstream(BaseHTTPRequestHandler):
    """A service behind a probe: answers with the status its path names, records what it got."""

    seen: list[tuple[str, str, dict]] = []

    def _answer(self):
        Upstream.seen.append((self.command, self.path, dict(self.headers)))
        self.send_response(int(self.path.strip("/").split("/")[0]))
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args):
        pass


def nginx_files(folder: Path, conf: str) -> Path:
    """A main config around the site's server block: a free 127.0.0.1 port, everything in `folder`."""
    port = free_port()
    (folder / "default.conf").write_text(conf.replace("listen 80;", f"listen 127.0.0.1:{port};"))
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log stderr error;\n"
        f"events {{ worker_connections 64; }}\nhttp {{\n    access_log off;\n{temp}\n"
        f"    include {folder}/default.conf;\n}}\n")
    return folder / "nginx.conf"


def test_nginx_accepts_the_site_config(tmp_path):
    nginx = require_executable("nginx", "apt-get install nginx", also_in=("/usr/sbin",))
    main = nginx_files(tmp_path, nginx_conf())
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_service_with_a_health_url_has_a_probe():
    run = run_program(config_with_features())
    for service in run.outputs["services"]:
        url = service["healthUrl"]
        if url and "/status/" in url:
            assert url.rsplit("/", 1)[1] in PROBES
            assert f"/status/{service['name']} {PROBES[service['name']].url};" in nginx_conf()


def config_with_features() -> dict:
    config = dev_config()
    config["supabase-multi-instance:features"] = {"analytics": True, "functions": True, "pooler": True}
    return config


@pytest.fixture
def probing_nginx(tmp_path):
    """The real config template with probes pointing at a local service and at names no DNS knows."""
    nginx = require_executable("nginx", "apt-get install nginx", also_in=("/usr/sbin",))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    up = f"http://127.0.0.1:{server.server_port}"
    probes = {"ok": Probe(f"{up}/200/health"), "broken": Probe(f"{up}/502/health"),
              "busy": Probe(f"{up}/503/", method="HEAD"), "refused": Probe(f"http://127.0.0.1:{free_port()}/health"),
              "gone": Probe("http://auth:9999/health")}
    main = nginx_files(tmp_path, nginx_conf(probes))
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(main)], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+);", (tmp_path / "default.conf").read_text()).group(1))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    Upstream.seen.clear()
    yield base
    process.terminate()
    process.wait(timeout=10)
    server.shutdown()
    server.server_close()


def status_of(url: str, **headers) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_status_endpoint_passes_the_real_status_through(probing_nginx):
    base = probing_nginx
    assert status_of(f"{base}/healthz") == 200
    assert status_of(f"{base}/status/ok", Authorization="Basic c3VwYWJhc2U6c2VjcmV0", Cookie="s=1") == 200
    assert status_of(f"{base}/status/broken") == 502
    assert status_of(f"{base}/status/busy") == 503
    assert status_of(f"{base}/status/refused") == 502  # nothing listens
    assert status_of(f"{base}/status/gone") == 502  # no container of that name: DNS cannot answer
    assert status_of(f"{base}/status/anything-else") == 404
    assert status_of(f"{base}/status/ok/../../etc/passwd") == 404
    # a project's GoTrue: asked by name on the stack network (none here, so 502), anything odd 404
    assert status_of(f"{base}/status/project/blog") == 502
    assert status_of(f"{base}/status/project/my-shop") == 502
    for odd in ("Blog", "blog/x", "bl%2Fog", "-blog", "", "blog.evil.com", "a" * 41):
        assert status_of(f"{base}/status/project/{odd}") == 404, odd
    methods = {(method, path) for method, path, _ in Upstream.seen}
    assert methods == {("GET", "/200/health"), ("GET", "/502/health"), ("HEAD", "/503/")}
    forwarded = next(h for m, p, h in Upstream.seen if p == "/200/health")
    assert not {"Authorization", "Cookie"} & set(forwarded)


# -- usage and per-project health: the graph ----------------------------------------------------


def test_usage_collector_reads_only_through_its_reader_role():
    from components.resources.usage import QUERY_FILE, READER_GROUP, ROLE, USAGE_DIR

    run = run_program()
    (role,) = [r for r in run.of_type("postgresql:index/role:Role") if r.inputs.get("name") == ROLE]
    assert role.inputs["login"] is True and role.inputs["roles"] == [READER_GROUP]
    assert not role.inputs.get("superuser") and not role.inputs.get("bypassRowLevelSecurity")
    (usage,) = [c for c in run.of_type("docker:index/container:Container") if c.name == "usage"]
    networks = [n["name"] for n in usage.inputs["networksAdvanced"]]
    assert len(networks) == 1 and "auth" in str(networks[0])  # Postgres only, not the API network
    assert not usage.inputs.get("ports")
    assert [u["file"] for u in usage.inputs["uploads"]] == [QUERY_FILE]
    assert "supabase_multi.usage(" in usage.inputs["uploads"][0]["content"]
    from tests.stack_inputs import plain

    assert f"PGUSER={ROLE}" in plain(usage.inputs["envs"])
    (dashboard,) = [c for c in run.of_type("docker:index/container:Container") if c.name == "dashboard"]
    mounts = {v["containerPath"]: v for v in dashboard.inputs["volumes"]}
    assert mounts[f"{WEB_ROOT}/usage"]["readOnly"] is True
    assert mounts[f"{WEB_ROOT}/usage"]["volumeName"] == next(
        v["volumeName"] for v in usage.inputs["volumes"] if v["containerPath"] == USAGE_DIR)
    assert len(dashboard.inputs["networksAdvanced"]) == 2  # the API network and the projects' GoTrues'


def test_each_project_lists_its_own_gotrue_for_the_status_page():
    config = dev_config()
    projects = config["supabase-multi-instance:projects"]
    config["supabase-multi-instance:projects"] = [*projects, {"name": "crm_app", "auth": {"mode": "shared"}}]
    run = run_program(config)
    info = run.outputs["projects"]
    site = run.outputs["dashboardUrl"]
    first = projects[0]["name"]
    assert info[first]["services"] == [{"name": f"auth-{first.replace('_', '-')}", "image": IMAGE_AUTH,
                                        "healthUrl": f"{site}status/project/{first.replace('_', '-')}",
                                        "shared": False}]
    assert info["crm_app"]["services"][0]["healthUrl"] == f"{site}status/auth"
    assert info[first]["lastMigration"].startswith("0002_")


def test_the_served_site_is_gzipped(tmp_path):
    nginx = require_executable("nginx", "apt-get install nginx", also_in=("/usr/sbin",))
    from dashboard import build_site

    import tempfile

    readable = tempfile.TemporaryDirectory()  # nginx's workers must reach it: not under pytest's 0700 tmp
    Path(readable.name).chmod(0o755)
    site = Path(readable.name) / "site"
    build_site(json.loads(FIXTURE.read_text()), site)
    main = nginx_files(tmp_path, nginx_conf().replace(f"root {WEB_ROOT};", f"root {site};"))
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(main)], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+);", (tmp_path / "default.conf").read_text()).group(1))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/index.html", headers={"Accept-Encoding": "gzip"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    assert response.headers["Content-Encoding"] == "gzip"
                    import gzip
                    assert gzip.decompress(response.read()) == (site / "index.html").read_bytes()
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        readable.cleanup()
