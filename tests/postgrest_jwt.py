"""PostgREST v14.5's in-database config and JWT verification, as its source does them.

* Reading the config (src/PostgREST/Config/Database.hs queryDbSettings): as `authenticator`,
  in a read-only READ COMMITTED transaction, one query that joins the pre-config function and
  reads `current_setting(name, true)` of every pgrst.* name it knows; a value wins over the
  container's env (Config.hs overrideFromDbOrEnvironment), and an empty one counts as unset.
* `jwt-secret` (Config.hs parseSecret): JSON that parses as a JwkSet is the key set, else
  one JWK, else the bytes are one HS256 secret (at least 32 of them). jose-jwt 0.10.0 parses
  the set strictly: one key with a bad `use`, curve or base64url fails the whole set.
* Verifying a token (src/PostgREST/Auth/Jwt.hs parseToken -> jose-jwt Jose/Jwt.hs decode):
  the keys whose kid equals the header's (any key when the header has none; a key without
  a kid never matches a header with one), whose `alg`, if any, is the header's, and whose
  type fits the algorithm (Jose/Jwk.hs canDecodeJws); the first of them that checks the
  signature wins. Then exp/nbf/iat with 30 s of skew.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any, Optional

import jwt
import psycopg

from tests import pg

# Config/Database.hs dbSettingsNames, v14.5.
SETTINGS = ["db_aggregates_enabled", "db_anon_role", "db_pre_config", "db_extra_search_path", "db_max_rows",
            "db_plan_enabled", "db_pre_request", "db_prepared_statements", "db_root_spec", "db_schemas",
            "db_tx_end", "db_hoisted_tx_settings", "jwt_aud", "jwt_role_claim_key", "jwt_secret",
            "jwt_secret_is_base64", "jwt_cache_max_lifetime", "openapi_mode", "openapi_security_active",
            "openapi_server_proxy_uri", "server_cors_allowed_origins", "server_trace_header", "server_timing_enabled"]
PRE_CONFIG = "supabase_multi.postgrest_pre_config"  # PGRST_DB_PRE_CONFIG (components/resources/services.py)

QUERY_DB_SETTINGS = f"""
      WITH
      role_setting AS (
        SELECT setdatabase as database,
               unnest(setconfig) as setting
        FROM pg_catalog.pg_db_role_setting
        WHERE setrole = CURRENT_USER::regrole::oid
          AND setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = CURRENT_CATALOG))
      ),
      kv_settings AS (
        SELECT database,
               substr(setting, 1, strpos(setting, '=') - 1) as k,
               substr(setting, strpos(setting, '=') + 1) as v
        FROM role_setting
        UNION
          SELECT
            null as database,
            x as k,
            current_setting(x, true) as v
          FROM unnest(%(names)s::text[]) x
          JOIN {PRE_CONFIG}() _ ON TRUE
      )
      SELECT DISTINCT ON (key)
             replace(k, 'pgrst.', '') AS key,
             v AS value
      FROM kv_settings
      WHERE k = ANY(%(names)s::text[]) AND v IS NOT NULL
      ORDER BY key, database DESC NULLS LAST"""


def db_settings(dsn: str, conn: Optional[psycopg.Connection] = None) -> dict[str, str]:
    """One `reload config`: the in-database settings PostgREST reads (on `conn`, a pooled
    authenticator session, when given)."""
    own = conn is None
    conn = conn or psycopg.connect(pg.as_authenticator(dsn))
    try:
        conn.execute("begin isolation level read committed read only")
        rows = conn.execute(QUERY_DB_SETTINGS, {"names": [f"pgrst.{n}" for n in SETTINGS]}).fetchall()
        conn.execute("commit")
        return dict(rows)
    finally:
        if own:
            conn.close()


def jwt_secret(dsn: str, env_secret: Optional[str] = None) -> Optional[str]:
    """The `jwt-secret` PostgREST ends up with: the in-database one, else PGRST_JWT_SECRET."""
    found = db_settings(dsn).get("jwt_secret")
    return (found if found is not None else env_secret) or None


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64(value: Any) -> bytes:
    if not isinstance(value, str) or not _B64URL.fullmatch(value):  # Base64URLUnpadded
        raise ValueError(f"could not base64 decode bytes: {value!r}")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def key_set(secret: str) -> list[dict[str, Any]]:
    """Config.hs parseSecret: the keys PostgREST verifies with."""
    try:
        parsed = json.loads(secret)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("keys"), list):
        try:
            return [_parse_jwk(k) for k in parsed["keys"]]
        except ValueError:
            pass  # not a JwkSet: maybe one JWK, else a plain secret
    if isinstance(parsed, dict):
        try:
            return [_parse_jwk(parsed)]
        except ValueError:
            pass
    if len(secret.encode()) < 32:
        raise ValueError("The JWT secret must be at least 32 characters long.")
    return [{"kty": "oct", "k": base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode(), "alg": "HS256",
             "use": "sig"}]


def _parse_jwk(jwk: Any) -> dict[str, Any]:
    """Jose/Jwk.hs parseJwk: an unknown kty or alg is an UnsupportedJwk (kept, never used);
    a known one must be well formed or the set fails."""
    if not isinstance(jwk, dict):
        raise ValueError("Jwk must be a JSON object")
    if jwk.get("kty") not in ("RSA", "EC", "oct", "OKP") or jwk.get("alg") not in (
            None, "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA", "none"):
        return {"unsupported": jwk}
    if jwk.get("use") not in (None, "sig", "enc"):
        raise ValueError("'use' value must be either 'sig' or 'enc'")
    for member in ("k", "x", "y", "n", "e", "d"):
        if member in jwk:
            _b64(jwk[member])
    if jwk["kty"] == "oct" and "k" not in jwk:
        raise ValueError("k is required for a symmetric key")
    if jwk["kty"] == "EC" and jwk.get("crv") not in ("P-256", "P-384", "P-521"):
        raise ValueError("crv must be a valid EC curve name")
    return jwk


_TYPE = {"HS": "oct", "RS": "RSA", "ES": "EC"}


def verify(token: str, secret: str) -> dict[str, Any]:
    """The claims of `token` if PostgREST with `jwt-secret` = `secret` accepts it, else raise."""
    header = jwt.get_unverified_header(token)
    alg, kid = header.get("alg"), header.get("kid")
    candidates = [k for k in key_set(secret)
                  if "unsupported" not in k and k.get("use") != "enc"
                  and (kid is None or k.get("kid") == kid)
                  and k.get("alg") in (None, alg)
                  and _TYPE.get(str(alg)[:2]) == k["kty"]]
    if not candidates:
        raise jwt.InvalidKeyError("No suitable key was found to decode the JWT")
    for k in candidates:
        key = _b64(k["k"]) if k["kty"] == "oct" else jwt.PyJWK(k).key
        try:
            return jwt.decode(token, key, algorithms=[alg], leeway=30, options={"verify_aud": False})
        except jwt.InvalidSignatureError:
            continue
    raise jwt.InvalidSignatureError("None of the keys was able to decode the JWT")
