"""The dashboard served inside the stack: nginx on the stack network, pages copied in place."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from components.dashboard_site import IMAGE, WEB_ROOT, SiteContentProvider
from tests.program import dev_config, run_program

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
