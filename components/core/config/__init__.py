"""The stack config contract, validated in one place before any resource is declared.

Every problem is reported at once, one line each, naming the key path, the bad value and
the rule, so a user fixes a config in one round instead of one error per `pulumi up`.

rules.py (patterns, reserved names) <- models.py (typed blocks; cell.py, backups.py,
functions.py, key_seeds.py, extensions.py: blocks of their own) <- errors.py (problem lines)
<- checks.py (parse_config) ; advice.py (warnings). This module reads Pulumi's config.
"""
from __future__ import annotations

import json
from typing import Any

import pulumi

from components.core.config.advice import public_hostname_settings, warnings
from components.core.config.backups import BackupsConfig, S3Config
from components.core.config.checks import nested_secret_paths, parse_config, published_ports
from components.core.config.errors import ConfigError
from components.core.config.functions import FunctionsConfig
from components.core.config.models import (
    AuthSettings,
    BucketConfig,
    CloudflareConfig,
    Features,
    Hostnames,
    KeysConfig,
    OAuthProviderConfig,
    Ports,
    ProjectAuthConfig,
    ProjectConfig,
    SmtpConfig,
    StackConfig,
    StorageConfig,
)
from components.core.config.rules import (
    BUILTIN_TEMPLATES,
    NAMESPACE,
    NESTED_SECRET_KEYS,
    POOLER_TRANSACTION_PORT,
    SECRET_KEYS,
    available_templates,
    template_roots,
)

__all__ = [
    "AuthSettings",
    "BUILTIN_TEMPLATES",
    "BackupsConfig",
    "BucketConfig",
    "CloudflareConfig",
    "ConfigError",
    "Features",
    "FunctionsConfig",
    "Hostnames",
    "KeysConfig",
    "NAMESPACE",
    "NESTED_SECRET_KEYS",
    "OAuthProviderConfig",
    "POOLER_TRANSACTION_PORT",
    "Ports",
    "ProjectAuthConfig",
    "ProjectConfig",
    "S3Config",
    "SECRET_KEYS",
    "SmtpConfig",
    "StackConfig",
    "StorageConfig",
    "available_templates",
    "load_config",
    "namespace_values",
    "raw_namespace_config",
    "namespace_warnings",
    "nested_secret_paths",
    "parse_config",
    "public_hostname_settings",
    "published_ports",
    "template_roots",
    "warnings",
]


def raw_namespace_config() -> dict[str, Any]:
    """Every key of our namespace, as set in the stack (typos included)."""
    return namespace_values({**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()})


def namespace_values(config: dict[str, Any]) -> dict[str, Any]:
    """`supabase-multi-instance:<key>` -> value, decoded, as the program reads a stack's config
    (and `python -m cells` reads each cell's, from the Automation API)."""
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix):]: _decode(value) for key, value in config.items() if key.startswith(prefix)}


# Namespaces of the providers the program uses: their keys (e.g. docker:host) are expected.
PROVIDER_NAMESPACES = frozenset({"pulumi", "docker", "postgresql", "cloudflare", "random"})


def namespace_warnings() -> list[str]:
    """A stack with no key in the program's namespace deploys no project, which a typo in the
    namespace (`supabase-multi-instanse:projects`) would do silently."""
    keys = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    if any(k.startswith(f"{NAMESPACE}:") for k in keys):
        return []
    others = sorted({k.split(":", 1)[0] for k in keys if ":" in k} - PROVIDER_NAMESPACES)
    found = f" (keys were found under {', '.join(repr(o) for o in others)}: a mistyped namespace?)" if others else ""
    return [f"the stack config has no key under {NAMESPACE!r}, so it deploys the shared stack with no project{found}. "
            f"Set keys with `pulumi config set --path '{NAMESPACE}:projects[0].name' blog`"]


def _decode(value: Any) -> Any:
    """Structured config arrives as JSON text; plain values stay strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_config() -> StackConfig:
    """The stack's validated config, read from the running Pulumi program."""
    raw = raw_namespace_config()
    secret = frozenset(k for k in (*SECRET_KEYS, *NESTED_SECRET_KEYS)
                       if pulumi.runtime.is_config_secret(f"{NAMESPACE}:{k}"))
    return parse_config(raw, secret)
