"""The database is the source of the keys PostgREST verifies with, on a real PostgreSQL.

Projects are created, rotated and removed through their real SQL steps (tests/pg.py, in
Pulumi's order); PostgREST's `reload config` and its token verification are modelled from
its v14.5 source (tests/postgrest_jwt.py). Keys are real ES256 keys of
components/core/signing_keys.py; checks of the inputs are components/core/jwks_registry.py's.
"""
from __future__ import annotations

import base64
import json

import jwt
import psycopg
import pytest

from components.core import jwks_registry, keys
from components.core import migrations as m
from components.core.naming import ProjectNames
from components.core.signing_keys import SigningKey
from components.providers.sql_migrations import BootstrapProvider, ProjectMigrationsProvider
from tests import pg
from tests import postgrest_jwt as postgrest

SECRET = "legacy-stack-jwt-secret-with-at-least-32-characters"
STACK = SigningKey("@stack", 1, "stack-seed")


def key(project: str, generation: int = 1) -> SigningKey:
    return SigningKey(project, generation, f"seed-of-{project}-{generation}")


def oct_key(secret: str = SECRET) -> dict:
    return {"kty": "oct", "alg": "HS256", "k": base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode()}


def token(signer: SigningKey, role: str) -> str:
    return signer.sign({"role": role, "iss": keys.ISSUER, "ref": signer.project, "iat": keys.ISSUED_AT,
                        "exp": keys.EXPIRES_AT})


def jwks(dsn: str) -> dict:
    """What PostgREST holds as `jwt-secret` after a `reload config`, parsed."""
    secret = postgrest.jwt_secret(dsn)
    assert secret is not None, "the pre-config set no pgrst.jwt_secret"
    return json.loads(secret)


def kids(dsn: str) -> list[str]:
    return [k.get("kid") for k in jwks(dsn)["keys"]]


@pytest.fixture
def stack(db):
    """Bootstrap with the stack's secret and key, then projects a and b with their own keys."""
    pg.bootstrap(db, jwt_secret=SECRET, jwks=[STACK.public_jwk()])
    a = pg.create_project(db, "a", jwks=[key("a").public_jwk()])
    b = pg.create_project(db, "b", jwks=[key("b").public_jwk()])
    return db, a, b


# -- what PostgREST reads ----------------------------------------------------------------------


def test_the_pre_config_jwks_holds_the_legacy_secret_the_stack_key_and_both_projects(stack):
    dsn, *_ = stack
    found = jwks(dsn)["keys"]
    assert found == [oct_key(), STACK.public_jwk(), key("a").public_jwk(), key("b").public_jwk()]
    assert postgrest.key_set(postgrest.jwt_secret(dsn)) == found  # jose-jwt reads it as a key set, every key usable
    assert postgrest.db_settings(dsn)["db_schemas"] == "public,storage,graphql_public,a,b"


def test_rotating_as_keys_changes_only_as_entries(stack):
    dsn, a, _ = stack
    before = jwks(dsn)["keys"]
    pg.apply(dsn, a, jwks=[key("a", 2).public_jwk(), key("a", 1).public_jwk()])  # overlap: both verify
    assert kids(dsn) == [None, STACK.kid, *sorted([key("a", 2).kid, key("a", 1).kid]), key("b").kid]
    pg.apply(dsn, a, jwks=[key("a", 2).public_jwk()])  # the old generation dropped
    after = jwks(dsn)["keys"]
    assert after == [before[0], before[1], key("a", 2).public_jwk(), before[3]]


@pytest.mark.parametrize("on_delete", ["archive", "drop"])
def test_removing_b_removes_its_keys(stack, on_delete):
    dsn, _, b = stack
    pg.remove_project(dsn, b, on_delete)
    assert kids(dsn) == [None, STACK.kid, key("a").kid]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from supabase_multi.verifying_keys where kid = %s",
                            (key("b").kid,)).fetchone()[0] == 0


def test_a_token_verifies_only_with_a_live_key_picked_by_its_kid(stack):
    dsn, a, b = stack
    secret = postgrest.jwt_secret(dsn)
    assert postgrest.verify(token(key("a"), a.anon), secret)["role"] == a.anon
    assert postgrest.verify(keys.sign(SECRET, "anon"), secret)["role"] == "anon"  # the stack's legacy keys
    assert postgrest.verify(token(STACK, "authenticated"), secret)["role"] == "authenticated"
    for refused in (token(key("a", 2), a.anon),      # a key no one recorded
                    token(key("zz"), b.service),     # another unknown key
                    keys.sign("another-secret-of-at-least-thirty-two-chars", "service_role")):
        with pytest.raises(jwt.PyJWTError):
            postgrest.verify(refused, secret)


def test_a_token_that_names_another_keys_kid_is_refused(stack):
    """Signed with a's key but carrying b's kid: jose-jwt tries b's key only, which fails."""
    dsn, _, b = stack
    forged = jwt.api_jws.encode(json.dumps({"role": b.service, "exp": keys.EXPIRES_AT}).encode(),
                                key("a").private_key, algorithm="ES256", headers={"kid": key("b").kid})
    with pytest.raises(jwt.PyJWTError):
        postgrest.verify(forged, postgrest.jwt_secret(dsn))


def test_a_removed_key_stops_verifying_at_the_next_reload(stack):
    dsn, a, _ = stack
    old = token(key("a"), a.service)
    postgrest.verify(old, postgrest.jwt_secret(dsn))
    pg.apply(dsn, a, jwks=[key("a", 2).public_jwk()])
    with pytest.raises(jwt.PyJWTError):
        postgrest.verify(old, postgrest.jwt_secret(dsn))
    assert postgrest.verify(token(key("a", 2), a.service), postgrest.jwt_secret(dsn))["role"] == a.service


def test_every_key_change_tells_postgrest_to_reload_its_config(stack):
    dsn, a, b = stack
    with psycopg.connect(pg.as_authenticator(dsn), autocommit=True) as listener:
        listener.execute("listen pgrst")
        for change in (lambda: pg.apply(dsn, a, jwks=[key("a", 2).public_jwk()]),
                       lambda: pg.bootstrap(dsn, jwks=[SigningKey("@stack", 2, "s").public_jwk()]),
                       lambda: pg.remove_project(dsn, b)):
            change()
            assert "reload config" in {n.payload for n in listener.notifies(timeout=1)}


# -- the secret ----------------------------------------------------------------------------


def test_without_a_recorded_secret_postgrest_keeps_its_own(db):
    """Before StackBootstrap has the secret, the pre-config sets no jwt_secret: PostgREST keeps
    PGRST_JWT_SECRET rather than get a key set that locks out the stack's legacy keys."""
    pg.bootstrap(db)
    pg.create_project(db, "a", jwks=[key("a").public_jwk()])
    assert "jwt_secret" not in postgrest.db_settings(db)
    assert postgrest.jwt_secret(db, env_secret=SECRET) == SECRET
    with psycopg.connect(db) as conn:  # the project's keys are recorded all the same
        assert conn.execute("select supabase_multi.verifying_jwks(true)").fetchone()[0] == {
            "keys": [key("a").public_jwk()]}


def test_the_secret_is_replaced_and_never_removed(stack):
    dsn, *_ = stack
    new = "rotated-legacy-stack-secret-also-32-characters-long"
    pg.bootstrap(dsn, jwt_secret=new)
    assert jwks(dsn)["keys"][:2] == [oct_key(new), STACK.public_jwk()]
    pg.bootstrap(dsn)  # no secret given: the recorded one stays
    assert jwks(dsn)["keys"][0] == oct_key(new)


API_ROLE_READS = [
    "select * from supabase_multi.verifying_keys",
    "select * from supabase_multi.stack_jwt_secret",
    "select supabase_multi.verifying_jwks(true)",
    "select supabase_multi.postgrest_pre_config()",
]


@pytest.mark.parametrize("statement", API_ROLE_READS)
def test_no_api_role_reads_the_keys_or_the_secret(stack, statement):
    dsn, a, _ = stack
    with psycopg.connect(dsn) as conn:
        assert conn.execute(statement).fetchall()  # the admin does
    for role in (a.anon, a.authenticated, a.service, "anon", "authenticated", "service_role"):
        with pg.request(dsn, role, a.schema) as conn:
            assert conn.execute("select current_user").fetchone()[0] == role
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for schema supabase_multi"):
                conn.execute(statement)


def test_the_secret_stays_in_postgrests_config_transaction(stack):
    """A pooled session that ran the pre-config serves the next request: the setting is gone."""
    dsn, a, _ = stack
    with psycopg.connect(pg.as_authenticator(dsn)) as conn:
        assert json.loads(postgrest.db_settings(dsn, conn)["jwt_secret"])["keys"][0] == oct_key()
        with conn.transaction():
            conn.execute("select set_config('role', %s, true)", (a.service,))
            assert conn.execute("select current_setting('pgrst.jwt_secret', true)").fetchone()[0] in (None, "")
    with psycopg.connect(pg.as_authenticator(dsn)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select secret from supabase_multi.stack_jwt_secret")  # not even authenticator


# -- what may be recorded --------------------------------------------------------------------


def test_a_private_key_is_refused_before_any_sql_and_by_the_table(stack):
    dsn, a, _ = stack
    with pytest.raises(m.MigrationError, match=r"holds private key members \['d'\]"):
        ProjectMigrationsProvider().converge({"dsn": dsn, "project": "a", "jwks": [key("a").private_jwk()]})
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("insert into supabase_multi.verifying_keys values (%s, %s, %s)",
                     ("x", a.schema, json.dumps({**key("a").private_jwk(), "kid": "x"})))


def test_a_kid_is_one_projects(stack):
    dsn, a, b = stack
    with pytest.raises(m.MigrationError, match="a signing key of project a has a kid that b already uses"):
        pg.apply(dsn, a, jwks=[key("b").public_jwk()])
    assert kids(dsn)[2:] == [key("a").kid, key("b").kid]  # rolled back: nothing changed


@pytest.mark.parametrize("bad, reason", [
    ({**key("a").public_jwk(), "use": "enc"}, "has use 'enc'"),
    ({**key("a").public_jwk(), "x": key("a").public_jwk()["x"] + "="}, "not unpadded base64url"),
    ({k: v for k, v in key("a").public_jwk().items() if k != "kid"}, "has no kid"),
    (oct_key(), "holds private key members ['k']"),
    ({**key("a").public_jwk(), "alg": "HS256"}, "has alg 'HS256'"),
])
def test_a_jwk_postgrest_could_not_use_fails_at_preview(bad, reason):
    """One such key would make PostgREST read the whole set as a plain HMAC secret."""
    news = {"project": "a", "template": "blog", "migrations": [], "jwks": [bad]}
    failures = ProjectMigrationsProvider().check({}, news).failures
    assert [f.property for f in failures] == ["jwks"] and reason in failures[0].reason
    assert BootstrapProvider().check({}, {"migrations": [], "jwks": [bad]}).failures[0].reason.startswith("the stack")
    with pytest.raises(jwks_registry.JwksRefused):
        jwks_registry.checked([bad], "project 'a'")


def test_a_kid_twice_in_one_input_is_refused():
    with pytest.raises(jwks_registry.JwksRefused, match="appears twice"):
        jwks_registry.checked([key("a").public_jwk(), key("a").public_jwk()], "project 'a'")


def test_no_role_but_the_admin_holds_a_privilege_on_them(stack):
    """Behind the schema: nothing granted on the tables or the key-set function, to any API role
    or to authenticator, so a later USAGE grant on the schema would still open nothing."""
    dsn, a, _ = stack
    roles = [a.anon, a.authenticated, a.service, "anon", "authenticated", "service_role", "authenticator"]
    with psycopg.connect(dsn) as conn:
        for role in roles:
            found = conn.execute(
                "select has_table_privilege(%(r)s, 'supabase_multi.verifying_keys', 'select'),"
                "       has_table_privilege(%(r)s, 'supabase_multi.stack_jwt_secret', 'select'),"
                "       has_function_privilege(%(r)s, 'supabase_multi.verifying_jwks(boolean)', 'execute')",
                {"r": role}).fetchone()
            assert found == (False, False, False), role


def test_the_providers_record_rotate_and_remove_keys(db):
    """The dynamic providers as the engine calls them: StackBootstrap's jwt_secret and jwks,
    a project's jwks on create, a rotation as an in-place update, the removal."""
    from tests.test_sql_migrations import bootstrap_props, project_props

    BootstrapProvider().create({**bootstrap_props(db), "jwt_secret": SECRET, "jwks": [STACK.public_jwk()]})
    names = ProjectNames("crm")
    pg.provider_create(db, names)
    provider = ProjectMigrationsProvider()
    props = {**project_props(db, "crm"), "jwks": [key("crm").public_jwk()]}
    created = provider.create(props)
    assert kids(db) == [None, STACK.kid, key("crm").kid]
    rotated = {**props, "jwks": [key("crm", 2).public_jwk()]}
    assert provider.diff("crm", created.outs, rotated).changes and not provider.diff("crm", created.outs, rotated).replaces
    provider.update("crm", created.outs, rotated)
    assert kids(db) == [None, STACK.kid, key("crm", 2).kid]
    pg.provider_grant(db, names)
    pg.provider_revoke(db, names)
    provider.delete("crm", rotated)
    assert kids(db) == [None, STACK.kid]


def test_a_restore_keeps_the_projects_keys(db, pg_tools, tmp_path):
    """A forced restore archives the live project's old contents (its registry row is renamed)
    and keeps the project: its keys stay with its name, and its next step rotates them."""
    from backup import dump, restore
    from tests.backup_projects import new_project, seed

    pg.bootstrap(db, jwt_secret=SECRET)
    alpha = new_project(db, "alpha", jwks=[key("alpha").public_jwk()])
    seed(db, "alpha")
    backup = dump.dump(db, "alpha", tmp_path / "backups", tools=pg_tools)
    assert restore.restore(db, backup, "alpha", force=True, tools=pg_tools).replaced.startswith("archived as ")
    assert kids(db) == [None, key("alpha").kid]
    pg.apply(db, alpha, jwks=[key("alpha", 2).public_jwk()])
    assert kids(db) == [None, key("alpha", 2).kid]


def test_keys_not_known_yet_are_left_to_the_update():
    """The first preview: the seeds (pulumi-random) are unknown, so are the public keys."""
    from pulumi.runtime.rpc import UNKNOWN

    pending = {**key("a").public_jwk(), "x": UNKNOWN, "y": UNKNOWN, "kid": UNKNOWN}
    assert ProjectMigrationsProvider().check({}, {"project": "a", "migrations": [], "jwks": [pending]}).failures == []
    assert ProjectMigrationsProvider().check({}, {"project": "a", "migrations": [], "jwks": UNKNOWN}).failures == []
