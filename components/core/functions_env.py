"""What the edge runtime's main service needs to run one project's functions, and nothing
another project's code could use.

Keys. One key for all projects' functions is derived from the stack's JWT secret with HKDF
(the stack secret itself never reaches the functions container for this), and from it, per
project:
- its folder in the `functions-projects` volume, `<project>-<HMAC(project)>`: a function's
  module graph is read from disk when its worker starts, so a function could `import` a
  file of another project's folder if it knew the path; it cannot compute that name;
- the AES-256-GCM key of its manifest (`env.enc`): the env its functions get (the project's
  URL and keys, its own secrets), the keys its tokens must be signed with, and `verifyJwt`.
  Encrypted, with the project's name as associated data, so the file is useless to
  anything that reads it without the key, and a manifest moved into another project's
  folder fails to open.
The main service (volumes/functions/main/index.ts) derives the same values with Web Crypto;
tests/test_functions_main.py holds both sides to each other.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any, Mapping, Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_INFO = b"supabase-multi-instance/functions/v1"
FOLDER_INFO = b"folder"
ENV_INFO = b"env:"
FOLDER_HASH_CHARS = 32  # 128 bits of the HMAC: not guessable
MANIFEST_VERSION = 1


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def master_key(stack_secret: str) -> bytes:
    return _hkdf(stack_secret.encode(), MASTER_INFO)


def master_key_text(stack_secret: str) -> str:
    """The main service's FUNCTIONS_PROJECTS_KEY (base64url)."""
    return b64url(master_key(stack_secret))


def folder(master: bytes, project: str) -> str:
    mac = hmac.new(_hkdf(master, FOLDER_INFO), project.encode(), hashlib.sha256).hexdigest()
    return f"{project}-{mac[:FOLDER_HASH_CHARS]}"


def env_key(master: bytes, project: str) -> bytes:
    return _hkdf(master, ENV_INFO + project.encode())


def public_jwk(pem: str) -> dict[str, str]:
    """An ES256 SubjectPublicKeyInfo PEM as the JWK Web Crypto imports."""
    numbers = serialization.load_pem_public_key(pem.encode()).public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big"))}


def worker_env(url: str, anon: str, service: str, publishable: str, secret_key: str,
               jwks: Sequence[Mapping[str, Any]], secrets: Mapping[str, str]) -> dict[str, str]:
    """The env of each of the project's workers: Supabase's default secrets for this project
    (https://supabase.com/docs/guides/functions/secrets) and its own. No SUPABASE_DB_URL: a
    project has no database login of its own that its functions could be given."""
    return {**dict(secrets), "SUPABASE_URL": url, "SUPABASE_ANON_KEY": anon, "SUPABASE_SERVICE_ROLE_KEY": service,
            "SUPABASE_PUBLISHABLE_KEYS": json.dumps({"default": publishable}),
            "SUPABASE_SECRET_KEYS": json.dumps({"default": secret_key}),
            "SUPABASE_JWKS": json.dumps({"keys": list(jwks)})}


def manifest(project: str, functions: Sequence[str], verify_jwt: Mapping[str, bool], env: Mapping[str, str],
             verifying_keys: Sequence[Mapping[str, Any]], anon: str, service: str,
             publishable: str, secret_key: str) -> dict[str, Any]:
    """Everything the main service decides a request by: which functions exist, which verify
    a JWT, the keys (kid -> public JWK and the roles its tokens may carry), the opaque keys
    and what they stand for, and the env."""
    return {"v": MANIFEST_VERSION, "project": project, "functions": sorted(functions),
            "verifyJwt": {n: bool(verify_jwt.get(n, True)) for n in sorted(functions)},
            "keys": [{"kid": str(k["kid"]), "jwk": public_jwk(str(k["pem"])), "roles": list(k.get("roles") or ())}
                     for k in verifying_keys],
            "apiKeys": {anon: anon, service: service, publishable: anon, secret_key: service},
            "secretKeys": [service, secret_key], "env": dict(env)}


def seal(key: bytes, project: str, content: Mapping[str, Any], nonce: bytes | None = None) -> str:
    nonce = os.urandom(12) if nonce is None else nonce
    sealed = AESGCM(key).encrypt(nonce, json.dumps(content, sort_keys=True).encode(), project.encode())
    return json.dumps({"v": MANIFEST_VERSION, "nonce": b64url(nonce), "sealed": b64url(sealed)})


def unseal(key: bytes, project: str, text: str) -> dict[str, Any]:
    data = json.loads(text)
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    plain = AESGCM(key).decrypt(base64.urlsafe_b64decode(pad(data["nonce"])),
                                base64.urlsafe_b64decode(pad(data["sealed"])), project.encode())
    return json.loads(plain)


def content_digest(files_digest: str, content: Mapping[str, Any]) -> str:
    """The version of a deploy: its files and its manifest (a new secret is a new version, so
    the runtime, which keeps workers per service path, starts new ones)."""
    return hashlib.sha256(f"{files_digest}\0{json.dumps(content, sort_keys=True)}".encode()).hexdigest()[:24]
