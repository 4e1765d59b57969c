"""Realtime verifies every project's tokens with the keys its tenant row carries.

sql/bootstrap/0006_realtime_tenant_jwks.sql.j2 on a real PostgreSQL, with Realtime's own
tables from its pinned migrations (tests/sql/realtime_tenants.sql, v2.78.15), the seed of
every Realtime start and the tenant API's update as Realtime sends them, and the socket's
token verification and channel join from the pinned source (tests/realtime_api.py).
"""
from __future__ import annotations

import json

import psycopg
import pytest

from components.core import keys
from components.core.signing_keys import SigningKey
from tests import pg
from tests import realtime_api as realtime
from tests import storage_api as storage
from tests.test_jwks_registry import STACK, key, token

SECRET = storage.JWT_SECRET  # the stack secret: Realtime's API_JWT_SECRET, the tenant's jwt_secret


def row_jwks(dsn: str) -> dict:
    return realtime.tenant_row(dsn)["jwt_jwks"]


def row_kids(dsn: str) -> list[str]:
    return [k["kid"] for k in row_jwks(dsn)["keys"]]


def realtime_starts(dsn: str) -> None:
    realtime.migrate_realtime(dsn)
    realtime.seed_self_host(dsn)


@pytest.fixture
def stack(db):
    """Pulumi's order: bootstrap (with the stack's keys), Realtime's first start, projects."""
    pg.bootstrap(db, jwt_secret=SECRET, jwks=[STACK.public_jwk()])
    realtime_starts(db)
    a = pg.create_project(db, "a", jwks=[key("a").public_jwk()])
    b = pg.create_project(db, "b", jwks=[key("b").public_jwk()])
    return db, a, b


def test_the_tenant_row_carries_the_stack_key_and_every_projects_keys(stack):
    dsn, *_ = stack
    assert row_jwks(dsn) == {"keys": [STACK.public_jwk(), key("a").public_jwk(), key("b").public_jwk()]}


def test_the_row_never_holds_the_legacy_secret(stack):
    """Realtime checks HS256 tokens with its encrypted jwt_secret; jwt_jwks is plain jsonb."""
    dsn, *_ = stack
    text = json.dumps(row_jwks(dsn))
    assert all(k["kty"] != "oct" and "k" not in k for k in row_jwks(dsn)["keys"])
    assert SECRET not in text and storage.key("anon").split(".")[0] not in text


def test_a_project_change_updates_the_row(stack):
    dsn, a, b = stack
    pg.apply(dsn, a, jwks=[key("a", 2).public_jwk(), key("a").public_jwk()])
    assert row_kids(dsn) == [STACK.kid, *sorted([key("a", 2).kid, key("a").kid]), key("b").kid]
    pg.apply(dsn, a, jwks=[key("a", 2).public_jwk()])
    assert row_kids(dsn) == [STACK.kid, key("a", 2).kid, key("b").kid]
    pg.remove_project(dsn, b)
    assert row_kids(dsn) == [STACK.kid, key("a", 2).kid]
    pg.bootstrap(dsn, jwks=[SigningKey("@stack", 2, "s").public_jwk()])
    assert row_kids(dsn) == [SigningKey("@stack", 2, "s").kid, key("a", 2).kid]


def test_every_restart_of_realtime_gets_the_keys_again(stack):
    dsn, *_ = stack
    for _ in range(2):
        realtime_starts(dsn)  # the seed deletes the tenant and inserts it with jwt_jwks NULL
        assert row_kids(dsn) == [STACK.kid, key("a").kid, key("b").kid]


def test_the_tenant_api_cannot_replace_them(stack):
    dsn, *_ = stack
    realtime.update_tenant(dsn, jwt_jwks=json.dumps({"keys": [SigningKey("evil", 1, "x").public_jwk()]}))
    assert row_kids(dsn) == [STACK.kid, key("a").kid, key("b").kid]
    realtime.seed_self_host(dsn, tenant="another")
    assert realtime.tenant_row(dsn, "another")["jwt_jwks"] == row_jwks(dsn)


def test_a_realtime_that_starts_after_the_projects_gets_them(db):
    pg.bootstrap(db, jwt_secret=SECRET)
    pg.create_project(db, "a", jwks=[key("a").public_jwk()])
    realtime.migrate_realtime(db)  # the event trigger attaches the row trigger
    realtime.seed_self_host(db)
    assert row_kids(db) == [key("a").kid]


def test_a_stack_whose_realtime_already_ran_gets_them_at_the_bootstrap(db):
    realtime_starts(db)
    pg.bootstrap(db, jwt_secret=SECRET, jwks=[STACK.public_jwk()])
    assert row_kids(db) == [STACK.kid]


def test_a_disabled_trigger_is_enabled_again_at_once(stack):
    dsn, *_ = stack
    pg.run(dsn, "alter table _realtime.tenants disable trigger supabase_multi_jwks")
    realtime.seed_self_host(dsn)
    assert row_kids(dsn) == [STACK.kid, key("a").kid, key("b").kid]


# -- joining as Realtime verifies the socket's token ------------------------------------------


def test_each_projects_tokens_join_its_own_private_topics(stack):
    dsn, a, b = stack
    assert realtime.join(dsn, token(key("a"), a.anon), "a:room", private=True) is None
    assert realtime.can_broadcast(dsn, token(key("a"), a.service), "a:room", private=True)
    assert realtime.join(dsn, token(key("b"), b.anon), "b:room", private=True) is None
    assert realtime.join(dsn, token(key("a"), a.anon), "b:room", private=True) == "Unauthorized"


def test_a_token_of_an_unknown_or_removed_key_does_not_join(stack):
    dsn, a, b = stack
    assert realtime.join(dsn, token(key("b"), "anon"), "room", private=True) == "Unauthorized"  # b's key verifies
    assert realtime.join(dsn, token(key("a", 2), a.anon), "a:room", private=True) == "JwtSignatureError"
    pg.remove_project(dsn, b)
    assert realtime.join(dsn, token(key("b"), "anon"), "room", private=True) == "JwtSignatureError"


def test_the_stacks_legacy_keys_still_join_with_the_tenants_secret(stack):
    dsn, *_ = stack
    assert realtime.join(dsn, keys.sign(SECRET, "service_role"), "b:room", private=True) is None
    assert realtime.join(dsn, token(STACK, "service_role"), "b:room", private=True) is None


def test_the_model_refuses_es256_tokens_on_a_row_without_keys(stack):
    """What the seed alone leaves (jwt_jwks NULL): the check above can fail."""
    dsn, a, _ = stack
    pg.run(dsn, "drop event trigger supabase_multi_realtime_jwks")
    pg.run(dsn, "drop trigger supabase_multi_jwks on _realtime.tenants")
    realtime.seed_self_host(dsn)
    assert realtime.tenant_row(dsn)["jwt_jwks"] is None
    assert realtime.join(dsn, token(key("a"), a.anon), "a:room", private=True) == "JwtSignatureError"
    with psycopg.connect(dsn) as conn:  # the registry still has them: only the row lacks them
        assert conn.execute("select count(*) from supabase_multi.verifying_keys").fetchone()[0] == 3
