"""Inside Kong's container: the start script and the push of a config change, run by sh.

The start script loads the last config Kong accepted, or the stack-only one; a push is posted
on loopback to Kong's admin API and kept only when Kong takes it; a KongConfig whose Kong lost
or refused its config shows as an update and is repaired.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from components.core import kong_container
from components.providers.kong_config import (KongConfigProvider, KongSettings, digest, push_archive, render,
                                              settings_dict)
from tests import kong_resty
from tests.gateway_fixtures import PUBLISHED, settings


# -- inside Kong's container: the start script and the push, run by sh --------------------------
# `kong` is a stand-in (no Kong can run here) with the exit codes and messages of
# `kong config parse` (kong/cmd/config.lua at 3.9.3); `resty` runs the push Lua for real under
# LuaJIT with a stand-in of lua-resty-http answering as Kong's admin API (tests/kong_resty.py);
# `docker` maps the container's prefix /usr/local/kong onto a folder and runs
# `docker exec ... sh -c` with the local sh.

STACK_ONLY = settings()
GOOD = render(STACK_ONLY)


def props(chosen: KongSettings = STACK_ONLY, container: str = "c", container_id: str = "abc") -> dict:
    """A KongConfig's inputs as the program declares them: the settings, not the text."""
    return {"settings": settings_dict(chosen), "container": container, "container_id": container_id}
KONG_STUB = """#!/bin/sh
[ "$1 $2" = "config parse" ] || exit 9
grep -q "^_format_version" "$3" && exit 0
echo "Error: Failed parsing:\nin 'consumers': expected an array" >&2
exit 1
"""
DOCKER_STUB = """#!/bin/bash
echo "docker $*" | head -1 >> "$KONG_TEST_ROOT/calls.log"
case "$1" in
  cp) dest="$KONG_TEST_ROOT/container${3#*:}"; mkdir -p "$dest"; tar -x -C "$dest" ;;
  exec) script="$5" name="$6" home="$7"; shift 7
        exec sh -c "$script" "$name" "$KONG_TEST_ROOT/container$home" "$@" ;;
  *) exit 2 ;;
esac
"""
REFUSED = {"status": 400, "body": json.dumps({"name": "invalid declarative configuration", "flattened_errors": [
    {"entity_type": "consumer", "errors": [{"field": "consumers", "message": "expected an array"}]}]})}


@pytest.fixture
def kong_box(tmp_path, monkeypatch) -> Path:
    """A stand-in for Kong's container: its prefix is `<tmp>/container/usr/local/kong`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("kong", KONG_STUB), ("docker", DOCKER_STUB)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    kong_resty.install(bin_dir, tmp_path)
    home(tmp_path).mkdir(parents=True)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("KONG_TEST_ROOT", str(tmp_path))
    return tmp_path


def home(box: Path) -> Path:
    return box / "container" / kong_container.HOME.lstrip("/")


def start_kong(box: Path) -> subprocess.CompletedProcess:
    """The start script up to its `exec`, which here prints the config Kong would load."""
    script = kong_container.START_SCRIPT.replace("exec /entrypoint.sh kong docker-start",
                                                 'echo "$KONG_DECLARATIVE_CONFIG"')
    assert script != kong_container.START_SCRIPT
    return subprocess.run(["sh", "-c", script, "kong-start", str(home(box))], capture_output=True, text=True,
                          check=True)


def calls(box: Path) -> list[str]:
    log = box / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("live, loads", [(None, "base.yml"), (GOOD, "live.yml"), ("consumers: bad\n", "base.yml")])
def test_kong_starts_from_its_last_accepted_config_or_the_stack_only_one(kong_box, live, loads):
    if live is not None:
        (home(kong_box) / "live.yml").write_text(live)
    started = start_kong(kong_box)
    assert started.stdout.strip() == str(home(kong_box) / loads)
    if live is not None and loads == "base.yml":  # a refused file is set aside, not retried forever
        assert not (home(kong_box) / "live.yml").exists()
        assert (home(kong_box) / "rejected.yml").read_text() == live
        assert "refused" in started.stderr


def test_a_push_is_posted_on_loopback_then_kept(kong_box):
    text = render(PUBLISHED)
    KongConfigProvider().create(props(PUBLISHED, "supabase-dev-kong"))
    assert (home(kong_box) / "live.yml").read_text() == text
    (posted,) = kong_resty.requests(kong_box)
    assert json.loads(posted["body"]) == {"config": text}
    assert posted["uri"] == "http://127.0.0.1:8001/config?check_hash=1&flatten_errors=1"
    assert sorted(p.name for p in home(kong_box).iterdir()) == ["live.yml"]  # nothing left of the push
    (cp, exec_, resty) = calls(kong_box)
    assert cp == "docker cp - supabase-dev-kong:/usr/local/kong"
    assert exec_.startswith("docker exec supabase-dev-kong sh -c ") and resty == "resty -e"


def test_a_config_kong_refuses_changes_nothing(kong_box):
    (home(kong_box) / "live.yml").write_text(GOOD)
    kong_resty.answer(kong_box, REFUSED)
    with pytest.raises(RuntimeError, match=r"supabase-dev-kong refused the config: HTTP 400: .*expected an array"):
        KongConfigProvider().update("id", {}, props(PUBLISHED, "supabase-dev-kong"))
    assert (home(kong_box) / "live.yml").read_text() == GOOD
    assert len(kong_resty.requests(kong_box)) == 1


@pytest.mark.parametrize("waiting", [{"error": "connection refused"}, {"status": 429, "body": "{}"}])
def test_a_push_waits_for_a_starting_or_busy_kong(kong_box, waiting):
    kong_resty.answer(kong_box, waiting, waiting)
    KongConfigProvider().create(props())
    assert len(kong_resty.requests(kong_box)) == 3
    assert (home(kong_box) / "live.yml").read_text() == GOOD


def test_a_config_kong_already_runs_is_kept_without_loading_it_again(kong_box):
    kong_resty.answer(kong_box, {"status": 304, "body": ""})
    KongConfigProvider().create(props())
    assert (home(kong_box) / "live.yml").read_text() == GOOD


def test_a_kong_that_never_answers_fails_the_push_and_keeps_nothing(kong_box):
    kong_resty.answer(kong_box, *[{"error": "connection refused"}] * 100)
    with pytest.raises(RuntimeError, match="did not take the config: no answer: connection refused"):
        KongConfigProvider().create(props())
    assert not (home(kong_box) / "live.yml").exists()


def test_a_kong_that_lost_or_refused_its_config_shows_as_an_update_and_is_repaired(kong_box):
    """A recreated Kong has no live file; a restarted one may have set a refused file aside.
    Either way the next preview shows the update and the next up pushes again."""
    provider, inputs = KongConfigProvider(), props()
    outputs = provider.create(inputs).outs
    assert not provider.diff("id", outputs, inputs).changes
    (home(kong_box) / "live.yml").write_text("consumers: damaged\n")
    start_kong(kong_box)  # Kong restarts: the file is set aside, Kong runs on the stack-only config
    assert provider.diff("id", outputs, inputs).changes
    provider.update("id", outputs, inputs)
    assert (home(kong_box) / "live.yml").read_text() == GOOD
    assert not provider.diff("id", outputs, inputs).changes


def test_without_docker_the_config_is_pushed_again_rather_than_assumed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker CLI at all
    outputs = {"container": "c", "container_id": "abc", "digest": digest(GOOD)}
    assert KongConfigProvider().diff("id", outputs, props()).changes


def test_a_new_kong_container_gets_the_config_again(kong_box):
    olds = {"container": "c", "container_id": "1", "digest": digest(GOOD)}
    diff = KongConfigProvider().diff("id", olds, props(container_id="2"))
    assert diff.changes and not diff.replaces


def test_the_push_archive_holds_the_config_and_its_request_body():
    with tarfile.open(fileobj=io.BytesIO(push_archive("a: 1\n"))) as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
        assert all(m.mode == 0o644 for m in tar.getmembers())
    assert files == {"next.yml": "a: 1\n", "next.json": json.dumps({"config": "a: 1\n"})}
