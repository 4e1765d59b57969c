"""Per-project ES256 signing keys: derived from a Pulumi-kept seed, published as JWKs.

Why derived: the seed is a pulumi-random secret (generated on the first `pulumi up`, kept
encrypted in state, replaced only when the operator bumps the key's generation), and the
key is a pure function of it, so no key material is ever written anywhere but the state,
and every run of the program computes the same key without a provider plugin of its own.
HKDF-SHA256 (RFC 5869) stretches the seed to a P-256 scalar, bound to the project and the
generation, so two projects, or two generations of one, never share a key even if an
operator copied a seed.

Why deterministic signatures: the project's anon and service JWTs are stack outputs and
part of the gateway's config. ECDSA with a random nonce would give a new JWT on every run
(a diff in every preview, a gateway push in every `up`); RFC 6979 nonces
(cryptography's `deterministic_signing`) make the same claims give the same token.

JWKs follow supabase/supabase docker/utils/add-new-auth-keys.sh: the private form (for
GoTrue's GOTRUE_JWT_KEYS) carries `key_ops: ["sign", "verify"]`, the public form (for the
gateway and the services' JWKS) `key_ops: ["verify"]`; `kid` is the key's RFC 7638
thumbprint, so it names exactly one public key.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"
CURVE = ec.SECP256R1()
_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # n of P-256
SEED_LENGTH = 64  # characters of the pulumi-random seed (alphanumeric: ~380 bits)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _coordinate(value: int) -> str:
    return _b64url(value.to_bytes(32, "big"))


class _DeterministicES256(ECAlgorithm):
    """PyJWT's ES256 with RFC 6979 nonces: same key and claims, same token."""

    def __init__(self) -> None:
        super().__init__(ECAlgorithm.SHA256)

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        der = key.sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_JWS = jwt.PyJWS(algorithms=[])
_JWS.register_algorithm(ALGORITHM, _DeterministicES256())


@dataclass(frozen=True)
class SigningKey:
    """One generation of one project's key pair."""

    project: str
    generation: int
    seed: str

    @cached_property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        info = f"supabase-multi-instance/{ALGORITHM}/{self.project}/{self.generation}".encode()
        okm = HKDF(algorithm=hashes.SHA256(), length=48, salt=None, info=info).derive(self.seed.encode())
        scalar = int.from_bytes(okm, "big") % (_ORDER - 1) + 1  # 384 bits reduced: bias below 2^-128
        return ec.derive_private_key(scalar, CURVE)

    @cached_property
    def _point(self) -> tuple[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return _coordinate(numbers.x), _coordinate(numbers.y)

    @property
    def kid(self) -> str:
        """RFC 7638 thumbprint of the public key (members in lexicographic order, no spaces)."""
        x, y = self._point
        canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"))
        return _b64url(hashlib.sha256(canonical.encode()).digest())

    def public_jwk(self) -> dict[str, Any]:
        x, y = self._point
        return {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": self.kid, "alg": ALGORITHM,
                "use": "sig", "key_ops": ["verify"]}

    def private_jwk(self) -> dict[str, Any]:
        d = self.private_key.private_numbers().private_value
        return {**self.public_jwk(), "d": _coordinate(d), "key_ops": ["sign", "verify"]}

    def public_pem(self) -> str:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, claims: dict[str, Any]) -> str:
        return _JWS.encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode(),
                           self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})


def jwks(keys: list[SigningKey]) -> dict[str, list[dict[str, Any]]]:
    """The public JWKS of `keys`, as the services that verify tokens read it."""
    return {"keys": [k.public_jwk() for k in keys]}
