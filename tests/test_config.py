"""Config: every bad input gets one clear line naming key, value and rule; valid config round-trips."""
from __future__ import annotations

import pytest

from components.config import ConfigError, StackConfig, parse_config
from tests.program import RecordingMocks, dev_config, run_program


def problems(raw: dict, secret_keys=frozenset({"postgresPassword", "jwtSecret", "dashboardPassword"})) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, secret_keys)
    return err.value.problems


@pytest.mark.parametrize("name", ["Drop Table", "1abc", "a-b", "a" * 41, "", "x;drop", "Blog"])
def test_bad_project_names(name):
    (line,) = problems({"projects": [{"name": name}]})
    assert line.startswith(f"projects[0].name: {name!r} must be 1-40 characters")


@pytest.mark.parametrize("name", ["auth", "public", "pg_temp", "storage", "realtime", "extensions", "graphql_public",
                                  "vault", "supabase_functions", "information_schema", "pg_anything", "anon",
                                  "authenticator", "supabase_multi", "_archived_x"])
def test_system_names_are_refused(name):
    lines = problems({"projects": [{"name": name}]})
    assert lines and lines[0].startswith(f"projects[0].name: {name!r}")


def test_every_problem_is_reported_at_once_with_its_path():
    lines = problems({
        "projcts": [],
        "projects": [{"name": "ok"}, {"name": "ok"}, {"name": "b", "template": "nope"},
                     {"name": "c", "onDelete": "keep"}, {"name": "d", "tempalte": "blog"}],
    })
    assert lines == [
        "projects[3].onDelete: 'keep' must be one of 'archive' or 'drop'",
        "projects[4].tempalte: unknown key; did you mean 'template'?",
        "projcts: unknown key; did you mean 'projects'?",
        "projects[1].name: 'ok' is already used by projects[0]; names must be unique",
        "projects[2].template: 'nope' is not a template; choose one of blog, empty",
    ]


@pytest.mark.parametrize("value", ["0s", "99ms", "6min", "8", "8 s", "1h", "-1s", "8sec", "8s; reset all"])
def test_statement_timeout_is_a_bounded_postgres_duration(value):
    (line,) = problems({"projects": [{"name": "a", "statementTimeout": value}]})
    assert line == (f"projects[0].statementTimeout: {value!r} must be a duration from 100ms to 5min written as a "
                    "number and ms, s or min (e.g. 500ms, 8s, 1min)")


def test_statement_timeout_defaults_to_eight_seconds():
    config = parse_config({"projects": [{"name": "a"}, {"name": "b", "statementTimeout": "500ms"}]})
    assert [p.statement_timeout for p in config.projects] == ["8s", "500ms"]


def test_secrets_must_be_set_as_secrets_and_are_never_echoed():
    lines = problems({"jwtSecret": "too-short-and-plain"}, secret_keys=frozenset())
    assert lines == [
        "jwtSecret: is stored in plain text; set it with `pulumi config set --secret jwtSecret ...`",
        "jwtSecret: <hidden> must be at least 32 characters (GoTrue and PostgREST require it)",
    ]


def test_bind_address_ports_and_missing_name():
    lines = problems({"bindAddress": "localhost", "ports": {"kong": 70000}, "projects": [{"template": "blog"}]})
    assert "bindAddress: 'localhost' must be an IP address of the Docker host, e.g. 127.0.0.1" in lines
    assert "projects[0].name: is required" in lines
    assert any(line.startswith("ports.kong: 70000") for line in lines)


def test_templates_dir_adds_and_shadows_templates(tmp_path):
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "0001_init.sql.j2").write_text("select 1;")
    config = parse_config({"templatesDir": str(tmp_path), "projects": [{"name": "a", "template": "crm"}]})
    assert config.template_path("crm") == tmp_path / "crm"
    assert problems({"templatesDir": str(tmp_path / "missing")}) == [
        f"templatesDir: {str(tmp_path / 'missing')!r} is not a folder"]


def test_valid_config_round_trips():
    raw = {
        "projects": [{"name": "blog"}, {"name": "shop", "template": "empty", "onDelete": "drop"}],
        "bindAddress": "0.0.0.0",
        "ports": {"kong": 8080, "postgres": 54322, "kongAdmin": 8001},
        "jwtSecret": "x" * 40,
    }
    config = parse_config(raw)
    dumped = config.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    dumped["jwtSecret"] = config.jwt_secret.get_secret_value()
    assert StackConfig.model_validate(dumped) == config
    assert [p.on_delete for p in config.projects] == ["archive", "drop"]
    assert "x" * 40 not in repr(config)


def test_dev_stack_config_is_valid():
    config = parse_config({k.split(":", 1)[1]: v for k, v in dev_config().items()})
    assert [p.name for p in config.projects] == ["blog", "shop"] and config.cloudflare is None


def test_bad_config_fails_before_any_resource_is_declared():
    recorder = RecordingMocks()
    with pytest.raises(ConfigError, match=r"projects\[0\]\.name: 'Drop Table'"):
        run_program({"projects": [{"name": "Drop Table"}]}, recorder=recorder)
    assert recorder.resources == []
