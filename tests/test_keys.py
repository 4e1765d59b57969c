"""API keys: HS256 JWTs over the stack JWT secret, with the role each key must carry.

Checked where clients get them (stack outputs) and where Kong gets them (the config the
gateway pushes), so a key that Kong accepts is always the key of the role it claims.
"""
from __future__ import annotations

import jwt
import pytest
import yaml

from components.core import keys
from tests.program import ProgramRun, fake_secret, run_program
from tests.test_stack import plain

JWT_SECRET = fake_secret("jwt-secret", 64)
KONG_CONFIG = "pulumi-python:dynamic/supabase:KongConfig"


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program()


def claims(key: str) -> dict:
    return jwt.decode(key, JWT_SECRET, algorithms=["HS256"])


def test_stack_keys_carry_their_roles(run):
    assert claims(run.outputs["anonKey"])["role"] == "anon"
    assert claims(run.outputs["serviceRoleKey"])["role"] == "service_role"
    assert claims(run.outputs["anonKey"])["iss"] == keys.ISSUER
    assert "serviceRoleKey" in run.secret_outputs and "anonKey" not in run.secret_outputs


@pytest.mark.parametrize("project", ["blog", "shop"])
def test_project_keys_carry_the_projects_roles(run, project):
    assert claims(run.outputs["projects"][project]["anonKey"])["role"] == f"{project}_anon"
    assert claims(run.outputs["projectServiceKeys"][project])["role"] == f"{project}_service"


def test_keys_do_not_verify_with_another_secret(run):
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(run.outputs["anonKey"], "another-secret-of-at-least-32-characters", algorithms=["HS256"])


def test_keys_are_stable_across_runs(run):
    again = run_program()
    assert again.outputs["anonKey"] == run.outputs["anonKey"]
    assert again.outputs["projectServiceKeys"] == run.outputs["projectServiceKeys"]


def test_kong_consumers_hold_the_keys_clients_get(run):
    (push,) = run.of_type(KONG_CONFIG)
    config = yaml.safe_load(plain(push.inputs["config"]))
    by_name = {c["username"]: c["keyauth_credentials"][0]["key"] for c in config["consumers"] if "keyauth_credentials" in c}
    assert by_name["anon"] == run.outputs["anonKey"]
    assert by_name["service_role"] == run.outputs["serviceRoleKey"]
    for project in ("blog", "shop"):
        assert by_name[f"{project}_anon"] == run.outputs["projects"][project]["anonKey"]
        assert by_name[f"{project}_service"] == run.outputs["projectServiceKeys"][project]
    for name, key in by_name.items():
        assert claims(key)["role"] == name


# -- rotating jwtSecret ----------------------------------------------------------------------

NEW_JWT_SECRET = "a-new-jwt-secret-for-rotation-0123456789abcdef"


def test_a_new_jwt_secret_reissues_every_key_and_no_old_key_verifies(run):
    from tests.test_stack import config_with

    rotated = run_program(config_with(jwtSecret={"secure": NEW_JWT_SECRET}))
    old = [run.outputs["anonKey"]] + [p["anonKey"] for p in run.outputs["projects"].values()]
    new = [rotated.outputs["anonKey"]] + [p["anonKey"] for p in rotated.outputs["projects"].values()]
    assert len(new) == 3 and not set(old) & set(new)
    for key in new:
        assert jwt.decode(key, NEW_JWT_SECRET, algorithms=["HS256"])["role"]
    for key in old:  # every token signed before is now refused: all sessions end (README)
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(key, NEW_JWT_SECRET, algorithms=["HS256"])
    (push,) = rotated.of_type(KONG_CONFIG)
    pushed = plain(push.inputs["config"])
    assert all(key in pushed for key in new) and not any(key in pushed for key in old)
