"""A model of Kong 2.8.1 on a rendered declarative config: which route a request takes, and
what the route's plugins decide, in the order Kong runs them in the access phase (by
priority: pre-function math.huge, cors 2000, jwt 1005, key-auth 1003, acl 950, post-function
-1000). Kong itself cannot run here; every decision below is read from its source at tag
2.8.1 and cited. The Lua plugins (pre-/post-function) run for real (tests/kong_guard.py).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm

from tests.kong_guard import run_guard

# kong/router.lua:255-262: the match rules a route uses; categories with more rules are tried
# first, then the higher bits (:807-813); in a category, the longest path first (:797-799).
HOST, URI, METHOD = 0x40, 0x10, 0x08


def routes(config: dict) -> list[tuple[dict, dict]]:
    return [(service, route) for service in config["services"] for route in service["routes"]]


def _rank(route: dict) -> tuple[int, int, int]:
    bits = (HOST if route.get("hosts") else 0) | (URI if route.get("paths") else 0) | \
        (METHOD if route.get("methods") else 0)
    return bin(bits).count("1"), bits, max(len(p) for p in route["paths"])


def match(config: dict, path: str, host: str = "127.0.0.1", method: str = "GET") -> tuple[dict, dict]:
    candidates = [(s, r) for s, r in routes(config)
                  if any(path.startswith(p) for p in r["paths"])
                  and (not r.get("hosts") or host in r["hosts"])
                  and (not r.get("methods") or method in r["methods"])]
    assert candidates, f"no route for {method} {host}{path}"
    return max(candidates, key=lambda c: _rank(c[1]))


def plugin(service: dict, name: str) -> Optional[dict]:
    return next((p.get("config", {}) for p in service.get("plugins", []) if p["name"] == name), None)


def consumer_of(config: dict, key: str) -> Optional[dict]:
    return next((c for c in config["consumers"]
                 if any(k["key"] == key for k in c.get("keyauth_credentials", []))), None)


# -- Kong's jwt plugin (kong/plugins/jwt/handler.lua and jwt_parser.lua at 2.8.1) ---------------


def _b64url(part: str) -> Optional[bytes]:
    """jwt_parser.lua:148-158: pad, map -_ to +/, then ngx.decode_base64 (nil when invalid)."""
    padded = part + "=" * ((4 - len(part) % 4) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def jwt_decision(conf: dict, consumers: list[dict], headers: dict[str, str], query: dict[str, str],
                 now: Optional[float] = None) -> tuple[Optional[int], Optional[dict], Optional[str]]:
    """(status, consumer, token): status None when the plugin lets the request on."""
    now = time.time() if now is None else now
    # retrieve_token (handler.lua:27-67): URI params, then cookies, then the header names.
    token = next((query[n] for n in conf.get("uri_param_names", ["jwt"]) if n in query), None)
    assert not conf.get("cookie_names"), "the model reads no cookies"
    if token is None:
        lower = {k.lower(): v for k, v in headers.items()}
        for name in conf.get("header_names", ["authorization"]):
            found = re.search(r"\s*[Bb]earer\s+(.+)", lower.get(name.lower(), "") or "")
            if found:
                token = found.group(1)
                break
    if not isinstance(token, str):
        return 401, None, None  # :135-136 "Unauthorized"
    # decode_token (jwt_parser.lua:192-227): three parts, JSON, a known alg.
    parts = token.split(".", 2)
    if len(parts) != 3:
        return 401, None, None
    try:
        header, claims = (json.loads(_b64url(p) or b"") for p in parts[:2])
    except ValueError:
        return 401, None, None  # "invalid JSON"
    signature = _b64url(parts[2])
    if not isinstance(header, dict) or header.get("alg") not in (
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384") or signature is None:
        return 401, None, None
    if not isinstance(claims, dict):
        return 401, None, None
    # handler.lua:153: the key id from the claims first, then the header.
    key = claims.get(conf.get("key_claim_name", "iss")) or header.get(conf.get("key_claim_name", "iss"))
    if not key or not isinstance(key, str):
        return 401, None, None
    # handler.lua:70-76, 161-170: one credential by key, among every consumer's.
    found = [(c, s) for c in consumers for s in c.get("jwt_secrets", []) if s["key"] == key]
    assert len(found) <= 1, f"jwt_secrets key {key} is not unique (kong/plugins/jwt/daos.lua:26)"
    if not found:
        return 401, None, None
    consumer, credential = found[0]
    algorithm = credential.get("algorithm") or "HS256"
    if header["alg"] != algorithm:  # :172-177 "Invalid algorithm"
        return 401, None, None
    assert algorithm == "ES256", "the model verifies ES256 only"
    pem = credential.get("rsa_public_key")  # :179-180
    if not pem:
        return 401, None, None
    # :191 verify_signature -> jwt_parser.lua:109-120: 64 bytes r||s, ECDSA P-256 SHA-256.
    if len(signature) != 64:
        return 500, None, None  # the assert raises: Kong answers 500, nothing passes
    public = serialization.load_pem_public_key(pem.encode())
    if not ECAlgorithm(ECAlgorithm.SHA256).verify(f"{parts[0]}.{parts[1]}".encode(), public, signature):
        return 401, None, None  # "Invalid signature"
    # :196-199 -> jwt_parser.lua:334-384: each claim to verify must be a number and hold.
    for claim in conf.get("claims_to_verify") or []:
        value = claims.get(claim)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return 401, None, None
        if claim == "exp" and value <= now or claim == "nbf" and value > now:
            return 401, None, None
    return None, consumer, token  # :226 set_consumer(consumer, jwt_secret, token)


def acl_decision(conf: dict, consumer: Optional[dict]) -> Optional[int]:
    """kong/plugins/acl/handler.lua:46-129 (allow lists only): 401 without a consumer, 403
    unless one of its groups is allowed."""
    if consumer is None:
        return 401
    groups = {a["group"] for a in consumer.get("acls", [])}
    return None if groups & set(conf["allow"]) else 403


# -- one request through a route --------------------------------------------------------------


@dataclass
class Outcome:
    status: Optional[int]  # None: the request reached the upstream
    service: dict
    headers: dict = field(default_factory=dict)  # what the upstream receives (lower-case names)
    query: dict = field(default_factory=dict)
    consumer: Optional[dict] = None

    @property
    def passed(self) -> bool:
        return self.status is None


def _apply(headers: dict, query: dict, result) -> tuple[dict, dict]:
    headers = dict(headers)
    for name in result.cleared_headers:
        headers.pop(name.lower(), None)
    headers.update({k.lower(): v for k, v in result.set_headers.items()})
    return headers, (dict(result.query) if result.query is not None else query)


def send(config: dict, path: str, headers: Optional[dict[str, str]] = None, host: str = "127.0.0.1",
         method: str = "GET", query: Optional[dict[str, str]] = None) -> Outcome:
    """Kong's access phase for one request, plugin by plugin in priority order."""
    service, _ = match(config, path, host, method)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    query = dict(query or {})
    out = Outcome(None, service, headers, query)
    if plugin(service, "request-termination") is not None or plugin(service, "basic-auth") is not None:
        out.status = 403
        return out
    pre = plugin(service, "pre-function")
    if pre is not None:  # PRIORITY math.huge (kong/plugins/pre-function/handler.lua)
        result = run_guard(pre["access"][0], headers, query, method)
        if not result.passed:
            out.status = result.status
            return out
        headers, query = _apply(headers, query, result)
    if method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers \
            and plugin(service, "cors") is not None:
        out.status = 200  # cors/handler.lua:187-193: a preflight is answered by Kong
        return out
    consumer, token = None, None
    conf = plugin(service, "jwt")
    if conf is not None:
        status, consumer, token = jwt_decision(conf, config["consumers"], headers, query)
        if status is not None:
            out.status = status
            return out
    if plugin(service, "key-auth") is not None:
        key = headers.get("apikey") or query.get("apikey")
        consumer = consumer_of(config, key) if key else None
        if consumer is None:
            out.status = 401
            return out
    acl = plugin(service, "acl")
    if acl is not None and (status := acl_decision(acl, consumer)) is not None:
        out.status = status
        return out
    post = plugin(service, "post-function")
    if post is not None:  # PRIORITY -1000 (kong/plugins/post-function/handler.lua)
        result = run_guard(post["access"][0], headers, query, method, verified_token=token)
        if not result.passed:
            out.status = result.status
            return out
        headers, query = _apply(headers, query, result)
    out.headers, out.query, out.consumer = headers, query, consumer
    return out


def allowed(config: dict, path: str, key: Optional[str], host: str = "127.0.0.1",
            bearer: Optional[str] = None, **extra: Any) -> bool:
    """Would Kong pass this request (apikey `key`, Authorization `Bearer <bearer>`) on to the
    upstream service?"""
    headers = {k: v for k, v in (("apikey", key), ("Authorization", bearer and f"Bearer {bearer}")) if v}
    headers.update(extra.pop("headers", {}))
    return send(config, path, headers, host, **extra).passed
