"""Every dashboard example works as written: the requests behind the curl, supabase-js and
supabase-py snippets of each project run against its template on a real PostgreSQL, as
PostgREST runs them at the project URL (the gateway pins the schema), with users signed up
through the project's GoTrue (tests/gotrue.py)."""
from __future__ import annotations

import pytest
import yaml
from psycopg import sql

from dashboard.build import site_files
from dashboard.examples import EMAIL, PASSWORD, Request, requests_for
from tests import gotrue, pg
from tests.program import dev_config, run_program, verified_claims
from tests.test_dashboard import code
from tests.test_gateway import match
from tests.stack_inputs import NS, containers, pushed

PROJECTS = [{"name": "blog"}, {"name": "shop", "hostname": "shop.example.org"},  # a hostname, no domain
            {"name": "team", "auth": {"mode": "shared"}}, {"name": "notes", "template": "empty"}]


@pytest.fixture(scope="module")
def program():
    config = dev_config()
    config[f"{NS}:projects"] = PROJECTS
    return run_program(config)


def postgrest(dsn: str, schema: str, token: str, request: Request, run) -> list[tuple]:
    """The SQL PostgREST runs for GET ?select= and POST of one JSON object, as the token's role."""
    claims = verified_claims(run, token)
    with pg.request(dsn, claims["role"], schema, claims) as conn:
        if request.action == "read":
            columns = sql.SQL("*") if request.select == "*" else sql.SQL(", ").join(
                map(sql.Identifier, request.select.split(",")))
            return conn.execute(sql.SQL("select {} from {}").format(columns, sql.Identifier(request.table))).fetchall()
        names = list(request.body)
        conn.execute(sql.SQL("insert into {} ({}) values ({})").format(
            sql.Identifier(request.table), sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names))), [request.body[n] for n in names])
        return []


def requests_of(program, name: str) -> list[Request]:
    project = program.outputs["projects"][name]
    first = project["tables"][0]["name"] if project["tables"] else None
    return requests_for(project["quickstart"], first, project["auth"]["signup"] == "open")


@pytest.mark.parametrize("name", ["blog", "shop", "team", "notes"])
def test_each_example_shows_exactly_the_tested_requests(program, name):
    pages, _ = site_files(program.outputs)
    page = pages[f"projects/{name}.html"]
    url = program.outputs["projects"][name]["url"]
    curl, js, py = (code(page, f"example-{name}-{kind}") for kind in ("curl", "js", "py"))
    assert f"URL='{url}'" in curl and f"createClient('{url}'," in js and f'create_client("{url}",' in py
    for r in requests_of(program, name):
        if r.action == "read":
            assert f'"$URL/rest/v1/{r.table}?select={r.select}"' in curl
            assert f".from('{r.table}').select('{r.select}')" in js and f'.table("{r.table}").select("{r.select}")' in py
        elif r.action == "insert":
            assert f'"$URL/rest/v1/{r.table}"' in curl and f".from('{r.table}').insert(" in js
            assert f'.table("{r.table}").insert(' in py


def test_a_hostname_without_a_domain_still_gets_a_working_local_url(program):
    shop = program.outputs["projects"]["shop"]
    assert shop["url"] == "http://127.0.0.1:8000/project/shop"
    (push,) = program.of_type("pulumi-python:dynamic/supabase:KongConfig")
    kong = yaml.safe_load(pushed(push))
    service, _ = match(kong, "/project/shop/rest/v1/posts")
    assert service["name"] == "project-shop-rest"


@pytest.mark.parametrize("name", ["blog", "shop", "team", "notes"])
def test_the_examples_requests_succeed_on_the_template(db, program, tmp_path, name):
    entry = next(p for p in PROJECTS if p["name"] == name)
    pg.bootstrap(db)
    names = pg.create_project(db, name, entry.get("template", "blog"),
                              auth_mode=entry.get("auth", {}).get("mode", "own"), auth_password="pw-for-tests")
    found = containers(program)
    auth = (gotrue.start(gotrue.container_env(found[f"auth-{name}"].inputs), db, names.auth_admin, "pw-for-tests",
                         tmp_path / "auth.log") if names.own_auth
            else gotrue.DocumentedGoTrue(gotrue.container_env(found["auth"].inputs)))
    anon = program.outputs["projects"][name]["anonKey"]
    token = anon
    try:
        for r in requests_of(program, name):
            if r.action == "signup":
                assert auth.sign_up(EMAIL, PASSWORD).status == 200
            elif r.action == "signin":
                answer = auth.sign_in(EMAIL, PASSWORD)
                assert answer.status == 200, answer.body
                token = answer.body["access_token"]
            elif r.table != "your_table":
                postgrest(db, names.schema, anon if r.action == "read" else token, r, program)
    finally:
        auth.stop()
    if name in ("blog", "shop", "team"):  # the inserted post is what anon now reads
        read = requests_of(program, name)[0]
        assert [row[1] for row in postgrest(db, names.schema, anon, read, program)] == ["Hello"]
