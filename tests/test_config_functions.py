"""`projects[].functions`: the folder, per-function verifyJwt and secrets, each problem named."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.core.config import ConfigError, parse_config

SECRET = frozenset({"postgresPassword", "jwtSecret", "dashboardPassword", "projects"})


@pytest.fixture(autouse=True)
def stack_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("hello", "_shared", "Bad.Name"):
        (tmp_path / "fns" / name).mkdir(parents=True)
        (tmp_path / "fns" / name / "index.ts").write_text("Deno.serve(() => new Response('x'))\n")
    (tmp_path / "empty").mkdir()


def problems(functions: dict, secret=SECRET) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config({"features": {"functions": True}, "projects": [{"name": "a", "functions": functions}]}, secret)
    return err.value.problems


def test_a_valid_block_lists_the_functions_named_as_supabase_names_them():
    config = parse_config({"features": {"functions": True}, "projects": [
        {"name": "a", "functions": {"dir": "fns", "verifyJwt": {"hello": False}, "secrets": {"TOKEN": "t"}}}]}, SECRET)
    f = config.projects[0].functions
    assert f.names == ["hello"] and not f.verifies("hello") and f.secrets["TOKEN"].get_secret_value() == "t"


@pytest.mark.parametrize("folder, rule", [
    ("/etc", "must be a folder inside the stack's folder"), ("../x", "must be a folder inside the stack's folder"),
    ("nope", "is not a folder"), ("empty", "holds no function"),
])
def test_the_folder_must_be_inside_the_stack_and_hold_functions(folder, rule):
    (line,) = problems({"dir": folder})
    assert line.startswith(f"projects[0].functions.dir: {folder!r} {rule}")


def test_verify_jwt_names_a_function_of_the_folder():
    (line,) = problems({"dir": "fns", "verifyJwt": {"helo": False}})
    assert "verifyJwt: helo not among the functions of 'fns' (hello)" in line


def test_secrets_are_env_names_not_supabases_own_and_never_shown():
    (line,) = problems({"dir": "fns", "secrets": {"SUPABASE_URL": "v4lue-1"}})
    assert line.startswith("projects[0].functions.secrets: SUPABASE_URL: names starting with SUPABASE_")
    (line,) = problems({"dir": "fns", "secrets": {"bad-name": "v4lue-2"}})
    assert "not environment variable names" in line and "v4lue" not in line


def test_secrets_in_plain_text_are_refused():
    lines = problems({"dir": "fns", "secrets": {"TOKEN": "t"}}, secret=frozenset())
    assert ("projects[0].functions.secrets.TOKEN: is stored in plain text; set it with "
            "`pulumi config set --secret --path 'projects[0].functions.secrets.TOKEN' ...`") in lines


def test_a_template_projects_disabled_functions_are_left_out():
    bye = Path("fns") / "bye"
    bye.mkdir()
    (bye / "index.ts").write_text("Deno.serve(() => new Response('bye'))\n")
    config = parse_config({"features": {"functions": True}, "projects": [
        {"name": "a", "functions": {"dir": "fns", "disabled": ["bye"]}}]}, SECRET)
    assert config.projects[0].functions.names == ["hello"]
    (line,) = problems({"dir": "fns", "disabled": ["nope"]})
    assert line.startswith("projects[0].functions: disabled: nope not among the functions of 'fns'")
    (line,) = problems({"dir": "fns", "disabled": "bye"})
    assert line.startswith("projects[0].functions.disabled: 'bye' must be a list")
