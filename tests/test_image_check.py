"""The pinned images match the newest upstream compose read (stored with its commit), and the
check names every difference when they do not (no network: the list is a fixture)."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from components.core import image_check
from components.core.images import IMAGES, OWN_SERVICES, UPSTREAM_COMMIT
from tests.program import ROOT


def test_the_pins_are_the_stored_upstream_images():
    commit, upstream = image_check.stored_images()
    assert commit == UPSTREAM_COMMIT
    assert image_check.differences(IMAGES, upstream) == []
    assert set(IMAGES) - set(upstream) == OWN_SERVICES  # only this program's own services are extra
    assert upstream["db-17"] == IMAGES["db-17"]  # from the stored docker-compose.pg17.yml
    assert upstream["kong"] == IMAGES["kong"]  # from the stored docker-compose.kong.yml (its api-gw)


def test_every_difference_is_named():
    _, upstream = image_check.stored_images()
    newer = dict(upstream, auth="supabase/gotrue:v2.190.0", **{"api-gw": "envoyproxy/envoy:v1.34.0"})
    del newer["kong"]
    assert image_check.differences(IMAGES, newer) == [
        "api-gw: upstream runs envoyproxy/envoy:v1.34.0; this stack has no such service",
        "auth: pinned supabase/gotrue:v2.186.0, upstream supabase/gotrue:v2.190.0",
    ]


def test_a_pin_from_an_upstream_override_file_is_compared_with_that_file():
    """Kong follows upstream's docker/docker-compose.kong.yml, not the compose file's kong:2.8.1."""
    data = json.loads(image_check.STORED.read_text())
    assert data["images"]["kong"] == "kong:2.8.1" and IMAGES["kong"] == "kong/kong:3.9.3"
    _, upstream = image_check.stored_images()
    assert image_check.differences(dict(IMAGES, kong="kong/kong:3.9.2"), upstream) == [
        "kong: pinned kong/kong:3.9.2, upstream's docker/docker-compose.kong.yml kong/kong:3.9.3"]


def compose_file(tmp_path, images: dict[str, str]):
    services = {name: {"container_name": f"supabase-{name}", "image": image, "restart": "unless-stopped"}
                for name, image in images.items()}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump({"name": "supabase", "services": services, "volumes": {"db-config": None}}))
    return path


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "components.core.image_check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_command_passes_on_the_stored_list_and_on_a_matching_compose_file(tmp_path):
    assert run_check().returncode == 0
    _, upstream = image_check.stored_images()
    result = run_check(str(compose_file(tmp_path, upstream)))
    assert result.returncode == 0 and "the same images" in result.stdout


def test_the_command_fails_and_lists_what_a_newer_compose_changes(tmp_path):
    _, upstream = image_check.stored_images()
    result = run_check(str(compose_file(tmp_path, dict(upstream, db="supabase/postgres:17.6.1.100"))))
    assert result.returncode == 1
    assert "1 difference" in result.stdout
    assert "db: pinned supabase/postgres:15.8.1.085, upstream supabase/postgres:17.6.1.100" in result.stdout


def test_the_postgres_17_override_is_compared_with_the_db_of_17_stacks(tmp_path):
    _, upstream = image_check.stored_images()
    main = compose_file(tmp_path, {k: v for k, v in upstream.items() if k != "db-17"})
    (tmp_path / "o").mkdir()
    override = tmp_path / "o" / "docker-compose.pg17.yml"
    override.write_text(yaml.safe_dump({"services": {"db": {"image": IMAGES["db-17"]}}}))
    result = run_check(str(main), str(override))
    assert result.returncode == 0 and "the same images" in result.stdout, result.stdout
    override.write_text(yaml.safe_dump({"services": {"db": {"image": "supabase/postgres:17.6.1.136"}}}))
    result = run_check(str(main), str(override))
    assert result.returncode == 1
    assert (f"db-17: pinned {IMAGES['db-17']}, upstream's docker/docker-compose.pg17.yml "
            "supabase/postgres:17.6.1.136") in result.stdout
    unknown = tmp_path / "docker-compose.s3.yml"
    unknown.write_text("services: {}\n")
    assert run_check(str(main), str(unknown)).returncode == 2


def test_the_kong_override_is_read_with_composes_merge_tags(tmp_path):
    """Upstream's docker-compose.kong.yml overrides `api-gw` with `!override` tags (Compose's
    merge syntax); the check reads them and compares the gateway pin with its image."""
    _, upstream = image_check.stored_images()
    main = compose_file(tmp_path, {k: v for k, v in upstream.items() if k not in ("db-17", "kong")})
    (tmp_path / "o").mkdir()
    override = tmp_path / "o" / "docker-compose.kong.yml"
    text = ("services:\n  api-gw:\n    image: {image}\n    ports: !override\n      - 8000:8000/tcp\n"
            "    environment: !override\n      KONG_DATABASE: \"off\"\n    healthcheck:\n"
            "      test: !override [\"CMD\", \"kong\", \"health\"]\n")
    override.write_text(text.format(image=IMAGES["kong"]))
    result = run_check(str(main), str(override))
    assert result.returncode == 0 and "the same images" in result.stdout, result.stdout + result.stderr
    override.write_text(text.format(image="kong/kong:3.9.4"))
    result = run_check(str(main), str(override))
    assert result.returncode == 1
    assert f"kong: pinned {IMAGES['kong']}, upstream's docker/docker-compose.kong.yml kong/kong:3.9.4" in result.stdout


def test_an_unreadable_file_is_reported_in_one_line(tmp_path):
    (tmp_path / "x.yml").write_text("just text")
    for args in ([str(tmp_path / "x.yml")], [str(tmp_path / "missing.yml")]):
        result = run_check(*args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_the_stored_list_names_its_source():
    data = json.loads(image_check.STORED.read_text())
    assert data["repository"] == "supabase/supabase" and data["path"] == "docker/docker-compose.yml"
    assert len(data["commit"]) == 40


def test_an_upgrade_changes_only_that_services_image_and_container(monkeypatch):
    """What `pulumi preview` shows for a new tag: one image and its container; volumes untouched."""
    from components.core import images
    from tests.stack_inputs import config_with, docker_inputs
    from tests.program import run_program

    before = docker_inputs(run_program(config_with()))
    monkeypatch.setitem(images.IMAGES, "auth", "supabase/gotrue:v2.190.0")
    after_run = run_program(config_with())
    after = docker_inputs(after_run)
    assert set(before) == set(after)
    changed = sorted(name for (typ, name) in before if before[(typ, name)] != after[(typ, name)])
    assert changed == ["auth-image"]  # the container takes the new image's id at apply time
    volumes = [r for r in after_run.of_type("docker:index/volume:Volume") if r.name in ("db-data-17", "storage-data")]
    assert len(volumes) == 2 and all(v.protect for v in volumes)
