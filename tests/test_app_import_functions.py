"""A `supabaseDir` app's own Edge Functions (components/core/app_functions.py): read from
`<supabaseDir>/functions` with config.toml's `verify_jwt`, the stack config's verifyJwt and secrets
over them, the edge runtime required, unhonoured `[functions.<name>]` keys reported; and the
program (real __main__.py under Pulumi mocks) deploying them as the project's ProjectEdgeFunctions.

The app is Supabase's own examples/edge-functions (tests/fixtures/apps/supabase_edge_functions).
One of its migrations is not SQL (`) tablespace;` with no name): that refusal is asserted as such,
and the other tests deploy the app without that one file (`app` below)."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.core import app_functions, function_files
from components.core.config import ConfigError, parse_config, warnings
from tests import apps
from tests.program import dev_config, run_program

APP, REFUSED = apps.EDGE_FUNCTIONS, apps.EDGE_FUNCTIONS_UNPARSABLE
SECRETS = frozenset({"postgresPassword", "jwtSecret", "dashboardPassword", "projects"})
DEPLOY = "pulumi-python:dynamic/supabase:ProjectFunctions"
COMPONENT = "supabase-multi-instance:index:ProjectEdgeFunctions"


@pytest.fixture
def app(tmp_path) -> Path:
    """The app's supabase/ folder as its repository has it, less the migration PostgreSQL cannot parse."""
    return apps.deployable(APP, tmp_path, (REFUSED,))


def stack(app: Path, functions: dict | None = None, feature: bool = True, **extra) -> dict:
    project = {"name": "tasks", "supabaseDir": str(app), **({"functions": functions} if functions else {}), **extra}
    return {"features": {"functions": feature}, "projects": [project]}


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, SECRETS)
    return err.value.problems


def test_the_apps_functions_are_the_projects_with_config_tomls_verify_jwt(app):
    (tasks,) = parse_config(stack(app), SECRETS).projects
    assert tasks.functions is not None and tasks.functions.dir == app / "functions"
    assert tasks.functions.names == ["browser-with-cors", "restful-tasks"]
    # [functions.browser-with-cors] verify_jwt = false; [functions.restful-tasks] sets none: the CLI's true
    assert tasks.functions.verifies("browser-with-cors") is False
    assert tasks.functions.verifies("restful-tasks") is True
    assert tasks.functions.secrets == {}


def test_the_stack_configs_verify_jwt_wins_and_its_secrets_are_added(app):
    raw = stack(app, {"verifyJwt": {"browser-with-cors": True, "restful-tasks": False},
                      "secrets": {"TASKS_TOKEN": "t0ken"}})
    (tasks,) = parse_config(raw, SECRETS).projects
    assert tasks.functions.verifies("browser-with-cors") and not tasks.functions.verifies("restful-tasks")
    assert tasks.functions.secrets["TASKS_TOKEN"].get_secret_value() == "t0ken"  # a SecretStr, never plain


def test_function_secrets_in_plain_text_are_refused(app):
    raw = stack(app, {"secrets": {"TASKS_TOKEN": "t0ken"}})
    with pytest.raises(ConfigError) as err:
        parse_config(raw, frozenset({"postgresPassword", "jwtSecret", "dashboardPassword"}))
    assert ("projects[0].functions.secrets.TASKS_TOKEN: is stored in plain text; set it with "
            "`pulumi config set --secret --path 'projects[0].functions.secrets.TASKS_TOKEN' ...`") in err.value.problems


def test_an_app_with_functions_needs_the_edge_runtime(app):
    (line,) = problems(stack(app, feature=False))
    assert line == (f"projects[0].supabaseDir: the app has Edge Functions (browser-with-cors, restful-tasks in "
                    f"{app / 'functions'}) and they need the stack's edge runtime; set features.functions: true")


@pytest.mark.parametrize("functions, expected", [
    ({"dir": "fns"}, "projects[0].functions.dir: a supabaseDir project serves its app's own"),
    ({"verifyJwt": {"nope": False}}, "projects[0].functions: verifyJwt: nope not among the functions of"),
    ({"secrets": {"SUPABASE_URL": "x"}}, "projects[0].functions.secrets: SUPABASE_URL: names starting with SUPABASE_"),
])
def test_bad_stack_settings_for_an_apps_functions_name_the_field(app, functions, expected):
    found = problems(stack(app, functions))
    assert any(line.startswith(expected) for line in found), found


def test_functions_settings_for_an_app_without_functions_are_refused():
    folder = apps.folder("nextjs_subscription_payments")
    assert parse_config({"projects": [{"name": "shop", "supabaseDir": str(folder)}]}, SECRETS).projects[0].functions is None
    (line,) = problems({"features": {"functions": True},
                        "projects": [{"name": "shop", "supabaseDir": str(folder), "functions": {"verifyJwt": {}}}]})
    assert line.startswith("projects[0].functions: ") and "holds no function" in line


def test_function_keys_the_stack_cannot_honour_are_warnings(app):
    (app / "functions" / "kysely-postgres").mkdir()  # config.toml gives it an import_map
    (app / "functions" / "kysely-postgres" / "index.ts").write_text("Deno.serve(() => new Response('ok'))\n")
    found = app_functions.warnings(app, "projects[0].supabaseDir")
    assert any(w.startswith("projects[0].supabaseDir: functions.kysely-postgres.import_map in config.toml is not "
                            "applied") for w in found), found
    (absent,) = [w for w in found if "configures functions with no folder" in w]
    assert "wasm-modules" in absent and "restful-tasks" not in absent and "kysely-postgres" not in absent
    config = parse_config(stack(app), SECRETS)
    assert set(found) <= set(warnings(config))  # what preview prints


def test_entrypoint_and_static_files_and_disabled_functions_are_reported(tmp_path):
    (tmp_path / "migrations").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "functions" / name).mkdir(parents=True)
        (tmp_path / "functions" / name / "index.ts").write_text("Deno.serve(() => new Response('ok'))\n")
    (tmp_path / "config.toml").write_text('[functions.a]\nentrypoint = "./functions/a/main.ts"\n'
                                          '[functions.b]\nstatic_files = ["./functions/b/*.html"]\n'
                                          '[functions.c]\nenabled = false\nentrypoint = "./functions/c/index.ts"\n')
    found = app_functions.warnings(tmp_path, "p")
    assert [w.split(" in config.toml")[0] for w in found] == [
        "p: functions.a.entrypoint = './functions/a/main.ts'", "p: functions.b.static_files"]
    assert not [w for w in found if "enabled" in w]  # honoured, not reported (below)


def disabling_app(folder: Path) -> Path:
    """An app with functions `live` and `off`, config.toml turning `off` off, and their shared code."""
    (folder / "migrations").mkdir(parents=True)
    for name in ("live", "off", "_shared"):
        (folder / "functions" / name).mkdir(parents=True)
    for name in ("live", "off"):
        (folder / "functions" / name / "index.ts").write_text(f"Deno.serve(() => new Response('{name}'))\n")
    (folder / "functions" / "_shared" / "cors.ts").write_text("export const cors = {}\n")
    (folder / "config.toml").write_text('[functions.off]\nenabled = false\n')
    return folder


def test_a_function_config_toml_turns_off_is_not_served(tmp_path):
    app = disabling_app(tmp_path / "supabase")
    (tasks,) = parse_config(stack(app), SECRETS).projects
    assert tasks.functions.names == ["live"] and tasks.functions.disabled == ["off"]
    config = dev_config()
    config["supabase-multi-instance:features"] = {"functions": True}
    config["supabase-multi-instance:projects"] = [{"name": "tasks", "supabaseDir": str(app)}]
    (deploy,) = run_program(config).of_type(DEPLOY)
    assert set(function_files.decoded(deploy.inputs["files"])) == {"live/index.ts", "_shared/cors.ts"}


def test_the_stack_config_may_turn_off_more_of_an_apps_functions_and_nothing_else(tmp_path):
    app = disabling_app(tmp_path / "supabase")
    (tasks,) = parse_config(stack(app, {"disabled": ["live"]}), SECRETS).projects
    assert tasks.functions.names == [] and tasks.functions.disabled == ["live", "off"]
    assert problems(stack(app, {"disabled": ["gone"]})) == [
        "projects[0].functions: disabled: gone not among the functions of "
        f"{str(app / 'functions')!r} (live, off)"]
    (problem,) = problems(stack(app, {"verifyJwt": {"live": False}, "entrypoints": {}}))
    assert problem.startswith("projects[0].functions.entrypoints: not a setting of an app's functions")


def test_a_migration_postgresql_cannot_parse_is_refused_by_file_and_line():
    found = problems(stack(apps.folder(APP)))
    assert found == [f"projects[0].supabaseDir: supabase/{REFUSED}:7: not SQL PostgreSQL parses "
                     "(syntax error at or near \";\", at index 264)"]


def test_the_program_deploys_the_apps_functions_under_its_project(app):
    config = dev_config()
    config["supabase-multi-instance:features"] = {"functions": True}
    config["supabase-multi-instance:projects"] = [{"name": "tasks", "supabaseDir": str(app)}, {"name": "blog"}]
    run = run_program(config)
    (deploy,) = run.of_type(DEPLOY)
    assert deploy.inputs["project"] == "tasks"
    assert function_files.decoded(deploy.inputs["files"]) == {
        "browser-with-cors/index.ts": (app / "functions/browser-with-cors/index.ts").read_bytes(),
        "restful-tasks/index.ts": (app / "functions/restful-tasks/index.ts").read_bytes()}
    (component,) = run.of_type(COMPONENT)
    assert run.parent_of(deploy) == component and run.parent_of(component).name == "tasks"
    runtime = next(r for r in run.of_type("docker:index/container:Container") if r.name == "functions")
    assert runtime.urn in deploy.dependencies
