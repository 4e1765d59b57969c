"""An imported app's sign-up trigger, fired by a sign-up through the project's own GoTrue.

vercel/nextjs-subscription-payments creates `handle_new_user()` and `on_auth_user_created
after insert on auth.users`; imported as project `shop`, the trigger sits on its pool
`shop_auth.users` and the function in `shop`. A user signs up at shop's GoTrue, configured
with exactly the environment the program declares for `auth-shop` (the real binary when the
test command built it or GOTRUE_BIN names it, which migrates the pool itself; else its
documented behaviour, which writes the pool's row as GoTrue's login role does). The app's
row appears in `shop` only; the user reads it with the token GoTrue gave, as PostgREST runs
the request; the same token is refused the same app's tables in project `store`.
"""
from __future__ import annotations

import jwt
import psycopg
import pytest

from components.core.naming import ProjectNames
from tests import gotrue, pg
from tests.program import run_program
from tests.test_app_import_sql import PAYMENTS, apply_app, rows, user_pool
from tests.stack_inputs import containers

PASSWORD = "correct horse battery staple"
AUTH_ADMIN_PASSWORD = "auth-admin-password-for-tests"
APP_DIR = f"tests/fixtures/apps/{PAYMENTS}/supabase"


@pytest.fixture
def shop_and_store(db, tmp_path):
    program = run_program({"projects": [{"name": "shop", "supabaseDir": APP_DIR},
                                        {"name": "store", "supabaseDir": APP_DIR}]})
    env = gotrue.container_env(containers(program)["auth-shop"].inputs)
    pg.bootstrap(db)
    shop, store = ProjectNames("shop"), ProjectNames("store")
    for names in (shop, store):
        pg.provider_create(db, names, AUTH_ADMIN_PASSWORD)
    client = gotrue.start(env, db, shop.auth_admin, AUTH_ADMIN_PASSWORD, tmp_path / "auth-shop.log")
    try:
        if isinstance(client, gotrue.DocumentedGoTrue):
            for names in (shop, store):
                user_pool(db, names)  # what GoTrue's migrations leave, for the columns the trigger reads
        else:
            user_pool(db, store)  # store's own GoTrue is not started: its pool as its migrations leave it
        for names in (shop, store):  # Pulumi runs the SQL step once the GoTrue made its pool
            apply_app(db, names, PAYMENTS)
        yield db, client, env
    finally:
        client.stop()


def test_the_apps_handle_new_user_fires_on_a_sign_up_through_the_projects_own_gotrue(shop_and_store):
    db, client, env = shop_and_store
    signed_up = client.sign_up("ada@example.com", PASSWORD, data={"full_name": "Ada Lovelace"})
    assert signed_up.status == 200, signed_up.body
    token = signed_up.body.get("access_token") or client.sign_in("ada@example.com", PASSWORD).body["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["role"] == "shop_authenticated" and claims["iss"] == env["GOTRUE_JWT_ISSUER"]
    assert rows(db, "select full_name from shop.users where id = %s", claims["sub"]) == [("Ada Lovelace",)]
    assert rows(db, "select count(*) from store.users") == [(0,)]
    with pg.request(db, claims["role"], "shop", claims) as conn:  # the app's "Can view own user data"
        assert conn.execute("select id::text, full_name from users").fetchall() == [(claims["sub"], "Ada Lovelace")]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with pg.request(db, claims["role"], "store", claims) as conn:
            conn.execute("select * from store.users").fetchall()  # no usage on schema store
