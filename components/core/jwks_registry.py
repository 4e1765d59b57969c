"""The public keys the shared services verify tokens with, as the database records them.

Why in the database: PostgREST reads its keys from the pre-config function on every
`reload config`, Realtime from its tenant row within its cache lifetime
(sql/bootstrap/0005_jwks_registry.sql.j2, 0006_realtime_tenant_jwks.sql.j2). So a project's
keys are an input of its SQL step, written with its registry row, and adding, removing or
rotating a project changes no container.

Checked by the providers (components/providers/sql_migrations.py) at preview and before each
step, not by components/core/migrations.py: the backup image runs that module without PyJWT.
Why checked here and again by the table: PostgREST parses the whole JWKS as one JSON
document (jose-jwt 0.10.0 `JwkSet`); one malformed key (a bad `use`, padded base64) makes
it read the JSON text as a plain HMAC secret, and then no token verifies at all. And a
private key in these rows would be published to every service, so any private member is
refused before the SQL runs.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

import jwt

PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# What PostgREST (jose-jwt canDecodeJws) and Realtime (jwt_verification.ex, which names
# EdDSA keys differently) both verify.
ALGORITHMS = {"EC": {"ES256", "ES384", "ES512"}, "RSA": {"RS256", "RS384", "RS512"}}
_B64URL = re.compile(r"[A-Za-z0-9_-]+")  # unpadded, as jose-jwt decodes JWK bytes
_B64_MEMBERS = ("x", "y", "n", "e")
MIN_SECRET = 32  # PostgREST refuses a shorter HS256 secret (v14.5 Config.hs parseSecret)


class JwksRefused(ValueError):
    """A key of a `jwks` input is not a public signing JWK the services can all read."""


def problem(jwk: Any) -> Optional[str]:
    """Why `jwk` may not be recorded, or None."""
    if not isinstance(jwk, dict):
        return "is not a JSON object"
    kty, alg, kid = jwk.get("kty"), jwk.get("alg"), jwk.get("kid")
    private = sorted(PRIVATE_MEMBERS & set(jwk))
    if private:
        return f"holds private key members {private}: only public keys are published"
    if kty not in ALGORITHMS:
        return f"has kty {kty!r}; expected one of {sorted(ALGORITHMS)}"
    if alg not in ALGORITHMS[kty]:
        return f"has alg {alg!r}; a {kty} key signs with one of {sorted(ALGORITHMS[kty])}"
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        return "has no kid (the services pick a project's key by the token's kid)"
    if jwk.get("use", "sig") != "sig":
        return f"has use {jwk.get('use')!r}; a verifying key is `sig`"
    for member in _B64_MEMBERS:
        if member in jwk and not (isinstance(jwk[member], str) and _B64URL.fullmatch(jwk[member])):
            return f"has {member!r} that is not unpadded base64url"
    try:
        jwt.PyJWK(jwk)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as err:
        return f"is not a key PyJWT can load ({err})"
    return None


def checked(jwks: Iterable[Any], owner: str) -> list[dict[str, Any]]:
    """`jwks` as recorded: each key public and loadable, every kid once."""
    found = list(jwks or [])
    for i, jwk in enumerate(found):
        reason = problem(jwk)
        if reason:
            raise JwksRefused(f"{owner}: jwks[{i}] {reason}")
    kids = [k["kid"] for k in found]
    twice = sorted({k for k in kids if kids.count(k) > 1})
    if twice:
        raise JwksRefused(f"{owner}: kid {twice[0]!r} appears twice in jwks")
    return found


def checked_secret(secret: Optional[str]) -> Optional[str]:
    """The stack's legacy secret as recorded (None: leave the recorded one)."""
    if secret is not None and (not isinstance(secret, str) or len(secret) < MIN_SECRET):
        raise JwksRefused(f"the stack's JWT secret must be a string of at least {MIN_SECRET} characters")
    return secret
