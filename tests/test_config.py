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


def with_buckets(*entries) -> dict:
    return {"projects": [{"name": "blog", "storage": {"buckets": list(entries)}}]}


def test_bucket_problems_name_their_key_path():
    lines = problems(with_buckets(
        {"name": "Avatars"}, {"name": "docs", "fileSizeLimit": "5 parsecs"}, {"name": "docs"},
        {"name": "big", "fileSizeLimit": 10**9}, {"name": "odd", "allowedMimeTypes": ["image/png", "png"]},
        {"name": "x", "publik": True}, {"public": True}))
    assert lines == [
        "projects[0].storage.buckets[0].name: 'Avatars' must be 1-59 characters of a-z, 0-9, '_' and '-', "
        "starting with a letter or digit",
        "projects[0].storage.buckets[1].fileSizeLimit: '5 parsecs' must be a number of bytes or a size such as "
        "'5MB' (units B, KB, MB, GB)",
        "projects[0].storage.buckets[3].fileSizeLimit: 1000000000 must be at most 52428800 bytes (50MiB), "
        "the stack's upload limit",
        "projects[0].storage.buckets[4].allowedMimeTypes: ['image/png', 'png'] must list MIME types such as "
        "image/png or image/*; not: 'png'",
        "projects[0].storage.buckets[5].publik: unknown key; did you mean 'public'?",
        "projects[0].storage.buckets[6].name: is required",
        "projects[0].storage.buckets[2].name: 'docs' is already used by projects[0].storage.buckets[1]; "
        "bucket names must be unique in a project",
    ]


@pytest.mark.parametrize("given, parsed", [(1024, 1024), ("1.5MB", 1_500_000), ("20kb", 20_000), ("7B", 7),
                                           ("50MB", 50_000_000)])
def test_file_size_limits_read_as_storage_reads_them(given, parsed):
    (project,) = parse_config(with_buckets({"name": "a", "fileSizeLimit": given})).projects
    assert project.storage.buckets[0].file_size_limit == parsed


def test_buckets_default_to_private_without_limits():
    config = parse_config(with_buckets({"name": "files"}, {"name": "pics", "public": True,
                                                          "allowedMimeTypes": ["image/*", "text/plain; charset=utf-8"]}))
    files, pics = config.projects[0].storage.buckets
    assert (files.public, files.file_size_limit, files.allowed_mime_types) == (False, None, None)
    assert pics.public and pics.allowed_mime_types == ["image/*", "text/plain; charset=utf-8"]
