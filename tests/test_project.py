"""SupabaseProject's resource graph, from the real __main__.py with Pulumi.dev.yaml's config."""
from __future__ import annotations

import shutil
from pathlib import Path

import jwt
import pytest

from tests.program import dev_config, fake_secret, run_program

PROJECT = "supabase-multi-instance:index:SupabaseProject"
MIGRATIONS = "pulumi-python:dynamic/supabase:ProjectMigrations"
AUTH = "supabase-multi-instance:index:ProjectAuth"
CONTAINER = "docker:index/container:Container"
# Per project with its own auth (the default): listed in the README, Projects section.
PER_PROJECT = {
    "postgresql:index/role:Role": 5,  # owner, anon, authenticated, service; auth admin (LOGIN)
    "postgresql:index/schema:Schema": 2,  # <p>, <p>_auth
    "postgresql:index/grantRole:GrantRole": 3,  # anon, authenticated, service -> authenticator
    "postgresql:index/grant:Grant": 3,  # USAGE on <p> for the three API roles
    "postgresql:index/defaultPrivileges:DefaultPrivileges": 1,
    MIGRATIONS: 1,
    AUTH: 1,
    # the auth admin's password; the seed of the signing key (generation 1); the opaque keys' random part
    "random:index/randomPassword:RandomPassword": 3,
    CONTAINER: 1,  # auth-<p>, GoTrue
}
# `auth.mode: shared`: no user pool, container or signed-in role of its own.
PER_SHARED_PROJECT = {
    "postgresql:index/role:Role": 3, "postgresql:index/schema:Schema": 1,
    "postgresql:index/grantRole:GrantRole": 2, "postgresql:index/grant:Grant": 3,
    "postgresql:index/defaultPrivileges:DefaultPrivileges": 1, MIGRATIONS: 1,
    "random:index/randomPassword:RandomPassword": 2,  # signing-key seed, opaque keys' random part
}


@pytest.fixture(scope="module")
def dev():
    return run_program()


def with_projects(*names: str) -> dict:
    config = dev_config()
    config["supabase-multi-instance:projects"] = [{"name": n} for n in names]
    return config


def component(run, name):
    (found,) = [r for r in run.of_type(PROJECT) if r.name == name]
    return found


def counts(resources) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in resources:
        out[r.typ] = out.get(r.typ, 0) + 1
    return out


@pytest.mark.parametrize("project", ["blog", "shop"])
def test_each_project_declares_its_isolation_resources_under_its_component(dev, project):
    children = dev.descendants(component(dev, project))
    assert counts(children) == PER_PROJECT
    roles = {r.inputs["name"]: r.inputs for r in children if r.typ == "postgresql:index/role:Role"}
    assert set(roles) == {f"{project}_owner", f"{project}_anon", f"{project}_authenticated", f"{project}_service",
                          f"{project}_auth_admin"}
    assert [n for n, r in roles.items() if r.get("login")] == [f"{project}_auth_admin"]
    assert roles[f"{project}_auth_admin"]["searchPaths"] == [f"{project}_auth"]
    # No project role bypasses RLS: the shared storage and realtime tables rely on it.
    assert not any(r.get("bypassRowLevelSecurity") for r in roles.values())
    schemas = {r.inputs["name"]: r.inputs["owner"] for r in children if r.typ == "postgresql:index/schema:Schema"}
    assert schemas == {project: f"{project}_owner", f"{project}_auth": f"{project}_auth_admin"}
    (schema,) = [r for r in children if r.typ == "postgresql:index/schema:Schema" and r.inputs["name"] == project]
    assert schema.inputs["ifNotExists"] is False  # no CREATE SCHEMA IF NOT EXISTS (issue 10)
    memberships = {(r.inputs["role"], r.inputs["grantRole"]) for r in children if r.typ.endswith("GrantRole")}
    assert memberships == {("authenticator", f"{project}_{r}") for r in ("anon", "authenticated", "service")}
    usage = {r.inputs["role"] for r in children if r.typ == "postgresql:index/grant:Grant"}
    assert usage == {f"{project}_{r}" for r in ("anon", "authenticated", "service")}


def test_project_resources_use_the_stack_postgres_provider(dev):
    (provider,) = dev.of_type("pulumi:providers:postgresql")
    for child in dev.descendants(component(dev, "blog")):
        if child.typ.startswith("postgresql:"):
            assert child.provider.startswith(provider.urn)


def test_grants_wait_for_migrations_so_removal_revokes_before_archiving(dev):
    children = dev.descendants(component(dev, "blog"))
    (sql,) = [r for r in children if r.typ == MIGRATIONS]
    grants = [r for r in children if r.typ.startswith(("postgresql:index/grant", "postgresql:index/defaultPriv"))]
    assert len(grants) == 7 and all(sql.urn in g.dependencies for g in grants)
    (schema,) = [r for r in children if r.typ.endswith(":Schema") and r.inputs["name"] == "blog"]
    roles = {r.urn for r in children if r.typ.endswith(":Role") and r.inputs["name"] != "blog_auth_admin"}
    assert schema.urn in sql.dependencies and roles <= set(schema.dependencies)
    # The SQL step runs after the project's GoTrue made its user pool, so removal archives
    # the pool (with the project's data) after the container is gone and before the schema resource.
    (auth_schema,) = [r for r in children if r.typ.endswith(":Schema") and r.inputs["name"] == "blog_auth"]
    (container,) = [r for r in children if r.typ == CONTAINER]
    assert {auth_schema.urn, container.urn} <= set(sql.dependencies)
    assert auth_schema.urn in container.dependencies


def test_grants_on_one_schema_take_turns(dev):
    """Two GRANTs on one schema at once rewrite its pg_namespace row together and one fails with
    "tuple concurrently updated" (under the real engine at 10 projects): each of a project's
    schema grants waits for the one before, so the engine never runs two of them at once."""
    for project in ("blog", "shop"):
        grants = [r for r in dev.descendants(component(dev, project)) if r.typ == "postgresql:index/grant:Grant"]
        assert len(grants) == 3 and {g.inputs["schema"] for g in grants} == {project}
        urns = {g.urn for g in grants}
        waits = {g.urn: urns & set(g.dependencies) for g in grants}
        first = [g for g in grants if not waits[g.urn]]
        assert len(first) == 1, waits  # one starts; every other waits for exactly one
        order, current = [first[0].urn], first[0].urn
        while len(order) < len(grants):
            (current,) = [u for u, w in waits.items() if w == {current}]
            order.append(current)
        assert set(order) == urns


def test_migration_resource_records_checksums_not_sql_and_keeps_the_dsn_secret(dev):
    (sql,) = [r for r in dev.of_type(MIGRATIONS) if r.inputs["project"] == "blog"]
    assert sql.inputs["template"] == "blog" and sql.inputs["on_delete"] == "archive"
    assert sql.inputs["statement_timeout"] == "8s"
    assert sql.inputs["template_dir"] == "sql/projects/blog"
    assert [m["filename"] for m in sql.inputs["migrations"]] == ["0001_users_and_posts.sql.j2",
                                                                 "0002_project_users.sql.j2"]
    assert sql.inputs["auth_mode"] == "own"
    assert all(set(m) == {"version", "filename", "checksum"} for m in sql.inputs["migrations"])
    assert fake_secret("postgres-password", 32) not in str({k: v for k, v in sql.inputs.items() if k != "dsn"})


def test_adding_a_project_adds_only_that_projects_resources():
    two, three = run_program(with_projects("blog", "shop")), run_program(with_projects("blog", "shop", "crm"))
    key = lambda r: (r.typ, r.name)  # noqa: E731
    before = {key(r) for r in two.resources}
    added = [r for r in three.resources if key(r) not in before]
    crm = component(three, "crm")
    assert {key(r) for r in added} == {key(crm)} | {key(r) for r in three.descendants(crm)}
    assert len(added) == 1 + sum(PER_PROJECT.values())
    # Nothing else is replaced or re-parented: each earlier resource is still there.
    assert before <= {key(r) for r in three.resources}


def test_outputs_contract(dev):
    assert {"apiUrl", "studioUrl", "dashboardUrl", "anonKey", "serviceRoleKey", "projects",
            "projectServiceKeys", "projectSecretKeys", "services"} <= set(dev.outputs)
    assert {"serviceRoleKey", "projectServiceKeys", "projectSecretKeys"} <= dev.secret_outputs
    assert not {"anonKey", "projects", "apiUrl", "services"} & dev.secret_outputs
    blog = dev.outputs["projects"]["blog"]
    assert set(blog) == {"url", "schema", "restUrl", "authUrl", "anonKey", "hostname", "tables", "views",
                         "functions", "sequences", "template", "auth", "quickstart", "buckets", "realtimeTables",
                         "policies", "publishableKey", "jwks", "signingKeyId", "lastMigration", "services"}
    assert blog["publishableKey"].startswith("sb_publishable_")
    assert [k["kid"] for k in blog["jwks"]["keys"]] == [blog["signingKeyId"]]
    assert not any("d" in k for k in blog["jwks"]["keys"])  # public keys only
    assert all(b["id"].startswith("blog-") for b in blog["buckets"])  # realtimeTables: from the database
    (sql,) = [r for r in dev.of_type(MIGRATIONS) if r.inputs["project"] == "blog"]
    assert sql.inputs["published_tables"] == ["posts", "users"]  # sql/projects/blog/realtime.json
    assert blog["quickstart"]["read"]["table"] == "posts"
    assert blog["url"] == "http://127.0.0.1:8000/project/blog" and blog["schema"] == "blog"
    assert blog["restUrl"] == blog["url"] + "/rest/v1" and blog["authUrl"] == blog["url"] + "/auth/v1"
    assert blog["auth"] == {"mode": "own", "signup": "open", "autoconfirm": True, "providers": []}
    assert set(dev.outputs["projectServiceKeys"]) == {"blog", "shop"}


def test_project_keys_are_signed_for_the_project_roles_with_the_projects_own_key(dev):
    """Each project's keys verify with its own published JWKS only: not the stack secret, not
    another project's key (the HIGH finding of issue 17: every key was signed with one secret)."""
    projects = dev.outputs["projects"]
    public = {n: jwt.PyJWKSet.from_dict(p["jwks"]) for n, p in projects.items()}
    for name in ("blog", "shop"):
        other = "shop" if name == "blog" else "blog"
        (key,) = public[name].keys
        anon = jwt.decode(projects[name]["anonKey"], key.key, algorithms=["ES256"])
        service = jwt.decode(dev.outputs["projectServiceKeys"][name], key.key, algorithms=["ES256"])
        assert (anon["role"], service["role"]) == (f"{name}_anon", f"{name}_service")
        assert anon["iss"] == service["iss"] == "supabase" and anon["ref"] == name
        assert jwt.get_unverified_header(projects[name]["anonKey"])["kid"] == key.key_id
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(projects[name]["anonKey"], public[other].keys[0].key, algorithms=["ES256"])
        with pytest.raises(jwt.InvalidAlgorithmError):
            jwt.decode(projects[name]["anonKey"], fake_secret("jwt-secret", 64), algorithms=["HS256"])


def test_service_keys_stay_out_of_plain_outputs(dev):
    plain = str({k: v for k, v in dev.outputs.items() if k not in dev.secret_outputs})
    for key in dev.outputs["projectServiceKeys"].values():
        assert key not in plain
    assert dev.outputs["serviceRoleKey"] not in plain


CONTAINER = "docker:index/container:Container"


def inputs_by_name(run) -> dict[tuple[str, str], dict]:
    return {(r.typ, r.name): r.inputs for r in run.resources}


def changed_between(before, after) -> set[str]:
    old, new = inputs_by_name(before), inputs_by_name(after)
    return {name for key, name in ((k, k[1]) for k in old) if key in new and old[key] != new[key]}


def with_blog_buckets(*buckets: dict) -> dict:
    config = with_projects("blog", "shop")
    config["supabase-multi-instance:projects"][0]["storage"] = {"buckets": list(buckets)}
    return config


def test_adding_a_project_or_a_bucket_changes_no_storage_or_realtime_container():
    base = run_program(with_projects("blog", "shop"))
    runs = [run_program(with_projects("blog", "shop", "crm")), run_program(with_blog_buckets({"name": "avatars"}))]
    for run in runs:
        for service in ("storage", "realtime"):
            (before,) = [r for r in base.of_type(CONTAINER) if r.name == service]
            (after,) = [r for r in run.of_type(CONTAINER) if r.name == service]
            assert after.inputs == before.inputs, service
            assert sorted(after.dependencies) == sorted(before.dependencies), service
    # A bucket is an input of the project's SQL resource, of the pages that show it and of the
    # gateway's bucket map (a config pushed into the running Kong: nothing restarts).
    assert changed_between(base, runs[1]) == {"blog-sql", "dashboard-content", "gateway-routes"}


def test_a_new_bucket_is_an_in_place_update_of_the_projects_sql_resource():
    from components.providers.sql_migrations import ProjectMigrationsProvider

    before = run_program(with_blog_buckets({"name": "avatars"}))
    after = run_program(with_blog_buckets({"name": "avatars"}, {"name": "docs", "public": True}))
    olds, news = before.named("blog-sql").inputs, after.named("blog-sql").inputs
    assert [b["id"] for b in news["buckets"]] == ["blog-avatars", "blog-docs"]
    diff = ProjectMigrationsProvider().diff("blog", olds, news)
    assert diff.changes and not diff.replaces


def test_project_sql_waits_for_the_storage_and_realtime_containers(dev):
    (sql,) = [r for r in dev.of_type(MIGRATIONS) if r.inputs["project"] == "blog"]
    services = {r.urn for r in dev.of_type(CONTAINER) if r.name in ("storage", "realtime")}
    assert len(services) == 2 and services <= set(sql.dependencies)


def test_outputs_show_buckets_and_published_tables(dev):
    blog = dev.outputs["projects"]["blog"]
    assert blog["buckets"] == [
        {"id": "blog-avatars", "name": "avatars", "public": True, "fileSizeLimit": 1_000_000,
         "allowedMimeTypes": ["image/png", "image/jpeg", "image/webp"]},
        {"id": "blog-drafts", "name": "drafts", "public": False, "fileSizeLimit": None, "allowedMimeTypes": None}]
    assert dev.outputs["projects"]["shop"]["buckets"] == []
    assert blog["realtimeTables"] == []  # computed by the SQL step; the mocks do not run it
    assert blog["policies"] == []  # likewise


GALLERY_DIR = Path(__file__).parent / "fixtures" / "templates"


def with_gallery(policies_dir: Path) -> dict:
    config = dev_config()
    config["supabase-multi-instance:templatesDir"] = str(policies_dir)
    config["supabase-multi-instance:projects"] = [
        {"name": "pics", "template": "gallery", "storage": {"buckets": [{"name": "shared"}, {"name": "inbox"}]}}]
    return config


def test_a_templates_policies_are_inputs_of_its_projects_sql_resource(tmp_path):
    """Checked statements, named for the project; a changed policies.json is an in-place update."""
    from components.core import template_policies
    from components.providers.sql_migrations import ProjectMigrationsProvider

    before = run_program(with_gallery(GALLERY_DIR)).named("pics-sql").inputs
    assert [(p["table"], p["name"]) for p in before["template_policies"]] == [
        ("storage.objects", "pics:members_read_shared"), ("storage.objects", "pics:anyone_drops_into_inbox"),
        ("storage.buckets", "pics:anon_sees_public_buckets_only"), ("realtime.messages", "pics:anon_only_listens"),
        ("realtime.messages", "pics:lobby_is_read_only")]
    assert "'pics-shared'" in before["template_policies"][0]["statement"]
    shutil.copytree(GALLERY_DIR / "gallery", tmp_path / "gallery")
    policies = tmp_path / "gallery" / template_policies.FILE
    policies.write_text(policies.read_text().replace("'incoming'", "'uploads'"))
    template_policies.clear_caches()
    after = run_program(with_gallery(tmp_path)).named("pics-sql").inputs
    assert "'uploads'" in after["template_policies"][1]["statement"]
    diff = ProjectMigrationsProvider().diff("pics", before, after)
    assert diff.changes and not diff.replaces
