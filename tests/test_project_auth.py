"""Per-project auth, attacked with the tokens GoTrue issues (tests/gotrue.py: the real binary
when it could be built, else its documented behaviour), on a real PostgreSQL.

Each project's GoTrue gets exactly the env the program declares for its `auth-<p>`
container (read under Pulumi mocks). `alpha` and `beta` have their own user pools; `gamma`
uses the stack's (`auth.mode: shared`), whose GoTrue gets the stack `auth` container's env.
"""
from __future__ import annotations

import functools
import time
import uuid

import jwt
import psycopg
import pytest
import yaml

from components.core import project_description
from tests import gotrue, pg
from components.core.signing_keys import SigningKey
from tests.program import dev_config, fake_secret, run_program, verified_claims
from tests.test_gateway import allowed
from tests.stack_inputs import NS, containers, pushed

PASSWORD = "correct horse battery staple"
AUTH_ADMIN_PASSWORD = "auth-admin-password-for-tests"
PROJECTS = [{"name": "alpha"}, {"name": "beta"}, {"name": "gamma", "auth": {"mode": "shared"}}]


@functools.cache
def program_run():
    """The program under mocks with PROJECTS: deterministic, so one run serves the module."""
    config = dev_config()
    config[f"{NS}:projects"] = PROJECTS
    return run_program(config)


@pytest.fixture(scope="module")
def program():
    return program_run()


@pytest.fixture
def stack(db, program, tmp_path):
    """The three projects in the database, their GoTrues running, one user signed up in each pool."""
    pg.bootstrap(db)
    names = {p["name"]: pg.create_project(db, p["name"], auth_mode=p.get("auth", {}).get("mode", "own"),
                                          auth_password=AUTH_ADMIN_PASSWORD) for p in PROJECTS}
    found = containers(program)
    pools = {name: gotrue.start(gotrue.container_env(found[f"auth-{name}"].inputs), db, names[name].auth_admin,
                                AUTH_ADMIN_PASSWORD, tmp_path / f"auth-{name}.log") for name in ("alpha", "beta")}
    for name in ("alpha", "beta"):  # Pulumi runs the SQL step after the GoTrue made its pool
        pg.apply(db, names[name])
    pools["stack"] = gotrue.DocumentedGoTrue(gotrue.container_env(found["auth"].inputs))
    tokens = {}
    for pool, client in pools.items():
        signed_up = client.sign_up(f"user@{pool}.example.com", PASSWORD)
        assert signed_up.status == 200, signed_up.body
        tokens[pool] = client.sign_in(f"user@{pool}.example.com", PASSWORD).body["access_token"]
    try:
        yield db, names, pools, tokens
    finally:
        for client in pools.values():
            client.stop()


def claims_of(token: str) -> dict:
    """A token's claims, verified with the published key its kid names (KeyError: no such key)."""
    return verified_claims(program_run(), token)


def as_token(dsn: str, schema: str, token: str, query: str):
    """The request PostgREST makes for this bearer token on this schema."""
    claims = claims_of(token)
    with pg.request(dsn, claims["role"], schema, claims) as conn:
        return conn.execute(query).fetchall()


def denied(dsn: str, schema: str, token: str, query: str) -> bool:
    try:
        as_token(dsn, schema, token, query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def every_object(dsn: str, schema: str) -> list[str]:
    found = project_description.describe(dsn, schema)
    return [f'"{schema}".{t["name"]}' for t in found["tables"]] + [
        v["name"] if "." in v["name"] else f'"{schema}".{v["name"]}' for v in found["views"]]


# -- tokens -----------------------------------------------------------------------------------


def test_a_projects_tokens_carry_its_own_role_audience_and_issuer(stack, program):
    _, names, _, tokens = stack
    claims = claims_of(tokens["alpha"])
    assert claims["role"] == "alpha_authenticated" == names["alpha"].authenticated
    assert claims["aud"] == "alpha"
    assert claims["iss"] == program.outputs["projects"]["alpha"]["authUrl"]
    assert claims_of(tokens["stack"])["role"] == "authenticated"


def test_each_project_keeps_its_users_in_its_own_pool(stack):
    dsn, names, pools, _ = stack
    if isinstance(pools["alpha"], gotrue.RealGoTrue):
        with psycopg.connect(dsn) as conn:
            emails = lambda schema: {e for (e,) in conn.execute(f'select email from "{schema}".users')}  # noqa: E731
            assert emails("alpha_auth") == {"user@alpha.example.com"}
            assert emails("beta_auth") == {"user@beta.example.com"}
    # The same address signs up again in another pool: pools are separate.
    assert pools["beta"].sign_up("user@alpha.example.com", PASSWORD).status == 200


# -- data: a user of one project opens nothing of another ---------------------------------------


def test_a_user_writes_in_their_own_project(stack):
    dsn, _, _, tokens = stack
    claims = claims_of(tokens["alpha"])
    with pg.request(dsn, claims["role"], "alpha", claims) as conn:
        conn.execute("insert into users (name) values ('Alpha user')")
        conn.execute("insert into posts (title, published) values ('hi', true)")
    # The profile's e-mail is the token's, and even its owner cannot read it back through the API.
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select email from alpha.users").fetchall() == [("user@alpha.example.com",)]
    assert denied(dsn, "alpha", tokens["alpha"], "select email from users")
    assert denied(dsn, "alpha", tokens["alpha"], "update users set email = 'ceo@example.com'")


def test_a_user_of_one_project_is_denied_every_object_of_another(stack):
    dsn, _, _, tokens = stack
    for target in ("beta", "gamma"):
        for obj in every_object(dsn, target):
            for query in (f"select * from {obj}", f"delete from {obj}"):
                assert denied(dsn, target, tokens["alpha"], query), (target, query)


def test_a_shared_pool_token_is_denied_every_own_project(stack):
    dsn, _, _, tokens = stack
    for target in ("alpha", "beta"):
        for obj in every_object(dsn, target):
            assert denied(dsn, target, tokens["stack"], f"select * from {obj}"), obj
            assert denied(dsn, target, tokens["stack"], f"insert into {obj} default values"), obj


def test_shared_pool_users_sign_in_to_shared_projects(stack):
    dsn, _, _, tokens = stack
    me = claims_of(tokens["stack"])["sub"]
    claims = claims_of(tokens["stack"])
    with pg.request(dsn, claims["role"], "gamma", claims) as conn:
        conn.execute("insert into users (name) values ('Gamma user')")
        assert conn.execute("select id::text from users").fetchall() == [(me,)]


# -- the admin API -------------------------------------------------------------------------------


def test_a_projects_admin_api_takes_only_its_own_service_key(stack, program):
    _, _, pools, tokens = stack
    service = program.outputs["projectServiceKeys"]
    assert pools["alpha"].admin_users(service["alpha"]).status == 200
    for key in (service["beta"], service["gamma"], program.outputs["serviceRoleKey"], tokens["alpha"],
                program.outputs["projects"]["alpha"]["anonKey"]):
        assert pools["alpha"].admin_users(key).status == 403


def test_a_user_of_another_pool_is_unknown(stack):
    _, _, pools, tokens = stack
    assert pools["alpha"].user(tokens["alpha"]).status == 200
    assert pools["alpha"].user(tokens["beta"]).status in (401, 403, 404)


def test_closed_sign_up_is_refused(db, tmp_path):
    config = dev_config()
    config[f"{NS}:projects"] = [{"name": "alpha", "auth": {"signup": "closed"}}]
    env = gotrue.container_env(containers(run_program(config))["auth-alpha"].inputs)
    pg.bootstrap(db)
    names = pg.create_project(db, "alpha", auth_password=AUTH_ADMIN_PASSWORD)
    client = gotrue.start(env, db, names.auth_admin, AUTH_ADMIN_PASSWORD, tmp_path / "auth.log")
    try:
        assert client.sign_up("someone@example.com", PASSWORD).status in (403, 422)
    finally:
        client.stop()


# -- the gateway: the same tokens at the project URLs ---------------------------------------------


def test_the_gateway_lets_a_user_token_through_only_at_its_project(stack, program):
    _, _, _, tokens = stack
    (push,) = program.of_type("pulumi-python:dynamic/supabase:KongConfig")
    kong = yaml.safe_load(pushed(push))
    anon = {p: program.outputs["projects"][p]["anonKey"] for p in ("alpha", "beta", "gamma")}
    assert allowed(kong, "/project/alpha/rest/v1/posts", anon["alpha"], bearer=tokens["alpha"])
    assert allowed(kong, "/project/alpha/auth/v1/user", anon["alpha"], bearer=tokens["alpha"])
    assert not allowed(kong, "/project/beta/rest/v1/posts", anon["beta"], bearer=tokens["alpha"])
    assert not allowed(kong, "/project/alpha/rest/v1/posts", anon["alpha"], bearer=tokens["stack"])
    assert allowed(kong, "/project/gamma/rest/v1/posts", anon["gamma"], bearer=tokens["stack"])


# -- issue 17: one project's service key forging another project's role --------------------------


def test_a_role_forged_through_one_projects_admin_api_opens_nothing_of_another(stack, program):
    """The attack of issue 17, step by step: alpha's service key makes an alpha user whose
    tokens claim beta's service role; alpha's GoTrue signs them with alpha's key only, so
    beta's GoTrue refuses them (the gateway refuses them too: tests/test_gateway_keys.py). With
    the real GoTrue the pool's role constraint already stops the first step; the forged token
    is then made with alpha's key directly, as code running inside alpha's GoTrue could."""
    _, _, pools, _ = stack
    service = program.outputs["projectServiceKeys"]
    made = pools["alpha"].admin_create_user(service["alpha"], "forger@alpha.example.com", PASSWORD, "beta_service")
    if isinstance(pools["alpha"], gotrue.RealGoTrue):
        # GoTrue honours `role` on admin create (admin.go adminUserCreate), but the pool's
        # constraint (sql/projects/_auth_roles.sql.j2) refuses to store it: no token at all.
        assert made.status >= 400, made.body
        assert pools["alpha"].sign_in("forger@alpha.example.com", PASSWORD).status == 400
        forged = SigningKey("alpha", 1, fake_secret("alpha-signing-key-1", 64)).sign(
            {"role": "beta_service", "sub": str(uuid.uuid4()), "exp": int(time.time()) + 600})
    else:  # the stand-in keeps its users in memory: it signs the forged role (as GoTrue would without the constraint)
        assert made.status == 200, made.body
        forged = pools["alpha"].sign_in("forger@alpha.example.com", PASSWORD).body["access_token"]
    assert claims_of(forged)["role"] == "beta_service"
    kid = jwt.get_unverified_header(forged)["kid"]
    assert kid == program.outputs["projects"]["alpha"]["signingKeyId"] != program.outputs["projects"]["beta"]["signingKeyId"]
    assert pools["beta"].admin_users(forged).status == 403
    assert pools["beta"].admin_create_user(forged, "x@beta.example.com", PASSWORD, "beta_service").status == 403
    assert pools["beta"].admin_users(service["beta"]).status == 200  # beta's own key still works
    # The stack's legacy keys (HS256, the stack secret) open no project's GoTrue.
    for pool in ("alpha", "beta"):
        assert pools[pool].admin_users(program.outputs["serviceRoleKey"]).status == 403
