"""Stack secrets: generated once with pulumi-random, kept encrypted in state, overridable.

A `secure:` config value wins over the generated one, so a stack can adopt an existing
database or JWT secret without `pulumi import`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_random as random
from pydantic import SecretStr

from components.core import keys
from components.core.project_keys import STACK_KEY_OWNER
from components.core.signing_keys import SEED_LENGTH, SigningKey


@dataclass(frozen=True)
class SecretsArgs:
    postgres_password: Optional[SecretStr] = None
    jwt_secret: Optional[SecretStr] = None
    dashboard_password: Optional[SecretStr] = None


class StackSecrets(pulumi.ComponentResource):
    """Every secret the shared services need, and the stack's anon/service_role keys."""

    def __init__(self, name: str, args: SecretsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:StackSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # URL-safe alphabets: these end up inside postgres:// URLs and Kong's basic-auth.
        self.postgres_password = self._secret("postgres-password", args.postgres_password, 32, child)
        self.jwt_secret = self._secret("jwt-secret", args.jwt_secret, 64, child)
        self.dashboard_password = self._secret("dashboard-password", args.dashboard_password, 24, child)
        self.secret_key_base = self._secret("realtime-secret-key-base", None, 64, child)
        self.meta_crypto_key = self._secret("meta-crypto-key", None, 32, child)
        self.anon_key = keys.role_key(self.jwt_secret, "anon", public=True)
        self.service_role_key = keys.role_key(self.jwt_secret, "service_role", public=False)
        # The stack's own ES256 key: its GoTrue (Studio's users, `auth.mode: shared` projects)
        # signs with it; the legacy HS256 secret above keeps only the stack's legacy keys working.
        seed = self._secret("stack-signing-key-1", None, SEED_LENGTH, child)
        self.stack_key: pulumi.Output[SigningKey] = seed.apply(lambda s: SigningKey(STACK_KEY_OWNER, 1, s))
        self.register_outputs({})

    @staticmethod
    def _secret(
        name: str, override: Optional[SecretStr], length: int, opts: pulumi.ResourceOptions
    ) -> pulumi.Output[str]:
        if override is not None:
            return pulumi.Output.secret(override.get_secret_value())
        generated = random.RandomPassword(name, length=length, special=False, opts=opts)
        return pulumi.Output.secret(generated.result)
