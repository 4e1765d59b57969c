"""`projects[].supabaseDir`: config validation, config.toml mapped onto the project's settings,
and the resources a supabaseDir project declares (the real __main__.py under Pulumi mocks)."""
from __future__ import annotations

import shutil

import pytest

from components.core import app_config
from components.core.config import ConfigError, parse_config
from tests import apps
from tests.program import dev_config, run_program

MIGRATIONS = "pulumi-python:dynamic/supabase:ProjectMigrations"
PAYMENTS = "nextjs_subscription_payments"
SECRETS = frozenset({"postgresPassword", "jwtSecret", "dashboardPassword"})


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, SECRETS)
    return err.value.problems


def test_a_project_has_a_template_or_a_supabase_dir_not_both():
    folder = str(apps.folder(PAYMENTS))
    (line,) = problems({"projects": [{"name": "shop", "template": "blog", "supabaseDir": folder}]})
    assert line.startswith("projects[0]: template and supabaseDir: a project is made from either")


def test_a_supabase_dir_must_be_a_cli_folder(tmp_path):
    (line,) = problems({"projects": [{"name": "shop", "supabaseDir": str(tmp_path / "nope")}]})
    assert line.startswith("projects[0].supabaseDir: ") and "is not a Supabase CLI folder" in line


def test_refused_statements_are_config_errors_naming_file_line_and_fix():
    lines = problems({"projects": [{"name": "todo", "supabaseDir": str(apps.folder("supabase_nextjs_template"))}]})
    assert lines[0].startswith("projects[0].supabaseDir: supabase/migrations/20250107210416_MFA.sql:1: "
                               "`create schema if not exists \"authenticative\"`: a project has one schema")


def test_config_toml_becomes_the_projects_settings_and_the_stack_config_wins(monkeypatch):
    folder = apps.folder(PAYMENTS)
    monkeypatch.setenv("SUPABASE_AUTH_EXTERNAL_GITHUB_CLIENT_ID", "gh-id")
    monkeypatch.setenv("SUPABASE_AUTH_EXTERNAL_GITHUB_SECRET", "gh-secret")
    config = parse_config({"projects": [{"name": "shop", "supabaseDir": str(folder),
                                         "auth": {"siteUrl": "https://shop.example.com"}}]}, SECRETS)
    (shop,) = config.projects
    assert shop.auth.site_url == "https://shop.example.com"  # the stack config's, over config.toml's localhost
    assert shop.auth.redirect_urls == ["https://127.0.0.1:3000"] and shop.auth.jwt_expiry == 3600
    assert shop.auth.signup == "open" and shop.auth.autoconfirm is True  # enable_confirmations = false
    assert shop.auth.external["github"].client_id == "gh-id"
    assert shop.auth.external["github"].secret.get_secret_value() == "gh-secret"  # a SecretStr, never plain
    assert shop.source == f"supabaseDir:{folder.as_posix()}"


def test_keys_the_stack_cannot_honour_are_reported():
    found = app_config.warnings(apps.folder(PAYMENTS), "projects[0].supabaseDir")
    assert any("api.max_rows in config.toml cannot be honoured per project" in w for w in found)
    assert any("auth.external.github.client_id = env(SUPABASE_AUTH_EXTERNAL_GITHUB_CLIENT_ID) is not set" in w
               for w in found)
    assert not any(".port " in w or "studio" in w for w in found)


def test_a_supabase_dir_project_declares_its_app(tmp_path):
    config = dev_config()
    config["supabase-multi-instance:projects"] = [{"name": "shop", "supabaseDir": str(apps.folder(PAYMENTS))}]
    run = run_program(config)
    (sql,) = [r for r in run.of_type(MIGRATIONS) if r.inputs["project"] == "shop"]
    assert [m["filename"] for m in sql.inputs["migrations"]] == ["20230530034630_init.sql"]
    assert sql.inputs["migrations"][0]["version"] == 20230530034630
    assert sql.inputs["template"] == f"supabaseDir:{apps.folder(PAYMENTS).as_posix()}"
    assert sql.inputs["published_tables"] == ["products", "prices"]
    assert sql.inputs["app_seed"] == {"enabled": True, "paths": ["./seed.sql"]}
    assert "create table" not in str(sql.inputs).lower()  # checksums in state, not SQL


def test_the_extensions_allowlist_reaches_the_bootstrap_and_the_apps_sql_step():
    """chatbot-ui asks for `vector` and `http`: with them listed, the program under mocks declares
    the stack bootstrap installing them and the app's SQL step planning with them."""
    config = dev_config()
    config["supabase-multi-instance:extensions"] = ["vector", "http"]
    chat = {"name": "chat", "supabaseDir": str(apps.folder("chatbot_ui"))}
    config["supabase-multi-instance:projects"] = [chat]
    with pytest.raises(ConfigError, match=r"seed.sql:1: .*or turn the seed off \(`projects\[\]\.seed: false` in the stack config\)"):
        run_program(config)
    config["supabase-multi-instance:projects"] = [{**chat, "seed": False}]  # its seed writes auth.users: off
    run = run_program(config)
    (boot,) = run.of_type("pulumi-python:dynamic/supabase:StackBootstrap")
    assert boot.inputs["extensions"] == ["vector", "http"]
    (sql,) = [r for r in run.of_type(MIGRATIONS) if r.inputs["project"] == "chat"]
    assert sql.inputs["app_extensions"] == ["vector", "http"]
    assert len(sql.inputs["migrations"]) == 25
    assert sql.inputs["app_seed"] == {"enabled": False, "paths": ["./seed.sql"]}


@pytest.mark.parametrize(("project", "expected"), [
    ({"name": "a", "seed": "maybe"}, "projects[0].seed: 'maybe' must be true or false"),
    ({"name": "a", "seed": True}, "seed: only a supabaseDir project has a seed.sql"),
])
def test_bad_seed_values_are_refused(project, expected):
    assert any(expected in line for line in problems({"projects": [project]}))
