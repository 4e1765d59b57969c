"""Everything a project's keys are, computed from its Pulumi-kept seeds in one place.

A project has one ES256 signing key per live generation (`projects[].keys`): the signing
one, and the older ones that still verify during a rotation's overlap. Its legacy-format
API keys (anon and service JWTs) are signed with the signing key; its opaque
publishable/secret keys (components/core/opaque_keys.py) stand for them at the gateway.
Its GoTrue signs with the signing key only and gets its own HS256 secret, derived from the
seed and known to nothing else, so no token signed with the stack's secret, or with
another project's key, is accepted by it.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from components.core import keys, opaque_keys
from components.core.signing_keys import SigningKey

STACK_KEY_OWNER = "@stack"  # the stack's own key: no project is named with an @


@dataclass(frozen=True)
class ProjectKeySet:
    project: str
    signing: SigningKey
    verifying: tuple[SigningKey, ...]
    anon_role: str
    service_role: str
    api_random: str  # 2 x opaque_keys.RANDOM_LENGTH characters: publishable, then secret

    @property
    def live(self) -> tuple[SigningKey, ...]:
        return (self.signing, *self.verifying)

    def _claims(self, role: str) -> dict[str, Any]:
        return {"role": role, "iss": keys.ISSUER, "ref": self.project, "iat": keys.ISSUED_AT,
                "exp": keys.EXPIRES_AT}

    @property
    def anon_jwt(self) -> str:
        return self.signing.sign(self._claims(self.anon_role))

    @property
    def service_jwt(self) -> str:
        return self.signing.sign(self._claims(self.service_role))

    @property
    def publishable_key(self) -> str:
        return opaque_keys.make(opaque_keys.PUBLISHABLE, self.project, self.api_random[:opaque_keys.RANDOM_LENGTH])

    @property
    def secret_key(self) -> str:
        return opaque_keys.make(opaque_keys.SECRET, self.project, self.api_random[opaque_keys.RANDOM_LENGTH:])

    def jwks(self) -> list[dict[str, Any]]:
        """Public keys of every live generation: what verifies this project's tokens."""
        return [k.public_jwk() for k in self.live]

    def gotrue_keys(self) -> str:
        """GOTRUE_JWT_KEYS: the signing key's private JWK, then the older generations' public
        ones (their sessions still verify during the overlap; GoTrue signs with `sign` only)."""
        return json.dumps([self.signing.private_jwk(), *(k.public_jwk() for k in self.verifying)],
                          separators=(",", ":"))

    def gotrue_secret(self) -> str:
        """GOTRUE_JWT_SECRET of the project's own GoTrue: derived, never shared, never output."""
        okm = HKDF(algorithm=hashes.SHA256(), length=48, salt=None,
                   info=f"supabase-multi-instance/gotrue-hs256/{self.project}".encode()).derive(self.signing.seed.encode())
        return base64.urlsafe_b64encode(okm).rstrip(b"=").decode()


def key_set(project: str, anon_role: str, service_role: str, generations: list[int],
            seeds: list[str], api_random: str) -> ProjectKeySet:
    """`seeds[i]` is the seed of `generations[i]`; the first generation signs."""
    live = [SigningKey(project, g, seed) for g, seed in zip(generations, seeds, strict=True)]
    return ProjectKeySet(project, live[0], tuple(live[1:]), anon_role, service_role, api_random)
