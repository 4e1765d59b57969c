"""A model of Kong 3.9.3 on a rendered declarative config: which route a request takes, and
what the route's plugins decide, in the order Kong runs them in the access phase (by
priority, kong/plugins/*/handler.lua at 3.9.3: pre-function 1000000, cors 2000, jwt 1450,
key-auth 1250, acl 950, post-function -1000). Kong itself cannot run here; every decision
below is read from its source at tag 3.9.3 (commit a643428bc4d5397152164a63bcc0f8bc65fce69d)
and cited. The Lua plugins (pre-/post-function) run for real (tests/kong_guard.py).
"""
from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Optional, Union

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm

from tests.kong_guard import run_guard, run_response_filters

# The traditional_compatible router (components/resources/gateway.py ROUTER_FLAVOR) orders
# routes by kong/router/transform.lua:558-666 (get_priority): first how many kinds of match
# rule a route has (methods, hosts, paths, ...), then whether its hosts are all plain (no
# wildcard), then the length of the (prefix) path; a route's paths of different lengths are
# split into routes of their own (:668-700), so each path ranks by its own length.


def routes(config: dict) -> list[tuple[dict, dict]]:
    return [(service, route) for service in config["services"] for route in service["routes"]]


def _rank(route: dict, path: str) -> tuple[int, int, int]:
    weight = sum(1 for rule in ("hosts", "paths", "methods") if route.get(rule))
    plain_host = bool(route.get("hosts")) and not any("*" in h for h in route["hosts"])
    return weight, int(plain_host), len(path)


def match(config: dict, path: str, host: str = "127.0.0.1", method: str = "GET") -> tuple[dict, dict]:
    candidates = [((s, r), _rank(r, p)) for s, r in routes(config) for p in r["paths"]
                  if path.startswith(p)
                  and (not r.get("hosts") or host in r["hosts"])
                  and (not r.get("methods") or method in r["methods"])]
    assert candidates, f"no route for {method} {host}{path}"
    return max(candidates, key=lambda c: c[1])[0]


def plugin(service: dict, name: str) -> Optional[dict]:
    return next((p.get("config", {}) for p in service.get("plugins", []) if p["name"] == name), None)


def consumer_of(config: dict, key: str) -> Optional[dict]:
    return next((c for c in config["consumers"]
                 if any(k["key"] == key for k in c.get("keyauth_credentials", []))), None)


# -- Kong's jwt plugin (kong/plugins/jwt/handler.lua and jwt_parser.lua at 3.9.3) ---------------

_URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64url(part: str) -> Optional[bytes]:
    """jwt_parser.lua base64_decode: pad to a multiple of 4, then ngx.base64.decode_base64url,
    which is nginx's ngx_decode_base64url: it reads up to the first `=`, refuses any other
    character outside the URL alphabet and a length of 4n+1 (nil when invalid)."""
    padded = part + "=" * ((4 - len(part) % 4) % 4)
    body = padded.split("=", 1)[0]
    if len(body) % 4 == 1 or not set(body) <= _URL_ALPHABET:
        return None
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def retrieve_tokens(conf: dict, headers: dict[str, str], query: dict[str, Union[str, list[str]]]) -> Union[None, str, list[str]]:
    """handler.lua:28-97: every distinct non-empty token from the query arguments named in
    `uri_param_names` (a repeated argument gives each value), the cookies in `cookie_names`
    and the `Bearer` part of the headers in `header_names`; None, the one token, or a list."""
    found: list[str] = []

    def add(token: Any) -> None:
        if isinstance(token, str) and token != "" and token not in found:
            found.append(token)

    for name in conf.get("uri_param_names", ["jwt"]):
        value = query.get(name)
        for token in (value if isinstance(value, list) else [value]):
            add(token)
    lower = {k.lower(): v for k, v in headers.items()}
    cookies = SimpleCookie()
    cookies.load(lower.get("cookie", "") or "")
    for name in conf.get("cookie_names", []):  # ngx.var["cookie_" .. name]
        add(cookies[name].value if name in cookies else None)
    for name in conf.get("header_names", ["authorization"]):
        # ngx.re.gmatch(value, "\\s*[Bb]earer\\s+(.+)"): the first match anywhere in the value
        found_bearer = re.search(r"\s*[Bb]earer\s+(.+)", lower.get(name.lower(), "") or "")
        if found_bearer:
            add(found_bearer.group(1))
    return None if not found else found[0] if len(found) == 1 else found


def jwt_decision(conf: dict, consumers: list[dict], headers: dict[str, str], query: dict[str, str],
                 now: Optional[float] = None) -> tuple[Optional[int], Optional[dict], Optional[str]]:
    """(status, consumer, token): status None when the plugin lets the request on."""
    now = time.time() if now is None else now
    token = retrieve_tokens(conf, headers, query)
    if not isinstance(token, str):
        return 401, None, None  # :162-170 "Unauthorized", or "Multiple tokens provided"
    # decode_token (jwt_parser.lua:254-297): three parts, JSON, a known alg.
    parts = token.split(".", 2)
    if len(parts) != 3:
        return 401, None, None
    try:
        header, claims = (json.loads(_b64url(p) or b"") for p in parts[:2])
    except ValueError:
        return 401, None, None  # "invalid JSON"
    signature = _b64url(parts[2])
    if not isinstance(header, dict) or header.get("alg") not in (  # jwt_parser.lua:111-195 alg_verify
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384",
            "PS512", "EdDSA") or signature is None:
        return 401, None, None
    if not isinstance(claims, dict):
        return 401, None, None
    # handler.lua:182: the key id from the claims first, then the header.
    key = claims.get(conf.get("key_claim_name", "iss")) or header.get(conf.get("key_claim_name", "iss"))
    if not key or not isinstance(key, str):
        return 401, None, None
    # handler.lua:101-107, 190-200: one credential by key, among every consumer's.
    found = [(c, s) for c in consumers for s in c.get("jwt_secrets", []) if s["key"] == key]
    assert len(found) <= 1, f"jwt_secrets key {key} is not unique (kong/plugins/jwt/daos.lua:26)"
    if not found:
        return 401, None, None
    consumer, credential = found[0]
    algorithm = credential.get("algorithm") or "HS256"
    if header["alg"] != algorithm:  # :201-206 "Invalid algorithm"
        return 401, None, None
    assert algorithm == "ES256", "the model verifies ES256 only"
    pem = credential.get("rsa_public_key")  # :210-218
    if not pem:
        return 401, None, None
    # :226 verify_signature -> jwt_parser.lua:131-141: 64 bytes r||s, ECDSA P-256 SHA-256.
    if len(signature) != 64:
        return 500, None, None  # the assert raises: Kong answers 500, nothing passes
    public = serialization.load_pem_public_key(pem.encode())
    if not ECAlgorithm(ECAlgorithm.SHA256).verify(f"{parts[0]}.{parts[1]}".encode(), public, signature):
        return 401, None, None  # "Invalid signature"
    # :231-234 -> jwt_parser.lua:396-450 (registered_claims, verify_registered_claims): each claim to verify must be a number and hold.
    for claim in conf.get("claims_to_verify") or []:
        value = claims.get(claim)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return 401, None, None
        if claim == "exp" and value <= now or claim == "nbf" and value > now:
            return 401, None, None
    return None, consumer, token  # :261 set_consumer(consumer, jwt_secret, token)


def acl_decision(conf: dict, consumer: Optional[dict]) -> Optional[int]:
    """kong/plugins/acl/handler.lua:46-137 at 3.9.3 (allow lists only): 401 without a consumer, 403
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
    path: str = ""  # the upstream path
    body: str = ""  # the upstream body
    answer: Optional[dict] = None  # Kong's own answer when it refuses
    plugin_ctx: Optional[dict] = None  # the pre-function's kong.ctx.plugin after its access chunks

    @property
    def passed(self) -> bool:
        return self.status is None

    def reply(self, status: int, headers: dict[str, str], body: bytes) -> bytes:
        """The upstream's answer as the client gets it: through the pre-function's header_filter
        and body_filter (Kong runs them for a request its access phase passed), the body in
        two chunks as a streamed answer arrives."""
        pre = plugin(self.service, "pre-function") or {}
        if not pre.get("header_filter"):
            return body
        text = body.decode("latin-1")
        filtered = run_response_filters(pre["header_filter"][0], pre["body_filter"][0], status,
                                        [text[:len(text) // 2], text[len(text) // 2:]], headers, self.plugin_ctx)
        return filtered.body.encode("latin-1")


# kong/tools/uri.lua normalize at 3.9.3 (what the router matches and kong.request.get_path
# answers): percent-escapes of unreserved characters decoded (reserved ones upper-cased),
# dot segments removed, slashes merged.
_RESERVED = frozenset(b"!*'();:@&=+$,/?%#[]")


def normalize(path: str) -> str:
    path = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)) if int(m.group(1), 16) not in _RESERVED
                  else m.group(0).upper(), path)
    path = re.sub(r"/{2,}", "/", path)
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    trailing = path.endswith(("/.", "/..")) and (not out or out[-1] != "")
    return "/" + "/".join(out) + ("/" if trailing else "")


def upstream_path(service: dict, route: dict, path: str) -> str:
    """The path Kong sends upstream (strip_path; path_handling v0, the default of
    kong/db/schema/entities/routes.lua:202 at 3.9.3): the service's path plus what the matched
    prefix leaves."""
    from urllib.parse import urlsplit

    base = urlsplit(service["url"]).path or "/"
    prefix = max((p for p in route["paths"] if path.startswith(p)), key=len) if route["strip_path"] else ""
    rest = path[len(prefix):]
    return base.rstrip("/") + "/" + rest.lstrip("/") if rest else base

def _apply(headers: dict, query: dict, result) -> tuple[dict, dict]:
    headers = dict(headers)
    for name in result.cleared_headers:
        headers.pop(name.lower(), None)
    headers.update({k.lower(): v for k, v in result.set_headers.items()})
    return headers, (dict(result.query) if result.query is not None else query)


def send(config: dict, path: str, headers: Optional[dict[str, str]] = None, host: str = "127.0.0.1",
         method: str = "GET", query: Optional[dict[str, str]] = None, body: str = "") -> Outcome:
    """Kong's access phase for one request, plugin by plugin in priority order."""
    path = normalize(path)
    service, route = match(config, path, host, method)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    query = dict(query or {})
    out = Outcome(None, service, headers, query, path=upstream_path(service, route, path), body=body)
    if plugin(service, "request-termination") is not None or plugin(service, "basic-auth") is not None:
        out.status = 403
        return out
    pre = plugin(service, "pre-function")
    # PRIORITY 1000000 (kong/plugins/pre-function/handler.lua); its chunks run in their order
    # (kong/plugins/pre-function/_handler.lua), the first to answer ends the request.
    for chunk in (pre or {}).get("access", []):
        result = run_guard(chunk, headers, query, method, path=path, body=out.body, plugin_ctx=out.plugin_ctx)
        out.plugin_ctx = result.plugin_ctx or out.plugin_ctx
        if not result.passed:
            out.status, out.answer = result.status, result.body
            return out
        headers, query = _apply(headers, query, result)
        out.path = result.path or out.path
        out.body = result.upstream_body if result.upstream_body is not None else out.body
    if method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers \
            and plugin(service, "cors") is not None:
        out.status = 200  # cors/handler.lua:193-241: a preflight is answered by Kong
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


def storage_request(config: dict, path: str, key: Optional[str], method: str = "GET", body: Any = None,
                    host: str = "127.0.0.1", headers: Optional[dict[str, str]] = None) -> Outcome:
    """A Storage request with apikey `key` (and a JSON `body`), as supabase-js sends it."""
    sent = {"apikey": key} if key else {}
    if body is not None:
        sent["content-type"] = "application/json"
    sent.update(headers or {})
    return send(config, path, sent, host, method, body="" if body is None else json.dumps(body))


def allowed(config: dict, path: str, key: Optional[str], host: str = "127.0.0.1",
            bearer: Optional[str] = None, **extra: Any) -> bool:
    """Would Kong pass this request (apikey `key`, Authorization `Bearer <bearer>`) on to the
    upstream service?"""
    headers = {k: v for k, v in (("apikey", key), ("Authorization", bearer and f"Bearer {bearer}")) if v}
    headers.update(extra.pop("headers", {}))
    return send(config, path, headers, host, **extra).passed
