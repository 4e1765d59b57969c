"""A project moved to another cell keeps its keys: `projects[].keys.seeds` (issue 19).

Two runs of the real __main__.py under Pulumi mocks stand for two cells: the source, and a
target whose pulumi-random draws differ (as a new stack's would). The target, given the
source's `projectKeySeeds`, computes the same anon and service JWTs, publishable and secret
keys, JWKS and GoTrue keys; without them, new ones. Bad seeds are config errors that name
the field and never echo the value.
"""
from __future__ import annotations

import copy
import json

import jwt
import pytest

from components.core.config import ConfigError, parse_config
from tests.program import RecordingMocks, dev_config, fake_secret, run_program
from tests.test_project_keys import gotrue_keys, verify

NS = "supabase-multi-instance"
RANDOM = "random:index/randomPassword:RandomPassword"
SIGNING = fake_secret("x", 64)[:64]
API = fake_secret("y", 44)[:44]


class OtherCellMocks(RecordingMocks):
    """Another stack: its pulumi-random values are its own, not the source cell's."""

    @staticmethod
    def _computed(args):
        if args.typ == RANDOM:
            return {"result": fake_secret(f"cell2{args.name}", int(args.inputs.get("length", 32)))}
        return RecordingMocks._computed(args)


def cell(blog: dict, *others: dict) -> dict:
    config = dev_config()
    config[f"{NS}:projects"] = [{"name": "blog", **blog}, *others]
    return config


def secure(seeds: dict) -> dict:
    """As `pulumi config set --secret --path 'projects[0].keys.seeds.<kind>.<generation>'` stores them."""
    return {kind: {g: {"secure": v} for g, v in given.items()} for kind, given in seeds.items()}


def keys_of(run, project: str = "blog") -> dict:
    info = run.outputs["projects"][project]
    return {"anon": info["anonKey"], "publishable": info["publishableKey"], "jwks": info["jwks"],
            "kid": info["signingKeyId"], "service": run.outputs["projectServiceKeys"][project],
            "secret": run.outputs["projectSecretKeys"][project], "gotrue": gotrue_keys(run, project)}


@pytest.fixture(scope="module")
def source():
    """The source cell, mid-rotation: generation 2 signs, 1 still verifies; api keys at 3."""
    return run_program(cell({"keys": {"signing": 2, "verifying": [1], "api": 3}}, {"name": "shop"}))


def moved(source_run, stack: str = "cell2", **overrides):
    seeds = source_run.outputs["projectKeySeeds"]["blog"]
    keys = {"signing": 2, "verifying": [1], "api": 3, "seeds": secure(seeds), **overrides}
    return run_program(cell({"keys": keys}), stack=stack, recorder=OtherCellMocks())


def test_the_source_exports_the_seeds_of_every_live_generation_as_a_secret(source):
    seeds = source.outputs["projectKeySeeds"]
    assert "projectKeySeeds" in source.secret_outputs
    assert set(seeds) == {"blog", "shop"}
    assert set(seeds["blog"]["signing"]) == {"2", "1"} and set(seeds["blog"]["api"]) == {"3"}
    assert seeds["blog"]["signing"]["1"] == fake_secret("blog-signing-key-1", 64)
    assert seeds["blog"]["api"]["3"] == fake_secret("blog-api-keys-3", 44)
    assert seeds["shop"] == {"signing": {"1": fake_secret("shop-signing-key-1", 64)},
                             "api": {"1": fake_secret("shop-api-keys-1", 44)}}


def test_a_new_cell_without_the_seeds_would_issue_other_keys(source):
    fresh = run_program(cell({"keys": {"signing": 2, "verifying": [1], "api": 3}}), stack="cell2",
                        recorder=OtherCellMocks())
    before, after = keys_of(source), keys_of(fresh)
    assert all(before[k] != after[k] for k in before), "the mocks of the other cell draw the same seeds"


def test_the_target_computes_exactly_the_source_keys_from_the_exported_seeds(source):
    target = moved(source)
    assert keys_of(target) == keys_of(source)
    # A token the source cell issued (a user's session, signed with generation 1) verifies in the target.
    old_session = source.outputs["projects"]["blog"]["anonKey"]
    assert verify(old_session, target.outputs["projects"]["blog"]["jwks"])["role"] == "blog_anon"
    assert {"projectKeySeeds", "projectServiceKeys", "projectSecretKeys"} <= target.secret_outputs
    assert target.outputs["projectKeySeeds"]["blog"] == source.outputs["projectKeySeeds"]["blog"]


def test_a_given_seed_declares_no_random_and_appears_in_no_plain_input(source):
    target = moved(source)
    randoms = {r.name for r in target.of_type(RANDOM)}
    assert not {n for n in randoms if n.startswith(("blog-signing-key-", "blog-api-keys-"))}, randoms
    seeds = source.outputs["projectKeySeeds"]["blog"]
    plain = json.dumps([r.inputs for r in target.resources])
    assert all(s not in plain for given in seeds.values() for s in given.values())


def test_a_rotation_after_the_move_gets_a_new_random_seed_and_keeps_the_moved_ones(source):
    rotated = moved(source, signing=3, verifying=[2])
    randoms = {r.name for r in rotated.of_type(RANDOM) if r.name.startswith(("blog-signing-key-", "blog-api-keys-"))}
    assert randoms == {"blog-signing-key-3"}
    jwks = rotated.outputs["projects"]["blog"]["jwks"]["keys"]
    assert jwks[1] == source.outputs["projects"]["blog"]["jwks"]["keys"][0]  # generation 2, as the source had it
    assert rotated.outputs["projects"]["blog"]["publishableKey"] == source.outputs["projects"]["blog"]["publishableKey"]


# -- refused seeds --------------------------------------------------------------------------


SEEDS = {"signing": {"1": SIGNING}, "api": {"1": API}}


def problems(keys: dict, secret: frozenset = frozenset({"projects"})) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config({"projects": [{"name": "blog", "keys": keys}]}, secret)
    return err.value.problems


def test_well_formed_seeds_parse():
    keys = parse_config({"projects": [{"name": "blog", "keys": {"seeds": SEEDS}}]},
                        frozenset({"projects"})).projects[0].keys
    assert keys.seed("signing", 1) == SIGNING and keys.seed("api", 1) == API and keys.seed("signing", 2) is None


@pytest.mark.parametrize("keys, message", [
    ({"seeds": {"signing": {"1": SIGNING[:20]}, "api": {"1": API}}},
     "projects[0].keys.seeds.signing: generation 1: a seed is exactly 64 letters and digits (this one has 20 "
     "characters); copy it from the source cell's `pulumi stack output projectKeySeeds --show-secrets`"),
    ({"seeds": {"signing": {"1": SIGNING}, "api": {"1": API[:-1] + "!"}}},
     "projects[0].keys.seeds.api: generation 1: a seed is exactly 44 letters, digits, '_' and '-'"),
    ({"seeds": {"signing": {"1": SIGNING}}},
     "projects[0].keys: seeds.api: no seed given; a moved project needs every seed of its entry in projectKeySeeds"),
    ({"seeds": {"api": {"1": API}}}, "projects[0].keys: seeds.signing: no seed given"),
    ({"signing": 2, "verifying": [1], "seeds": {"signing": {"2": SIGNING}, "api": {"1": API}}},
     "projects[0].keys: seeds.signing: no seed for generation 1, which still verifies; copy it from the source"),
    ({"seeds": {"signing": {"2": SIGNING}, "api": {"1": API}}},
     "projects[0].keys: seeds.signing: generation 2 is newer than keys.signing (1); set keys.signing, "
     "keys.verifying and keys.api as the source cell has them"),
    ({"seeds": {"signing": {"one": SIGNING}, "api": {"1": API}}},
     "projects[0].keys.seeds.signing: 'one' is not a key generation"),
    ({"seeds": {"signing": {"1": SIGNING}, "api": {"1": API}, "kong": {}}},
     "projects[0].keys.seeds.kong: unknown key; known keys: api, signing"),
])
def test_a_missing_short_or_misplaced_seed_is_a_config_error_that_names_it(keys, message):
    lines = problems(keys)
    assert any(line.startswith(message) for line in lines), lines
    assert not any(SIGNING[:20] in line or API[:20] in line for line in lines)  # never echoed


def test_seeds_in_plain_text_are_refused_with_the_command_for_each():
    lines = problems({"signing": 2, "verifying": [1], "seeds": {"signing": {"2": SIGNING, "1": SIGNING},
                                                               "api": {"1": API}}}, secret=frozenset())
    for path in ("projects[0].keys.seeds.signing.2", "projects[0].keys.seeds.signing.1", "projects[0].keys.seeds.api.1"):
        assert f"{path}: is stored in plain text; set it with `pulumi config set --secret --path '{path}' ...`" in lines
    assert not any(SIGNING in line or API in line for line in lines)


def test_the_program_refuses_plain_text_seeds_before_declaring_anything(source):
    config = cell({"keys": {"signing": 2, "verifying": [1], "api": 3,
                            "seeds": copy.deepcopy(source.outputs["projectKeySeeds"]["blog"])}})
    with pytest.raises(Exception, match=r"projects\[0\]\.keys\.seeds\.signing\.2: is stored in plain text"):
        run_program(config, stack="cell2", recorder=OtherCellMocks())


def test_another_projects_seeds_give_other_keys_that_open_nothing_of_it(source):
    """An operator pasting blog's exported seeds into shop's entry: every key shop gets is its
    own (the seeds are stretched with the project's name), and blog's tokens do not verify
    with shop's keys, nor shop's with blog's."""
    seeds = source.outputs["projectKeySeeds"]["blog"]
    keys = {"signing": 2, "verifying": [1], "api": 3, "seeds": secure(seeds)}
    stolen = run_program(cell({"keys": {"signing": 2, "verifying": [1], "api": 3}},
                              {"name": "shop", "keys": keys}), stack="cell2", recorder=OtherCellMocks())
    blog, shop = keys_of(source), keys_of(stolen, "shop")
    assert all(blog[k] != shop[k] for k in blog)
    assert not {k["kid"] for k in blog["jwks"]["keys"]} & {k["kid"] for k in shop["jwks"]["keys"]}
    for token, jwks in ((blog["service"], shop["jwks"]), (shop["service"], blog["jwks"])):
        with pytest.raises(jwt.PyJWTError):
            verify(token, jwks)
