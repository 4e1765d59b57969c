"""The generated Kong config, checked by decK v1.55.0 (Kong's own tool, built by
scripts/build-deck.sh) as Kong 3.9.3 would take it, offline:

- `deck file validate`: decK's schema of a declarative file (entities, their fields,
  references between them, `_format_version`);
- `deck file lint` with tests/kong_schema_rules.py: every plugin's config against Kong 3.9.3's
  own plugin schemas, which `file validate` does not look into.

Each check is shown to fail on a config Kong would refuse, so a pass means something."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.providers.kong_config import render
from tests._tools import deck_run
from tests.gateway_fixtures import project, settings
from tests.kong_schema_rules import CONFIGS, ruleset

CASES = {
    "no-projects": settings(),
    "local": settings(project("blog"), project("shop")),
    "published": settings(project("blog", "blog-api.example.com"), project("shop", "shop-api.example.com"),
                          project("team", shared_auth=True), project("crew", shared_auth=True), functions=True,
                          dashboard_hostname="supabase.example.com", studio_hostname="studio.example.com"),
    # a cell's worth of projects (2 MB of config), for `file validate`
    "many": settings(*(project(f"p{i}", f"p{i}-api.example.com") for i in range(60))),
}
# The lint runs on the files up to four projects: the template gives every project the same
# plugin blocks, so those cover each one it can write (own and shared auth, with and without a
# hostname); decK's linter would skip a rule that runs past its 5 s on a file of 2 MB.
LINTED = sorted(set(CASES) - {"many"})


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("deck") / "kong-3.9.3-rules.yaml"
    path.write_text(yaml.safe_dump(ruleset(), sort_keys=False))
    return path


def write(tmp_path: Path, config: dict | str) -> Path:
    path = tmp_path / "kong.yml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False))
    return path


def validate(path: Path):
    return deck_run("file", "validate", str(path))


def lint(path: Path, rules: Path):
    done = deck_run("file", "lint", "--state", str(path), "--display-only-failures", str(rules))
    # decK skips a rule that runs over 5 s with a log line and no failure: never a pass
    assert "timed out" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_config_passes_decks_file_validate(tmp_path, case):
    done = validate(write(tmp_path, render(CASES[case])))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("case", LINTED)
def test_every_plugin_config_passes_kong_3_9_3s_plugin_schemas(tmp_path, rules, case):
    text = render(CASES[case])
    used = {p["name"] for s in yaml.safe_load(text)["services"] for p in s.get("plugins", [])}
    assert used <= set(CONFIGS)  # every plugin the file uses has its schema transcribed
    done = lint(write(tmp_path, text), rules)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Linting Violations" not in done.stdout


@pytest.fixture(scope="module")
def published_text() -> str:
    return render(CASES["published"])


@pytest.fixture
def published(published_text) -> dict:
    return yaml.safe_load(published_text)


def first(config: dict, plugin: str) -> dict:
    return next(p for s in config["services"] for p in s.get("plugins", []) if p["name"] == plugin)


@pytest.mark.parametrize("breaks, message", [
    (lambda c: c["consumers"][0].__setitem__("usernam", c["consumers"][0].pop("username")),
     "Additional property usernam is not allowed"),
    (lambda c: c["services"][0]["routes"][0].__setitem__("strip_path", "yes"), "strip_path"),
    (lambda c: c["services"][0]["routes"][0].__setitem__("pathz", ["/x"]), "Additional property pathz"),
])
def test_file_validate_refuses_a_broken_file(tmp_path, published, breaks, message):
    config = published
    breaks(config)
    done = validate(write(tmp_path, config))
    assert done.returncode != 0 and message in done.stdout + done.stderr


@pytest.mark.parametrize("breaks, message", [
    (lambda c: first(c, "jwt")["config"].__setitem__("key_claim_nam", "kid"), "'key_claim_nam' not allowed"),
    (lambda c: first(c, "jwt")["config"].__setitem__("claims_to_verify", ["exp", "iat"]), "must be one of"),
    (lambda c: first(c, "jwt")["config"].update(maximum_expiration=60, claims_to_verify=["nbf"]), "the jwt plugin"),
    (lambda c: first(c, "acl")["config"].__setitem__("deny", ["x"]), "the acl plugin"),
    (lambda c: first(c, "cors").__setitem__("config", {"methods": ["GETT"]}), "must be one of"),
    (lambda c: first(c, "key-auth")["config"].__setitem__("key_names", ["api key"]), "the key-auth plugin"),
    (lambda c: first(c, "pre-function").__setitem__("config", {}), "the pre-function plugin"),
    (lambda c: first(c, "request-transformer")["config"]["add"].__setitem__("headers", ["Content-Profile"]),
     "the request-transformer plugin"),
    (lambda c: first(c, "request-termination")["config"].__setitem__("status_code", 700), "the request-termination"),
    (lambda c: first(c, "basic-auth")["config"].__setitem__("hide_credential", True), "'hide_credential' not allowed"),
    (lambda c: c["services"][0].setdefault("plugins", []).append({"name": "rate-limiting", "config": {}}),
     "must be one of"),
    (lambda c: c["services"][0]["routes"][0].__setitem__("plugins", [{"name": "jwt", "config": {"realms": "x"}}]),
     "'realms' not allowed"),
    (lambda c: next(k for k in c["consumers"] if k.get("jwt_secrets"))["jwt_secrets"][0].__setitem__(
        "algorithm", "ES257"), "must be one of"),
])
def test_lint_refuses_what_kong_3_9_3s_schemas_refuse(tmp_path, rules, published, breaks, message):
    config = published
    breaks(config)
    done = lint(write(tmp_path, config), rules)
    assert done.returncode != 0 and message in done.stdout, done.stdout + done.stderr
