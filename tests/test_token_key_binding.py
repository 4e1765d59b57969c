"""Behind the gateway, a token acts only as the roles of the key that signed it
(sql/bootstrap/0007_token_key_binding.sql.j2), on a real PostgreSQL.

Each request is made as PostgREST v14.5 makes it: as `authenticator`, the transaction
settings of src/PostgREST/Query/PreQuery.hs txVarQuery (role, claims, `request.headers` with
every header lowercased), then the pre-request function (PGRST_DB_PRE_REQUEST), then the
query. Tokens are first verified against the JWKS PostgREST reads from the pre-config
(tests/postgrest_jwt.py), so every token here is one PostgREST would accept; the question is
only which role it may take.
"""
from __future__ import annotations

import json

import psycopg
import pytest

from components.resources.services import PRE_REQUEST
from tests import pg
from tests import postgrest_jwt as postgrest
from tests.test_jwks_registry import SECRET, STACK, key, token


def call(dsn: str, bearer: str | None, role: str, schema: str, query: str = "select 1"):
    claims = {"role": role}
    headers = {"apikey": "x", **({"authorization": f"Bearer {bearer}"} if bearer else {})}
    with pg.request(dsn, role, schema, claims) as conn:
        conn.execute("select set_config('request.headers', %s, true)", (json.dumps(headers),))
        conn.execute(f"select {PRE_REQUEST}()")
        return conn.execute(query).fetchall()


def accepted(dsn: str, bearer: str | None, role: str, schema: str = "a") -> bool:
    if bearer is not None:  # PostgREST's own check first: the signature, with its JWKS
        assert postgrest.verify(bearer, postgrest.jwt_secret(dsn))["role"] == role
    try:
        call(dsn, bearer, role, schema)
    except psycopg.errors.InsufficientPrivilege as err:
        assert "key" in str(err)
        return False
    return True


@pytest.fixture
def stack(db):
    pg.bootstrap(db, jwt_secret=SECRET, jwks=[STACK.public_jwk()])
    pg.create_project(db, "a", jwks=[key("a").public_jwk()])
    pg.create_project(db, "b", jwks=[key("b").public_jwk()])
    return db


def legacy(role: str) -> str:
    import jwt

    return jwt.encode({"role": role, "iss": "supabase"}, SECRET, algorithm="HS256")


def test_a_projects_own_keys_take_its_own_roles(stack):
    for role in ("a_anon", "a_authenticated", "a_service"):
        assert accepted(stack, token(key("a"), role), role)


def test_another_projects_key_cannot_take_its_roles(stack):
    """The forged token of issue 17: signed by a's key (PostgREST accepts the signature)."""
    for role in ("b_anon", "b_authenticated", "b_service"):
        assert not accepted(stack, token(key("a"), role), role, "b")


def test_the_stack_secret_and_the_stack_key_take_no_project_role(stack):
    for role in ("a_service", "b_service", "a_anon"):
        assert not accepted(stack, legacy(role), role)
        assert not accepted(stack, token(STACK, role), role)


def test_the_stacks_roles_take_the_stacks_keys_only(stack):
    for role in ("anon", "service_role", "authenticated"):
        assert accepted(stack, legacy(role), role)
        assert not accepted(stack, token(key("a"), role), role)
    assert accepted(stack, token(STACK, "authenticated"), "authenticated")  # shared-pool users
    assert accepted(stack, None, "anon")  # no token: PostgREST's anonymous role


def test_a_rotated_out_key_takes_nothing(stack):
    old = token(key("a"), "a_service")
    pg.apply(stack, pg.ProjectNames("a"), jwks=[key("a", 2).public_jwk()])
    try:
        call(stack, old, "a_service", "a")
    except psycopg.errors.InsufficientPrivilege:
        pass
    else:
        raise AssertionError("a key that left the registry still took a_service")
    assert accepted(stack, token(key("a", 2), "a_service"), "a_service")


def test_every_api_role_can_run_the_check(stack):
    """The pre-request runs as the token's role, by name: its schema and EXECUTE are public."""
    with psycopg.connect(stack) as conn:
        grants = conn.execute("select has_schema_privilege('a_anon', 'supabase_multi_request', 'USAGE'), "
                              "has_schema_privilege('a_anon', 'supabase_multi', 'USAGE')").fetchone()
    assert grants == (True, False)
