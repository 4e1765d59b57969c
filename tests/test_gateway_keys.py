"""Issue 17 at the gateway: a token counts on project p's URL only if one of p's own keys signed
it, with a role that key may carry; p's opaque keys stand for p's JWTs on p's URL only.

Each request runs through tests/kong_model.py: the guard and Storage's re-signer for real
under LuaJIT, Kong's jwt plugin and acl as read from their source at tag 3.9.3. On main the
guard read the `role` claim alone, so every attack below passed there."""
from __future__ import annotations

import base64
import json

import jwt
import pytest
import yaml

from components.core.kong_lua import BROWSER_SECRET
from components.providers.kong_config import render
from tests._tools import deck_run
from tests.gateway_fixtures import KEYSETS, SECRET, STACK_ANON, STACK_KEY, STACK_SERVICE, hs256, project, settings, \
    signed_by
from tests.kong_model import acl_decision, jwt_decision, match, plugin, routes, send

A, B = project("a", "a-api.example.com"), project("b", "b-api.example.com")
TEAM, CREW = project("team", shared_auth=True), project("crew", shared_auth=True)
KEYED = ["/rest/v1/posts", "/auth/v1/admin/users", "/auth/v1/user", "/storage/v1/object/list/x",
         "/storage/v1/bucket", "/realtime/v1/websocket", "/realtime/v1/api/broadcast"]


@pytest.fixture(scope="module")
def kong() -> dict:
    return yaml.safe_load(render(settings(A, B, TEAM, CREW)))


def urls(p) -> list[tuple[str, str]]:
    """(host, path prefix) of every way to p's URL."""
    return [("127.0.0.1", p.prefix)] + ([(p.hostname, "")] if p.hostname else [])


def forge(token: str, **changes) -> str:
    """`token` with changed claims and its old signature (only a key holder could sign anew)."""
    head, body, sig = token.split(".")
    claims = {**json.loads(base64.urlsafe_b64decode(body + "==")), **changes}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{sig}"


# -- whose key signed it ------------------------------------------------------------------------

A_TOKENS = {
    "b_service": signed_by("a", "b_service"), "b_authenticated": signed_by("a", "b_authenticated"),
    "b_anon": signed_by("a", "b_anon"), "a_service": signed_by("a", "a_service"),
    "a_authenticated": signed_by("a", "a_authenticated"), "a_service_key": A.service_key, "a_anon_key": A.anon_key,
    "kid_claim_b": signed_by("a", "b_service", kid=KEYSETS["b"].signing.kid),
}


@pytest.mark.parametrize("token", A_TOKENS.values(), ids=A_TOKENS.keys())
@pytest.mark.parametrize("path", KEYED)
def test_a_token_signed_by_as_key_is_refused_on_every_route_of_bs_url(kong, token, path):
    """The HIGH finding of issue 17: a's GoTrue (or a's service key) mints role b_service."""
    for host, prefix in urls(B):
        for apikey in (B.anon_key, B.publishable_key, B.secret_key, B.service_key):
            out = send(kong, prefix + path, {"apikey": apikey, "Authorization": f"Bearer {token}"}, host)
            assert out.status == 401, (host, path, out.status)


def test_behind_the_guard_the_jwt_plugin_and_acl_refuse_as_token_on_bs_routes_too(kong):
    """Defence in depth: were the guard to let it by, the jwt plugin finds a's credential (Kong
    looks a key id up among all consumers) and the acl plugin refuses a's consumer on b's route."""
    service, _ = match(kong, "/project/b/rest/v1/posts")
    token = signed_by("a", "b_service")
    status, consumer, _ = jwt_decision(plugin(service, "jwt"), kong["consumers"], {"authorization": f"Bearer {token}"},
                                       {})
    assert status is None and consumer["username"] == "a_keys"
    assert acl_decision(plugin(service, "acl"), consumer) == 403


@pytest.mark.parametrize("role", ["b_service", "b_authenticated", "b_anon", "service_role", "authenticated",
                                  "postgres", "supabase_admin"])
@pytest.mark.parametrize("path", KEYED)
def test_a_token_with_a_role_not_of_a_signed_by_as_key_is_refused_on_as_routes(kong, role, path):
    for host, prefix in urls(A):
        out = send(kong, prefix + path, {"apikey": A.publishable_key,
                                         "Authorization": f"Bearer {signed_by('a', role)}"}, host)
        assert out.status == 401, (host, path)


LEGACY = {"stack_anon": STACK_ANON, "stack_service": STACK_SERVICE, "hs256_a_service": hs256("a_service"),
          "hs256_a_with_kid": jwt.encode({"role": "a_service", "exp": 4102444800}, SECRET, algorithm="HS256",
                                         headers={"kid": KEYSETS["a"].signing.kid})}


@pytest.mark.parametrize("token", LEGACY.values(), ids=LEGACY.keys())
@pytest.mark.parametrize("project_", [A, B, TEAM], ids=["a", "b", "team"])
@pytest.mark.parametrize("path", KEYED)
def test_the_stacks_legacy_hs256_keys_open_no_project_route(kong, token, project_, path):
    for host, prefix in urls(project_):
        assert send(kong, prefix + path, {"apikey": token}, host).status == 401
        assert send(kong, prefix + path, {"apikey": project_.anon_key, "Authorization": f"Bearer {token}"},
                    host).status == 401


def test_algorithm_confusion_with_the_projects_public_key_as_hmac_secret_is_refused(kong):
    """alg HS256 keyed with a's public PEM: the guard wants ES256, the jwt plugin wants the
    credential's algorithm (kong/plugins/jwt/handler.lua:201-206 at 3.9.3)."""
    import hashlib
    import hmac

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': A.verifying_keys[0].kid})}." \
                    f"{part({'role': 'a_service', 'exp': 4102444800})}"
    mac = hmac.new(A.verifying_keys[0].pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert send(kong, "/project/a/rest/v1/posts", {"apikey": A.anon_key, "Authorization": f"Bearer {forged}"}).status == 401
    service, _ = match(kong, "/project/a/rest/v1/posts")
    assert jwt_decision(plugin(service, "jwt"), kong["consumers"], {"authorization": f"Bearer {forged}"}, {})[0] == 401


def test_a_forged_signature_passes_the_guard_and_dies_at_the_jwt_plugin(kong):
    """The guard reads claims; the signature is the jwt plugin's. A token whose claims were
    changed after signing is refused there (and this model can refuse)."""
    from tests.kong_guard import run_guard

    forged = forge(signed_by("b", "b_authenticated"), role="b_service")
    service, _ = match(kong, "/project/b/rest/v1/posts")
    headers = {"apikey": B.anon_key, "Authorization": f"Bearer {forged}"}
    assert run_guard(plugin(service, "pre-function")["access"][0], headers).passed
    assert send(kong, "/project/b/rest/v1/posts", headers).status == 401


def test_an_expired_token_is_refused(kong):
    expired = KEYSETS["a"].signing.sign({"role": "a_authenticated", "exp": 1_700_000_000})
    assert send(kong, "/project/a/rest/v1/posts", {"apikey": A.anon_key, "Authorization": f"Bearer {expired}"}).status == 401


def test_only_the_authorization_header_is_verified_never_a_jwt_query_arg_or_cookie(kong):
    """Kong 3.9.3's jwt plugin gathers a token from `?jwt=` (its default uri_param_names),
    the cookies it is told and the Authorization header (handler.lua:28-97). The config names
    neither of the first two, so only the bearer the guard checked is verified, and a token
    in the query or a cookie changes nothing."""
    forged = forge(signed_by("b", "b_authenticated"), role="b_service")
    headers = {"apikey": B.anon_key, "Authorization": f"Bearer {forged}"}
    assert send(kong, "/project/b/rest/v1/posts", headers, query={"jwt": B.anon_key}).status == 401
    good = {"apikey": B.anon_key, "Authorization": f"Bearer {signed_by('b', 'b_authenticated')}",
            "Cookie": f"jwt={forged}"}
    assert send(kong, "/project/b/rest/v1/posts", good, query={"jwt": forged}).passed
    service, _ = match(kong, "/project/b/rest/v1/posts")
    conf = plugin(service, "jwt")
    assert conf["uri_param_names"] == [] and conf["cookie_names"] == [] and conf["header_names"] == ["authorization"]


def test_kongs_jwt_plugin_refuses_two_different_tokens_and_reads_the_query_by_default(kong):
    """The model of handler.lua:28-97 and :162-170 at 3.9.3 (2.8.1 took the query token alone)."""
    service, _ = match(kong, "/project/b/rest/v1/posts")
    default = {**plugin(service, "jwt"), "uri_param_names": ["jwt"], "cookie_names": ["sb"]}
    consumers_, token = kong["consumers"], B.anon_key
    assert jwt_decision(default, consumers_, {}, {"jwt": token})[0] is None  # the query alone is read
    assert jwt_decision(default, consumers_, {"cookie": f"sb={token}"}, {})[0] is None  # and the cookie
    assert jwt_decision(default, consumers_, {"authorization": f"Bearer {token}"}, {"jwt": token})[0] is None
    other = signed_by("b", "b_authenticated")
    for headers, query in (({"authorization": f"Bearer {other}"}, {"jwt": token}),
                           ({"cookie": f"sb={other}"}, {"jwt": token}),
                           ({}, {"jwt": [token, other]})):
        assert jwt_decision(default, consumers_, headers, query)[0] == 401  # "Multiple tokens provided"
    assert jwt_decision(default, consumers_, {}, {})[0] == 401  # "Unauthorized": no token at all


def test_a_correct_token_of_a_passes_unchanged(kong):
    token = signed_by("a", "a_authenticated")
    for host, prefix in urls(A):
        for path in KEYED:
            out = send(kong, prefix + path, {"apikey": A.publishable_key, "Authorization": f"Bearer {token}"}, host)
            assert out.passed and out.consumer["username"] == "a_keys", (host, path)
            if "/storage/" not in path:  # Storage: re-signed, below
                assert out.headers["authorization"] == f"Bearer {token}" and out.headers["apikey"] == A.anon_key


def test_tokens_of_an_older_key_generation_pass_while_it_verifies():
    rotated = project("r", generations=(2, 1))
    old = KEYSETS["r"].verifying[0].sign({"role": "r_authenticated", "exp": 4102444800})
    headers = {"apikey": rotated.publishable_key, "Authorization": f"Bearer {old}"}
    assert send(yaml.safe_load(render(settings(rotated))), "/project/r/rest/v1/x", headers).passed
    after = project("r", generations=(2,))
    headers["apikey"] = after.publishable_key
    assert send(yaml.safe_load(render(settings(after))), "/project/r/rest/v1/x", headers).status == 401


# -- opaque keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", KEYED)
def test_as_opaque_keys_work_only_on_as_url_and_map_to_as_jwts(kong, path):
    for host, prefix in urls(A):
        for key, jwt_ in ((A.publishable_key, A.anon_key), (A.secret_key, A.service_key)):
            out = send(kong, prefix + path, {"apikey": key}, host)
            assert out.passed, (host, path)
            if "/storage/" not in path:
                assert out.headers["authorization"] == f"Bearer {jwt_}" and out.headers["apikey"] == jwt_
            bearer = send(kong, prefix + path, {"apikey": A.publishable_key, "Authorization": f"Bearer {key}"}, host)
            assert bearer.passed
            if "/storage/" not in path:
                assert bearer.headers["authorization"] == f"Bearer {jwt_}"
    for host, prefix in urls(B) + urls(TEAM):
        for key in (A.publishable_key, A.secret_key):
            assert send(kong, prefix + path, {"apikey": key}, host).status == 401
            assert send(kong, prefix + path, {"apikey": B.publishable_key, "Authorization": f"Bearer {key}"},
                        host).status == 401


@pytest.mark.parametrize("path", ["/rest/v1/posts", "/auth/v1/user", "/storage/v1/bucket", "/realtime/v1/websocket"])
def test_a_secret_key_with_a_browser_origin_is_refused(kong, path):
    origin = {"Origin": "https://app.example.com"}
    refused = send(kong, "/project/a" + path, {"apikey": A.secret_key, **origin})
    assert refused.status == 401
    as_bearer = send(kong, "/project/a" + path, {"apikey": A.publishable_key, "Authorization": f"Bearer {A.secret_key}",
                                                 **origin})
    assert as_bearer.status == 401
    assert send(kong, "/project/a" + path, {"apikey": A.publishable_key, **origin}).passed
    assert send(kong, "/project/a" + path, {"apikey": A.secret_key}).passed  # a server: no Origin


def test_the_browser_refusal_says_why(kong):
    from tests.kong_guard import run_guard

    service, _ = match(kong, "/project/a/rest/v1/posts")
    result = run_guard(plugin(service, "pre-function")["access"][0], {"apikey": A.secret_key, "Origin": "https://x"})
    assert result.status == 401 and result.body == {"message": BROWSER_SECRET}


def test_a_cors_preflight_needs_no_key_and_reaches_no_upstream(kong):
    out = send(kong, "/project/a/rest/v1/posts", {"Origin": "https://x", "Access-Control-Request-Method": "POST"},
               method="OPTIONS")
    assert out.status == 200  # answered by the cors plugin
    assert send(kong, "/project/a/rest/v1/posts", {}, method="OPTIONS").status == 401


# -- Storage: the verified claims, re-signed with the stack secret ------------------------------------


@pytest.mark.parametrize("bearer, role", [(signed_by("a", "a_authenticated"), "a_authenticated"), (None, "a_anon")])
def test_storage_receives_the_verified_claims_signed_with_the_stack_secret(kong, bearer, role):
    headers = {"apikey": A.publishable_key, **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
    for host, prefix in urls(A):
        out = send(kong, prefix + "/storage/v1/object/list/x", headers, host, method="POST")
        assert out.passed
        token = out.headers["authorization"].removeprefix("Bearer ")
        assert out.headers["apikey"] == token and jwt.get_unverified_header(token) == {"typ": "JWT", "alg": "HS256"}
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_aud": False})
        original = jwt.decode(bearer or A.anon_key, options={"verify_signature": False})
        assert claims == original and claims["role"] == role


def test_the_stack_key_is_one_credential_on_every_shared_project(kong, tmp_path):
    """Kong refuses two jwt_secrets with one key (daos.lua:26): the stack's key id sits on one
    consumer in the groups of every auth.mode: shared project, and only there."""
    holders = [c for c in kong["consumers"] for s in c.get("jwt_secrets", []) if s["key"] == STACK_KEY.kid]
    assert [c["username"] for c in holders] == [f"shared_key_{STACK_KEY.kid}"]
    assert {a["group"] for a in holders[0]["acls"]} == {"project-team", "project-crew"}
    keys = [s["key"] for c in kong["consumers"] for s in c.get("jwt_secrets", [])]
    assert len(keys) == len(set(keys))
    for p in (TEAM, CREW):
        assert send(kong, f"{p.prefix}/rest/v1/x", {"apikey": p.publishable_key,
                                                     "Authorization": f"Bearer {signed_by('@stack', 'authenticated')}"}).passed
    assert send(kong, "/project/team/rest/v1/x", {"apikey": TEAM.publishable_key,
                                                  "Authorization": f"Bearer {signed_by('crew', 'team_service')}"}).status == 401


def test_every_keyed_project_route_verifies_with_the_jwt_plugin_and_none_uses_key_auth(kong):
    for service, route in routes(kong):
        if not service["name"].startswith("project-"):
            continue
        names = [p["name"] for p in service.get("plugins", [])]
        assert "key-auth" not in names, service["name"]
        if "-auth-" in service["name"] or "-storage-" in service["name"]:  # e-mail links, signed URLs
            assert "jwt" not in names
            continue
        assert names[:4] == ["cors", "pre-function", "jwt", "acl"], service["name"]
        assert plugin(service, "jwt") == {"key_claim_name": "kid", "claims_to_verify": ["exp"],
                                          "header_names": ["authorization"], "uri_param_names": [],
                                          "cookie_names": [], "secret_is_base64": False, "run_on_preflight": True}
        assert plugin(service, "acl")["allow"] == [f"project-{service['name'].split('-')[1]}"]


def test_config_with_projects_and_shared_mode_projects_passes_deck_validate(tmp_path):
    path = tmp_path / "kong.yml"
    path.write_text(render(settings(A, B, TEAM, CREW)))
    done = deck_run("file", "validate", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


# -- the stack's shared routes: as before, but a project's role only signed by its own key --------


@pytest.mark.parametrize("path", ["/rest/v1/posts", "/auth/v1/user", "/graphql/v1", "/realtime/v1/api/broadcast",
                                  "/realtime/v1/websocket"])
def test_on_the_shared_routes_a_projects_role_counts_only_signed_by_its_key(kong, path):
    """The attack of issue 17 through the stack's /rest/v1: a's anon key opens key-auth there,
    and the services behind accept every project's keys, so a's token with role b_service
    must be refused by the gateway."""
    for bearer in (signed_by("a", "b_service"), signed_by("a", "b_authenticated"), hs256("b_service"),
                   signed_by("@stack", "b_service"), signed_by("a", "b_service", kid=KEYSETS["b"].signing.kid)):
        assert send(kong, path, {"apikey": A.anon_key, "Authorization": f"Bearer {bearer}"}).status == 401, path
    # as before: the stack's keys, a project's own JWTs and tokens, the stack's users
    for apikey, bearer in ((STACK_ANON, None), (STACK_SERVICE, None), (A.anon_key, None), (B.service_key, None),
                           (A.anon_key, signed_by("a", "a_authenticated")), (STACK_ANON, hs256("authenticated")),
                           (STACK_ANON, signed_by("@stack", "authenticated"))):
        headers = {"apikey": apikey, **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
        assert send(kong, path, headers).passed, (path, apikey[:12])
    for apikey in (A.publishable_key, A.secret_key):  # opaque keys: only on their project's URL
        assert send(kong, path, {"apikey": apikey}).status == 401
