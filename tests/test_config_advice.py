"""Config that works but does not do what its author meant: warned at preview, and the
README's sample config valid as written."""
from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest
import yaml

from components.core.config import NAMESPACE, namespace_warnings, parse_config, warnings

ROOT = Path(__file__).resolve().parent.parent


def readme_sample() -> dict:
    """The first yaml block of the README's Projects section, as a stack file holds it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Projects"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    config = yaml.safe_load(block)["config"]
    return {key.split(":", 1)[1]: value for key, value in config.items()}


def test_the_readmes_sample_config_is_valid_as_written():
    config = parse_config(readme_sample())
    assert [p.name for p in config.projects] == ["blog", "shop"]
    assert config.projects[1].storage.buckets[1].file_size_limit == 5_000_000


@pytest.mark.parametrize("raw, path", [
    ({"projects": [{"name": "shop", "hostname": "shop.example.org"}]}, "projects[0].hostname"),
    ({"hostnames": {"studio": "studio.example.org"}}, "hostnames.studio"),
])
def test_a_hostname_that_nothing_serves_is_warned(raw, path):
    (message,) = [w for w in warnings(parse_config(raw)) if "served by nothing" in w]
    assert message.startswith(f"{path}: ") and "publicUrl" in message and "cloudflare" in message


def test_a_hostname_behind_the_users_proxy_is_not_warned():
    raw = {"publicUrl": "https://supabase.example.lan", "projects": [{"name": "shop", "hostname": "shop.example.lan"}]}
    assert not [w for w in warnings(parse_config(raw)) if "served by nothing" in w]


@pytest.fixture
def stack_config():
    def use(values: dict) -> None:
        pulumi.runtime.set_all_config(values, [])
    yield use
    pulumi.runtime.set_all_config({}, [])


def test_a_mistyped_namespace_is_warned(stack_config):
    stack_config({"supabase-multi-instanse:projects": '[{"name": "blog"}]', "docker:host": "unix:///var/run/docker.sock"})
    (message,) = namespace_warnings()
    assert "'supabase-multi-instanse'" in message and "no project" in message and "docker" not in message


def test_a_config_with_our_keys_is_not_warned(stack_config):
    stack_config({f"{NAMESPACE}:projects": '[{"name": "blog"}]'})
    assert namespace_warnings() == []
