"""A project's own keys as the real __main__.py declares them (mocks), and their rotation.

What issue 17 asks to see: each project signs with its own ES256 key; rotating one
project's key keeps the old one verifying during the overlap and drops it after, leaves
every other project's keys alone, and changes no shared container.
"""
from __future__ import annotations

import json

import jwt
import pytest

from components.core import opaque_keys
from components.core.config import ConfigError, parse_config
from components.core.signing_keys import SigningKey
from tests.program import dev_config, fake_secret, run_program
from tests.test_project import CONTAINER, changed_between
from tests.stack_inputs import plain

NS = "supabase-multi-instance"
SHARED = ("db", "kong", "rest", "storage", "realtime", "auth", "studio", "meta", "imgproxy")


def with_keys(**blog_keys) -> dict:
    config = dev_config()
    config[f"{NS}:projects"] = [{"name": "blog", **({"keys": blog_keys} if blog_keys else {})}, {"name": "shop"}]
    return config


@pytest.fixture(scope="module")
def runs():
    """Before, during the overlap (signing 2, 1 still verifies) and after it."""
    return {"before": run_program(with_keys()), "overlap": run_program(with_keys(signing=2, verifying=[1])),
            "after": run_program(with_keys(signing=2))}


def verify(token: str, jwks: dict) -> dict:
    """As a service that holds the JWKS would: key by kid, then the signature."""
    kid = jwt.get_unverified_header(token)["kid"]
    matching = [k for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id == kid]
    if not matching:
        raise jwt.InvalidKeyError(f"no key {kid}")
    return jwt.decode(token, matching[0].key, algorithms=["ES256"])


def gotrue_keys(run, project: str) -> list[dict]:
    (container,) = [r for r in run.of_type(CONTAINER) if r.name == f"auth-{project}"]
    env = dict(line.split("=", 1) for line in plain(container.inputs["envs"]))
    return json.loads(env["GOTRUE_JWT_KEYS"])


def test_the_signing_key_is_derived_from_its_pulumi_random_seed(runs):
    key = SigningKey("blog", 1, fake_secret("blog-signing-key-1", 64))
    assert runs["before"].outputs["projects"]["blog"]["signingKeyId"] == key.kid
    assert verify(runs["before"].outputs["projects"]["blog"]["anonKey"], {"keys": [key.public_jwk()]})


def test_rotation_keeps_old_tokens_valid_during_the_overlap_only(runs):
    old_anon = runs["before"].outputs["projects"]["blog"]["anonKey"]
    old_service = runs["before"].outputs["projectServiceKeys"]["blog"]
    overlap, after = runs["overlap"].outputs["projects"]["blog"], runs["after"].outputs["projects"]["blog"]
    assert overlap["signingKeyId"] != runs["before"].outputs["projects"]["blog"]["signingKeyId"]
    assert [k["kid"] for k in overlap["jwks"]["keys"]][1] == runs["before"].outputs["projects"]["blog"]["signingKeyId"]
    for token in (old_anon, old_service):
        assert verify(token, overlap["jwks"])["role"].startswith("blog_")
        with pytest.raises(jwt.InvalidKeyError):
            verify(token, after["jwks"])
    assert verify(after["anonKey"], after["jwks"])["role"] == "blog_anon"
    assert after["anonKey"] != old_anon  # re-signed with the new key


def test_rotation_gives_gotrue_the_new_signing_key_and_the_old_one_to_verify(runs):
    overlap = gotrue_keys(runs["overlap"], "blog")
    assert [k["key_ops"] for k in overlap] == [["sign", "verify"], ["verify"]]
    assert "d" not in overlap[1]  # the retiring key's private half is gone from GoTrue
    assert [k["kid"] for k in gotrue_keys(runs["after"], "blog")] == [overlap[0]["kid"]]


def test_rotating_one_project_leaves_the_others_and_every_shared_container_alone(runs):
    before = runs["before"]
    for phase in ("overlap", "after"):
        run = runs[phase]
        assert run.outputs["projects"]["shop"] == before.outputs["projects"]["shop"]
        assert run.outputs["projectServiceKeys"]["shop"] == before.outputs["projectServiceKeys"]["shop"]
        assert gotrue_keys(run, "shop") == gotrue_keys(before, "shop")
        changed = changed_between(before, run)
        assert not changed & set(SHARED), changed
        assert changed <= {"auth-blog", "blog-sql", "gateway-routes", "dashboard-content"}, changed


def test_adding_a_project_changes_no_shared_container():
    two = run_program(with_keys())
    config = with_keys()
    config[f"{NS}:projects"].append({"name": "crm"})
    assert not changed_between(two, run_program(config)) & set(SHARED)


def test_opaque_keys_are_upstreams_format_and_name_their_project(runs):
    blog = runs["before"].outputs["projects"]["blog"]["publishableKey"]
    secret = runs["before"].outputs["projectSecretKeys"]["blog"]
    assert opaque_keys.is_valid(blog, "blog") and opaque_keys.is_valid(secret, "blog")
    assert blog.startswith("sb_publishable_") and secret.startswith("sb_secret_")
    assert not opaque_keys.is_valid(blog, "shop")  # the checksum binds the key to its project
    assert "projectSecretKeys" in runs["before"].secret_outputs


def test_reissuing_the_api_keys_changes_only_the_opaque_keys():
    before, after = run_program(with_keys()), run_program(with_keys(api=2))
    old, new = before.outputs["projects"]["blog"], after.outputs["projects"]["blog"]
    assert new["publishableKey"] != old["publishableKey"]
    # A new random value for both keys (the mocks' fake randoms differ only in their first half).
    names = lambda run: {r.name for r in run.of_type("random:index/randomPassword:RandomPassword")}  # noqa: E731
    assert names(before) - names(after) == {"blog-api-keys-1"} and names(after) - names(before) == {"blog-api-keys-2"}
    assert new["anonKey"] == old["anonKey"] and new["signingKeyId"] == old["signingKeyId"]


@pytest.mark.parametrize("keys, message", [
    ({"signing": 2, "verifying": [2]}, "projects[0].keys: verifying: [2] must be earlier generations than signing (2)"),
    ({"signing": 0}, "projects[0].keys.signing"),
    ({"signing": 3, "verifying": [1, 1]}, "verifying: lists a generation twice"),
])
def test_bad_key_generations_are_refused_naming_the_field(keys, message):
    with pytest.raises(ConfigError) as err:
        parse_config({"projects": [{"name": "blog", "keys": keys}]})
    assert message in str(err.value)
