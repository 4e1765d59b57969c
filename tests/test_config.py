"""Config: every bad input gets one clear line naming key, value and rule; valid config round-trips."""
from __future__ import annotations

import pytest

from components.core.config import ConfigError, StackConfig, parse_config, warnings
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


# -- messages in the config's own words ----------------------------------------------------

PYDANTIC_WORDING = ("Input should", "valid dictionary", "instance of", "pydantic", "Value error", "[type=")


@pytest.mark.parametrize(("raw", "expected"), [
    ({"projects": "blog"}, "projects: 'blog' must be a list"),
    ({"projects": ["blog"]}, "projects[0]: 'blog' must be an object with keys name, template, onDelete, hostname, statementTimeout, auth, storage, keys, functions, supabaseDir, seed"),
    ({"projects": [{"name": 5}]}, "projects[0].name: 5 must be text"),
    ({"projects": [{"name": None}]}, "projects[0].name: None must be text"),
    ({"ports": {"kong": "abc"}}, "ports.kong: 'abc' must be a TCP port number from 1 to 65535"),
    ({"ports": {"kong": 80.5}}, "ports.kong: 80.5 must be a TCP port number from 1 to 65535"),
    ({"ports": {"postgres": [1]}}, "ports.postgres: [1] must be a TCP port number from 1 to 65535"),
    ({"ports": {"kongAdmin": 0}}, "ports.kongAdmin: 0 must be a TCP port number from 1 to 65535"),
    ({"ports": {"kong": 10**30}}, f"ports.kong: {10**30} must be a TCP port number from 1 to 65535"),
    ({"ports": "8000"}, "ports: '8000' must be an object with keys kong, postgres, kongAdmin"),
    ({"features": {"pooler": "maybe"}}, "features.pooler: 'maybe' must be true or false"),
    ({"features": {"analytics": [1]}}, "features.analytics: [1] must be true or false"),
    ({"features": "all"}, "features: 'all' must be an object with keys analytics, functions, pooler"),
    ({"hostnames": []}, "hostnames: [] must be an object with keys api, studio, dashboard"),
    ({"templatesDir": 5}, "templatesDir: 5 must be a folder path (text)"),
    ({"domain": 5}, "domain: 5 must be text"),
    ({"bindAddress": 5}, "bindAddress: 5 must be text"),
    ({"cloudflare": "x", "domain": "example.com"},
     "cloudflare: 'x' must be an object with keys accountId, zoneId, accessEmails"),
    ({"cloudflare": {"accountId": "a" * 32, "zoneId": "b" * 32, "accessEmails": "me@example.com"},
      "domain": "example.com"}, "cloudflare.accessEmails: 'me@example.com' must be a list"),
    ({"cloudflare": {"accountId": "a" * 32, "zoneId": "b" * 32, "accessEmails": [7]}, "domain": "example.com"},
     "cloudflare.accessEmails[0]: 7 must be text"),
    ({"projects": [{"name": "a", "onDelete": 3}]}, "projects[0].onDelete: 3 must be one of 'archive' or 'drop'"),
    ({"postgresPassword": 12345678901234567}, "postgresPassword: <hidden> must be text"),
])
def test_every_type_error_speaks_the_configs_language(raw, expected):
    lines = problems(raw)
    assert lines == [expected]
    assert not [line for line in lines for word in PYDANTIC_WORDING if word in line]


def test_config_errors_end_a_pulumi_run_without_a_traceback():
    """Pulumi's Python language host logs str(error) of a RunError and nothing else
    (pulumi/pulumi sdk/python/cmd/pulumi-language-python-exec); other exceptions get a traceback."""
    import pulumi

    with pytest.raises(ConfigError) as err:
        run_program({"projects": [{"name": "Drop Table"}, {"name": "x"}], "ports": {"postgres": 8000}})
    assert isinstance(err.value, pulumi.RunError)
    assert str(err.value).splitlines() == [
        "invalid stack config (2 problems):",
        "  - projects[0].name: 'Drop Table' must be 1-40 characters of a-z, 0-9 and _, starting with a letter (e.g. my_app)",
        "  - ports.postgres: 8000 is already the port of ports.kong; each published port must differ",
    ]


@pytest.mark.parametrize(("key", "entry"), [
    ("name", {"name": "blog\n"}),
    ("template", {"name": "shop", "template": "blog\n"}),
])
def test_a_trailing_newline_is_not_part_of_a_valid_name(key, entry):
    (line,) = problems({"projects": [entry]})
    assert line.startswith(f"projects[0].{key}: {entry[key]!r} must be")


def test_names_that_differ_only_by_a_trailing_newline_are_not_two_projects():
    lines = problems({"projects": [{"name": "blog"}, {"name": "blog\n"}]})
    assert lines == ["projects[1].name: 'blog\\n' must be 1-40 characters of a-z, 0-9 and _, starting with a letter "
                     "(e.g. my_app)"]


def test_a_trailing_newline_is_refused_in_cloudflare_ids_and_emails():
    lines = problems({"domain": "example.com", "cloudflare": {
        "accountId": "a" * 32 + "\n", "zoneId": "b" * 32, "accessEmails": ["me@example.com\n"]}})
    assert [line.split(":")[0] for line in lines] == ["cloudflare.accountId", "cloudflare.accessEmails"]


def test_no_pattern_in_the_code_is_used_with_match():
    """re.match with `$` accepts "blog\\n"; every validating pattern here is used with fullmatch.
    Read as Python (ast), so Lua or SQL inside strings is not mistaken for a call."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    found = [f"{p.relative_to(root)}:{node.lineno}" for folder in ("components", "dashboard")
             for p in (root / folder).rglob("*.py") for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "match"]
    assert found == []


# -- published ports ----------------------------------------------------------------------


def test_two_services_on_one_published_port_are_refused():
    assert problems({"ports": {"postgres": 8000}}) == [
        "ports.postgres: 8000 is already the port of ports.kong; each published port must differ"]
    parse_config({"ports": {"kong": 9000, "kongAdmin": 9000}}, frozenset())  # retired: nothing listens there


def test_the_retired_kong_admin_port_loads_with_a_warning():
    config = parse_config({"ports": {"kongAdmin": 8001}}, frozenset())
    (warning,) = [w for w in warnings(config) if w.startswith("ports.kongAdmin")]
    assert "no longer used" in warning and "pulumi config rm --path ports.kongAdmin" in warning


def test_the_pooler_port_clashes_only_when_the_pooler_is_on():
    assert parse_config({"ports": {"postgres": 6543}}).ports.postgres == 6543
    assert problems({"ports": {"postgres": 6543}, "features": {"pooler": True}}) == [
        "features.pooler: Supavisor publishes port 6543, which ports.postgres already uses; choose another ports.postgres"]


# -- publicUrl ----------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "stored"), [
    ("https://supabase.example.lan", "https://supabase.example.lan"),
    ("HTTPS://Supabase.Example.LAN/", "https://supabase.example.lan"),
    ("http://192.168.1.10:8000", "http://192.168.1.10:8000"),
    ("http://nas:8000", "http://nas:8000"),
    ("http://[fd00::10]:8000", "http://[fd00::10]:8000"),
])
def test_public_url_is_normalised(given, stored):
    assert parse_config({"publicUrl": given}).public_url == stored


@pytest.mark.parametrize("bad", ["supabase.example.lan", "ftp://example.lan", "https://example.lan/supabase",
                                 "https://example.lan?x=1", "https://user:pw@example.lan", "https://example.lan:99999",
                                 "https://exa mple.lan", "https://"])
def test_bad_public_urls_are_refused(bad):
    (line,) = problems({"publicUrl": bad})
    assert line.startswith(f"publicUrl: {bad!r} must be the URL your reverse proxy")


def test_public_url_and_cloudflare_are_exclusive():
    assert problems({"publicUrl": "https://api.example.com", "domain": "example.com",
                     "cloudflare": {"accountId": "a" * 32, "zoneId": "b" * 32}}) == [
        "publicUrl: set either publicUrl (your own reverse proxy or LAN) or cloudflare (a Cloudflare tunnel), not both"]


# -- warnings -------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "0:0::0"])
def test_a_wildcard_bind_address_warns_what_it_exposes(address):
    (warning,) = warnings(parse_config({"bindAddress": address, "features": {"pooler": True}}))
    assert warning.startswith(f"bindAddress: {address!r} listens on every interface")
    assert "Postgres on port 5432 (superuser logins supabase_admin and postgres" in warning
    assert "Kong on port 8000" in warning and "Supavisor on port 6543" in warning
    assert "admin API" not in warning  # Kong's admin API is not published at all


@pytest.mark.parametrize("address", ["127.0.0.1", "192.168.1.10", "::1"])
def test_a_single_bind_address_does_not_warn(address):
    assert warnings(parse_config({"bindAddress": address})) == []


def _leaf_paths(model, prefix: tuple = ()) -> list[tuple]:
    """Every config key path of the models, lists entered at index 0."""
    import typing

    from pydantic import BaseModel

    def models_in(annotation, key):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return _leaf_paths(annotation, key)
        inside = key + (0,) if typing.get_origin(annotation) is list else key
        return [p for arg in typing.get_args(annotation) for p in models_in(arg, inside)]

    paths = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name,)
        paths += [key, *models_in(field.annotation, key)]
    return paths


def _nest(path: tuple, value):
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    return value


@pytest.mark.parametrize("bad", [[], {}, "x", 1.5, None, True, [{}]], ids=repr)
def test_no_key_of_the_config_answers_in_pydantics_words(bad):
    """Every key, nested ones included, fed values of the wrong type: the rule is always ours."""
    seen = []
    for path in _leaf_paths(StackConfig):
        try:
            parse_config(_nest(path, bad))
        except ConfigError as err:
            seen += err.problems
    assert seen, "not vacuous: wrong types are refused"
    odd = [line for line in seen if any(w in line for w in PYDANTIC_WORDING) or "is not a valid value here" in line]
    assert odd == []


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


def test_a_bucket_name_may_not_be_another_buckets_id():
    """The gateway maps a bucket's name and its id alike (components/core/kong_storage_lua.py):
    in project blog, a bucket named `blog-x` would shadow the id of bucket `x`."""
    assert problems(with_buckets({"name": "x"}, {"name": "blog-x"})) == [
        "projects[0].storage.buckets[1].name: 'blog-x' is the id of projects[0].storage.buckets[0] ('x'); "
        "clients name buckets by name or id on the project's URL, so give it another name"]
    parse_config(with_buckets({"name": "blog-x"}, {"name": "y"}))  # a name like an id, of no bucket: fine


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
