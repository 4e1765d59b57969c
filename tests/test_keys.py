"""The stack's legacy API keys: HS256 JWTs over the stack JWT secret, with their roles.

Projects' keys are signed with each project's own key (tests/test_project_keys.py): a new
stack secret re-issues the stack's keys and leaves every project's keys and sessions alone.
"""
from __future__ import annotations

import jwt
import pytest

from components.core import keys
from tests.program import ProgramRun, fake_secret, run_program
from tests.stack_inputs import pushed

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


def test_keys_do_not_verify_with_another_secret(run):
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(run.outputs["anonKey"], "another-secret-of-at-least-32-characters", algorithms=["HS256"])


def test_keys_are_stable_across_runs(run):
    again = run_program()
    assert again.outputs["anonKey"] == run.outputs["anonKey"]
    assert again.outputs["projectServiceKeys"] == run.outputs["projectServiceKeys"]


# -- rotating jwtSecret ----------------------------------------------------------------------

NEW_JWT_SECRET = "a-new-jwt-secret-for-rotation-0123456789abcdef"


def test_a_new_jwt_secret_reissues_the_stack_keys_and_no_project_key(run):
    from tests.stack_inputs import config_with

    rotated = run_program(config_with(jwtSecret={"secure": NEW_JWT_SECRET}))
    old, new = run.outputs["anonKey"], rotated.outputs["anonKey"]
    assert old != new and jwt.decode(new, NEW_JWT_SECRET, algorithms=["HS256"])["role"] == "anon"
    with pytest.raises(jwt.InvalidSignatureError):  # the stack's legacy sessions end (README)
        jwt.decode(old, NEW_JWT_SECRET, algorithms=["HS256"])
    for name, project in run.outputs["projects"].items():  # one leaked stack secret is not every project's
        assert rotated.outputs["projects"][name]["anonKey"] == project["anonKey"]
        assert rotated.outputs["projectServiceKeys"][name] == run.outputs["projectServiceKeys"][name]
    (push,) = rotated.of_type(KONG_CONFIG)
    text = pushed(push)
    assert new in text and old not in text
