"""Stack config `extensions` (components/core/config/extensions.py): the operator's allowlist of
extensions apps may ask for, validated before any resource, errors naming the entry and the fix."""
from __future__ import annotations

import pytest

from components.core.config import ConfigError, parse_config
from tests import apps

SECRETS = frozenset({"postgresPassword", "jwtSecret", "dashboardPassword"})


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, SECRETS)
    return err.value.problems


def test_the_allowlist_is_read_and_defaults_to_none():
    assert parse_config({"extensions": ["vector", "http", "uuid-ossp"]}, SECRETS).extensions == [
        "vector", "http", "uuid-ossp"]
    assert parse_config({}, SECRETS).extensions == []


@pytest.mark.parametrize("entry, says", [
    ("Vector; drop", "is not an extension name"),
    ("dblink", "cannot be shared by projects: it connects to other servers"),
    ("file_fdw", "reads the server's files"),
])
def test_a_bad_entry_is_named_with_the_fix(entry, says):
    (line,) = problems({"extensions": ["vector", entry]})
    assert line.startswith("extensions: ") and f"[1] {entry!r}" in line and says in line


def test_a_duplicate_is_named():
    (line,) = problems({"extensions": ["vector", "vector"]})
    assert line.startswith("extensions: ") and "[1] 'vector' is listed twice; remove one" in line


def test_an_app_asking_for_an_unlisted_extension_is_a_config_error_with_the_fix():
    folder = str(apps.folder("chatbot_ui"))
    lines = problems({"projects": [{"name": "chat", "supabaseDir": folder}]})
    assert any("20240108234540_setup.sql:5" in p and "add vector to `extensions` in the stack config" in p
               for p in lines)
    listed = problems({"extensions": ["vector", "http"], "projects": [{"name": "chat", "supabaseDir": folder}]})
    assert not any("create extension" in p for p in listed)
