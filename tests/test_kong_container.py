"""Inside Kong's container (kong/kong:3.9.3): the push Lua run for real under LuaJIT through a
stand-in of `resty` and lua-resty-http (tests/kong_resty.py), answering as Kong's admin API
does (kong/api/routes/config.lua at 3.9.3: 201 taken, 304 same hash, 400 refused with the
flattened errors, 429 busy loading, 503/504 exiting or timed out)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.core import kong_container
from tests import kong_resty

BODY = json.dumps({"config": "_format_version: '3.0'\nconsumers: []\n"})
FLATTENED = json.dumps({"code": 14, "name": "invalid declarative configuration", "flattened_errors": [
    {"entity_type": "plugin", "entity_name": "jwt", "errors": [
        {"field": "config.key_claim_nam", "type": "field", "message": "unknown field"}]}]})


@pytest.fixture
def box(tmp_path) -> Path:
    """A bin folder with the resty stand-in, and the prefix holding the request body."""
    (tmp_path / "bin").mkdir()
    kong_resty.install(tmp_path / "bin", tmp_path)
    (tmp_path / "prefix").mkdir()
    (tmp_path / "prefix" / kong_container.NEXT_BODY).write_text(BODY)
    return tmp_path


def push(box: Path, timeout: int = kong_container.PUSH_TIMEOUT_SECONDS) -> kong_resty.Run:
    return kong_resty.run_lua(box / "bin", box, kong_container.PUSH_LUA,
                              {"KONG_PUSH_HOME": str(box / "prefix"), "KONG_PUSH_TIMEOUT": str(timeout)})


def test_the_config_is_posted_once_to_the_loopback_admin_api_with_the_hash_check():
    assert kong_container.ADMIN_LISTEN == "127.0.0.1:8001"
    assert kong_container.CONFIG_PATH == "/config?check_hash=1&flatten_errors=1"


def test_a_config_kong_takes_is_posted_once(box):
    done = push(box)
    assert done.returncode == 0 and "config applied" in done.stdout, done.stderr
    (request,) = kong_resty.requests(box)
    assert request["uri"] == "http://127.0.0.1:8001/config?check_hash=1&flatten_errors=1"
    assert request["method"] == "POST" and request["headers"] == {"Content-Type": "application/json"}
    assert request["body"] == BODY


def test_a_config_kong_already_runs_is_not_loaded_again(box):
    kong_resty.answer(box, {"status": 304, "body": ""})
    done = push(box)
    assert done.returncode == 0 and "config unchanged" in done.stdout
    assert len(kong_resty.requests(box)) == 1


def test_a_refused_config_exits_3_with_each_refused_field(box):
    kong_resty.answer(box, {"status": 400, "body": FLATTENED})
    done = push(box)
    assert done.returncode == kong_container.PUSH_EXIT_REFUSED == 3
    assert "HTTP 400" in done.stderr and "config.key_claim_nam" in done.stderr
    assert len(kong_resty.requests(box)) == 1  # never retried


def test_a_starting_busy_or_exiting_kong_is_asked_again(box):
    kong_resty.answer(box, {"error": "connection refused"}, {"status": 429, "body": "{}"},
                      {"status": 503, "body": "{}"}, {"status": 504, "body": "{}"}, {"status": 201, "body": "{}"})
    done = push(box)
    assert done.returncode == 0, done.stderr
    assert len(kong_resty.requests(box)) == 5


def test_a_kong_that_never_answers_exits_4_at_the_deadline(box):
    kong_resty.answer(box, *[{"error": "connection refused"}] * 100)
    done = push(box, timeout=10)
    assert done.returncode == kong_container.PUSH_EXIT_NO_ANSWER == 4
    assert "no answer: connection refused" in done.stderr
    assert len(kong_resty.requests(box)) == 6  # at 0, 2, ... 10 s


def test_the_scripts_use_the_3_9_images_prefix_and_entrypoint():
    """build/dockerfiles/deb.Dockerfile at 3.9.3: KONG_PREFIX /usr/local/kong (owned by kong),
    ENTRYPOINT /entrypoint.sh; the kong user has no home folder."""
    assert kong_container.HOME == "/usr/local/kong" and kong_container.BASE_FILE == "/usr/local/kong/base.yml"
    assert kong_container.START_SCRIPT.rstrip().endswith("exec /entrypoint.sh kong docker-start")
    assert "/home/kong" not in kong_container.START_SCRIPT + kong_container.PUSH_SCRIPT + kong_container.PUSH_LUA
    assert 'resty -e "$3"' in kong_container.PUSH_SCRIPT and "wget" not in kong_container.PUSH_SCRIPT
