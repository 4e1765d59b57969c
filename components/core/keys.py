"""API keys: HS256 JWTs signed with the stack JWT secret, computed with PyJWT.

The claims are fixed (no "now") so the same secret always gives the same key: a key that
changed on every `pulumi up` would show a diff in every preview and break every client.
"""
from __future__ import annotations

import jwt
import pulumi

ISSUER = "supabase"
ISSUED_AT = 1767225600  # 2026-01-01T00:00:00Z
EXPIRES_AT = ISSUED_AT + 10 * 365 * 24 * 3600


def sign(secret: str, role: str) -> str:
    claims = {"role": role, "iss": ISSUER, "iat": ISSUED_AT, "exp": EXPIRES_AT}
    return jwt.encode(claims, secret, algorithm="HS256")


def role_key(secret: pulumi.Input[str], role: str, *, public: bool) -> pulumi.Output[str]:
    """The key for `role`. Anon keys are public by Supabase's design, so `public` unsecrets them."""
    key = pulumi.Output.from_input(secret).apply(lambda s: sign(s, role))
    return pulumi.Output.unsecret(key) if public else pulumi.Output.secret(key)
