"""The edge runtime's main service (volumes/functions/main/index.ts) run for real under Deno with
the stand-in runtime (tests/edge_runtime/runtime.ts): each project's function gets its own
project's env, is refused the other project's keys and tokens, cannot read the other's files or
secrets, and verifyJwt: false is honoured. Attacks come from project b's keys and a's own code."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from components.core import functions_env
from tests.functions_stage import Runtime, STACK_SECRET, stage

ENV_FUNCTION = """Deno.serve(() => Response.json({ env: Deno.env.toObject() }))
"""
# a's own code attacking b: read b's folder (its path given, as if guessed), and the main's key.
PEEK_FUNCTION = """Deno.serve(async (req) => {
  const target = new URL(req.url).searchParams.get('path') ?? ''
  let read = null, error = null
  try { read = await Deno.readTextFile(target) } catch (e) { error = String(e) }
  return Response.json({ read, error, key: Deno.env.get('FUNCTIONS_PROJECTS_KEY') ?? null })
})
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("functions")
    root = base / "volume"
    root.mkdir()
    a_dir = write(base / "a", {"hello/index.ts": ENV_FUNCTION, "webhook/index.ts": ENV_FUNCTION,
                               "peek/index.ts": PEEK_FUNCTION, "_shared/cors.ts": "export const x = 1\n"})
    b_dir = write(base / "b", {"hello/index.ts": ENV_FUNCTION})
    a = stage(root, "a", a_dir, {"webhook": False, "peek": False}, {"A_SECRET": "alpha"})
    b = stage(root, "b", b_dir, {}, {"B_SECRET": "bravo"})
    runtime = Runtime(root, base / "deno-dir")
    yield runtime, a, b, root
    runtime.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_function_answers_with_its_own_projects_env(world):
    runtime, a, _b, _root = world
    status, body = runtime.call("hello", "a", bearer(a.keys.anon_jwt))
    assert status == 200, body
    env = json.loads(body)["env"]
    assert env["SUPABASE_URL"] == "http://kong:8000/project/a"
    assert env["SUPABASE_ANON_KEY"] == a.keys.anon_jwt and env["SUPABASE_SERVICE_ROLE_KEY"] == a.keys.service_jwt
    assert json.loads(env["SUPABASE_PUBLISHABLE_KEYS"]) == {"default": a.keys.publishable_key}
    assert env["A_SECRET"] == "alpha"
    assert set(env) == {"SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_PUBLISHABLE_KEYS",
                        "SUPABASE_SECRET_KEYS", "SUPABASE_JWKS", "A_SECRET"}  # no DB URL, no stack secret


def test_b_answers_with_bs_env(world):
    runtime, _a, b, _root = world
    status, body = runtime.call("hello", "b", bearer(b.keys.publishable_key))
    assert status == 200, body
    env = json.loads(body)["env"]
    assert env["SUPABASE_URL"].endswith("/project/b") and env["B_SECRET"] == "bravo" and "A_SECRET" not in env


@pytest.mark.parametrize("headers", [
    lambda b: bearer(b.keys.anon_jwt), lambda b: bearer(b.keys.service_jwt), lambda b: bearer(b.keys.publishable_key),
    lambda b: bearer(b.keys.secret_key), lambda b: {"apikey": b.keys.publishable_key},
    lambda b: {"apikey": b.keys.anon_jwt},
])
def test_as_function_refuses_bs_keys_and_tokens(world, headers):
    runtime, _a, b, _root = world
    status, _ = runtime.call("hello", "a", headers(b))
    assert status == 401


def test_as_function_refuses_bs_key_even_where_no_jwt_is_verified(world):
    runtime, _a, b, _root = world
    assert runtime.call("webhook", "a", {"apikey": b.keys.publishable_key})[0] == 401


def test_a_token_needs_as_key_a_role_of_a_and_no_expiry(world):
    runtime, a, _b, _root = world
    signing = a.keys.signing
    now = int(time.time())
    foreign_role = signing.sign({"role": "b_service", "exp": now + 600})
    expired = signing.sign({"role": "a_authenticated", "exp": now - 10})
    no_exp = signing.sign({"role": "a_authenticated"})
    fresh = signing.sign({"role": "a_authenticated", "exp": now + 600, "sub": "user-1"})
    for token in (foreign_role, expired, no_exp, a.keys.anon_jwt[:-4] + "AAAA"):
        assert runtime.call("hello", "a", bearer(token))[0] == 401
    assert runtime.call("hello", "a", bearer(fresh))[0] == 200
    assert runtime.call("hello", "a")[0] == 401  # verify_jwt by default: no token, no call


def test_secret_key_from_a_browser_is_refused(world):
    runtime, a, _b, _root = world
    assert runtime.call("hello", "a", {**bearer(a.keys.secret_key), "Origin": "https://app.example"})[0] == 401
    assert runtime.call("hello", "a", bearer(a.keys.secret_key))[0] == 200


def test_verify_jwt_false_is_honoured(world):
    runtime, _a, _b, _root = world
    status, body = runtime.call("webhook", "a")
    assert status == 200 and json.loads(body)["env"]["A_SECRET"] == "alpha"


def test_as_code_cannot_read_bs_files_or_the_main_key(world):
    runtime, _a, b, root = world
    target = root / b.folder / "current" / "env.enc"
    assert target.exists()
    status, body = runtime.call("peek", "a", path=f"?path={target}")
    assert status == 200, body
    seen = json.loads(body)
    assert seen["read"] is None and seen["key"] is None
    # and the file itself holds nothing readable without b's key
    sealed = target.read_text()
    assert "bravo" not in sealed and b.keys.service_jwt not in sealed
    master = functions_env.master_key(STACK_SECRET)
    with pytest.raises(Exception):
        functions_env.unseal(functions_env.env_key(master, "a"), "a", sealed)
    assert functions_env.unseal(functions_env.env_key(master, "b"), "b", sealed)["env"]["B_SECRET"] == "bravo"


def test_unknown_function_or_project_is_not_found(world):
    runtime, a, _b, _root = world
    assert runtime.call("nope", "a", bearer(a.keys.anon_jwt))[0] == 404
    assert runtime.call("_shared", "a", bearer(a.keys.anon_jwt))[0] == 404
    assert runtime.call("hello", "c", bearer(a.keys.anon_jwt))[0] == 404


def test_a_new_deploy_is_served_at_once_without_a_restart(world, tmp_path):
    runtime, _a, _b, root = world
    folder = write(tmp_path / "c", {"hello/index.ts": "Deno.serve(() => new Response('one'))\n"})
    first = stage(root, "c", folder, {"hello": False}, {})
    assert runtime.call("hello", "c") == (200, b"one")  # a project added while the runtime runs
    write(folder, {"hello/index.ts": "Deno.serve(() => new Response('two'))\n"})
    second = stage(root, "c", folder, {"hello": False}, {})
    assert second.version != first.version and not (root / first.folder / f"v-{first.version}").exists()
    assert runtime.call("hello", "c") == (200, b"two")
