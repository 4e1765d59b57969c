"""A template's own Storage and Realtime policies (policies.json), on a real PostgreSQL.

The policies come from the project's own SQL step (pg.create_project, the code path of
`pulumi up`); requests run as Storage and Realtime run them (tests/storage_api.py,
tests/realtime_api.py). The attacks: a template that opens everything to every role still
gives another project's keys and users nothing, and its own roles nothing outside its
buckets and topics; a policy that names another role or table, or an expression that tries
to leave its parentheses, is refused before any resource or statement.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from components.core import project_description
from components.core import migrations as m
from components.core import template_policies as tp
from components.core.config import ConfigError, parse_config
from components.core.naming import ProjectNames
from components.providers.sql_migrations import ProjectMigrationsProvider, _portable
from tests import pg
from tests import realtime_api as realtime
from tests import storage_api as storage

GALLERY = Path(__file__).parent / "fixtures" / "templates" / "gallery"
GALLERY_BUCKETS = [{"name": "shared"}, {"name": "inbox"}, {"name": "photos", "public": True}]
BOTH = {"broadcast": True, "presence": True}
NEITHER = {"broadcast": False, "presence": False}
# Opens every command of every allowed table to every role of the project.
WIDE_OPEN = {
    "storage.objects": [{"name": "everything", "command": "all", "roles": ["anon", "authenticated", "service"],
                         "using": "true", "check": "true"}],
    "storage.buckets": [{"name": "everything", "command": "select", "roles": ["anon", "authenticated", "service"],
                         "using": "true"}],
    "realtime.messages": [{"name": "everything", "command": "all", "roles": ["anon", "authenticated", "service"],
                           "using": "true", "check": "true"}],
}


def template(folder: Path, policies: object, migration: str = "select 1;\n") -> Path:
    """A template folder with one migration and the given policies.json (an object is written as JSON)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "0001_schema.sql.j2").write_text(migration)
    (folder / tp.FILE).write_text(policies if isinstance(policies, str) else json.dumps(policies))
    tp.clear_caches()
    return folder


def policies_of(dsn: str, project: str) -> dict[str, tuple[str, int]]:
    """`table/name` -> (the comment with its digest, the policy's oid), for the project's policies."""
    with psycopg.connect(dsn) as conn:
        return {f"{t}/{n}": (c, o) for t, n, c, o in conn.execute(
            "select p.polrelid::regclass::text, p.polname, obj_description(p.oid, 'pg_policy'), p.oid::int"
            "  from pg_policy p where starts_with(p.polname, %s)", (project + ":",))}


def members(dsn: str, project: str, *user_ids: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for user_id in user_ids:
            conn.execute(f'insert into "{project}".members (user_id) values (%s)', (user_id,))


@pytest.fixture
def gallery(db):
    """Projects alpha and beta on the gallery template; one object in each of their buckets."""
    pg.bootstrap(db)
    a = pg.create_project(db, "alpha", "gallery", GALLERY, buckets=GALLERY_BUCKETS)
    b = pg.create_project(db, "beta", "gallery", GALLERY, buckets=GALLERY_BUCKETS)
    admin = storage.as_service_role()
    for project in ("alpha", "beta"):
        for bucket in ("shared", "inbox", "photos"):
            assert storage.upload(db, admin, f"{project}-{bucket}", "seed/file.txt")
    return db, a, b


# -- the template's policies work for its project's roles --------------------------------------


def test_members_read_the_shared_bucket_and_others_do_not(gallery):
    dsn, a, _ = gallery
    member, stranger = pg.new_user_id(), pg.new_user_id()
    members(dsn, "alpha", member)
    assert storage.find_object(dsn, storage.user_token(a.authenticated, member), "alpha-shared", "seed/file.txt")
    assert storage.list_objects(dsn, storage.user_token(a.authenticated, member), "alpha-shared", "seed/") == ["file.txt"]
    assert not storage.find_object(dsn, storage.user_token(a.authenticated, stranger), "alpha-shared", "seed/file.txt")
    assert not storage.find_object(dsn, storage.key(a.anon), "alpha-shared", "seed/file.txt")
    # The policy is on the shared bucket only: members get no more of the inbox than anyone.
    assert not storage.find_object(dsn, storage.user_token(a.authenticated, member), "alpha-inbox", "seed/file.txt")


def test_anyone_drops_files_into_the_inbox_folder_only(gallery):
    dsn, a, _ = gallery
    anon = storage.key(a.anon)
    assert storage.can_upload(dsn, anon, "alpha-inbox", "incoming/note.txt")
    assert not storage.can_upload(dsn, anon, "alpha-inbox", "elsewhere/note.txt")
    assert not storage.can_upload(dsn, anon, "alpha-shared", "incoming/note.txt")
    assert not storage.find_object(dsn, anon, "alpha-inbox", "seed/file.txt")  # an insert policy reads nothing


def test_a_restrictive_template_policy_narrows_the_shared_ones(gallery):
    dsn, a, _ = gallery
    assert storage.list_buckets(dsn, storage.key(a.anon)) == ["alpha-photos"]
    assert storage.list_buckets(dsn, storage.key(a.service)) == ["alpha-inbox", "alpha-photos", "alpha-shared"]
    user = storage.user_token(a.authenticated, pg.new_user_id())
    assert realtime.can_listen(dsn, storage.key(a.anon), "alpha:room") == BOTH
    assert realtime.can_send(dsn, storage.key(a.anon), "alpha:room") == NEITHER
    assert realtime.can_send(dsn, user, "alpha:room") == BOTH
    assert realtime.can_send(dsn, user, "alpha:lobby") == NEITHER
    assert realtime.can_listen(dsn, user, "alpha:lobby") == BOTH


def test_the_policies_are_listed_with_the_projects_objects(gallery):
    dsn, a, _ = gallery
    listed = project_description.describe(dsn, a.schema)["policies"]
    assert [(p["table"], p["name"], p["as"], p["command"]) for p in listed] == [
        ("realtime.messages", "alpha:anon_only_listens", "restrictive", "insert"),
        ("realtime.messages", "alpha:lobby_is_read_only", "restrictive", "insert"),
        ("storage.buckets", "alpha:anon_sees_public_buckets_only", "restrictive", "select"),
        ("storage.objects", "alpha:anyone_drops_into_inbox", "permissive", "insert"),
        ("storage.objects", "alpha:members_read_shared", "permissive", "select"),
    ]
    assert listed[3]["roles"] == ["alpha_anon", "alpha_authenticated"]
    assert all(p["name"].startswith("alpha:") for p in listed)


# -- attacks: a template that opens everything ----------------------------------------------------


@pytest.fixture
def wide_open(db, tmp_path):
    """alpha's template opens every allowed table to all its roles; beta is a plain project."""
    folder = template(tmp_path / "open", WIDE_OPEN)
    pg.bootstrap(db)
    a = pg.create_project(db, "alpha", "open", folder, buckets=[{"name": "docs"}])
    b = pg.create_project(db, "beta", "empty", buckets=[{"name": "secret"}, {"name": "photos", "public": True}])
    admin = storage.as_service_role()
    for bucket in ("alpha-docs", "beta-secret", "beta-photos"):
        assert storage.upload(db, admin, bucket, "seed/file.txt")
    with psycopg.connect(db, autocommit=True) as conn:  # a bucket of no project (e.g. made in Studio)
        conn.execute("insert into storage.buckets (id, name) values ('loose', 'loose')")
    assert storage.upload(db, admin, "loose", "seed/file.txt")
    return db, a, b


def tokens(names: ProjectNames) -> list[str]:
    return [storage.key(names.anon), storage.key(names.service),
            storage.user_token(names.authenticated, pg.new_user_id())]


def test_using_true_opens_the_projects_own_buckets_and_topics_only(wide_open):
    dsn, a, _ = wide_open
    for token in tokens(a):
        assert storage.find_object(dsn, token, "alpha-docs", "seed/file.txt")
        assert storage.list_buckets(dsn, token) == ["alpha-docs"]
        for bucket in ("beta-secret", "beta-photos", "loose"):
            assert not storage.find_object(dsn, token, bucket, "seed/file.txt")
            assert not storage.can_upload(dsn, token, bucket, "x.txt")
            assert storage.delete_objects(dsn, token, bucket, ["seed/file.txt"]) == 0
        assert realtime.can_listen(dsn, token, "alpha:room") == BOTH
        for topic in ("beta:room", "room", "alphabeta:room"):
            assert realtime.can_listen(dsn, token, topic) == NEITHER
            assert realtime.can_send(dsn, token, topic) == NEITHER


def test_using_true_gives_another_projects_keys_and_users_nothing(wide_open):
    dsn, _, b = wide_open
    for token in [*tokens(b), storage.key("anon"), storage.user_token("authenticated", pg.new_user_id()), None]:
        assert not storage.find_object(dsn, token, "alpha-docs", "seed/file.txt")
        assert storage.list_objects(dsn, token, "alpha-docs", "seed/") == []
        assert not storage.can_upload(dsn, token, "alpha-docs", "x.txt")
        assert storage.delete_objects(dsn, token, "alpha-docs", ["seed/file.txt"]) == 0
        assert "alpha-docs" not in storage.list_buckets(dsn, token)
        assert realtime.can_listen(dsn, token, "alpha:room") == NEITHER
        assert realtime.can_send(dsn, token, "alpha:room") == NEITHER
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from storage.objects").fetchone() == (4,)


def test_the_policies_name_only_the_projects_own_roles(wide_open):
    dsn, *_ = wide_open
    with psycopg.connect(dsn) as conn:
        roles = {r for (rs,) in conn.execute("select roles::text[] from pg_policies where policyname like 'alpha:%%'")
                 for r in rs}
    assert roles == {"alpha_anon", "alpha_authenticated", "alpha_service"}


# -- refused before any resource: roles, tables, commands, injections --------------------------------


def config_problems(templates_dir: Path, project: dict) -> list[str]:
    tp.clear_caches()
    with pytest.raises(ConfigError) as err:
        parse_config({"templatesDir": str(templates_dir), "projects": [project]})
    return err.value.problems


def one_policy(**entry) -> dict:
    return {"storage.objects": [{"name": "p", "command": "select", "roles": ["anon"], "using": "true", **entry}]}


@pytest.mark.parametrize("policies, problem", [
    ("{not json", r"policies\.json: not JSON"),
    ([], r"policies\.json: must be an object whose keys are tables"),
    ({"auth.users": []}, r"'auth\.users' is not a table a template may add policies to"),
    ({"storage.migrations": []}, r"'storage\.migrations' is not a table"),
    ({"public.posts": []}, r"'public\.posts' is not a table"),
    ({"storage.objects": {}}, r"storage\.objects must be a list of policies"),
    (one_policy(roles=["postgres"]), r"storage\.objects\[0\]\.roles: \['postgres'\] must be a non-empty list"),
    (one_policy(roles=["service_role"]), r"storage\.objects\[0\]\.roles: \['service_role'\]"),
    (one_policy(roles=["beta_anon"]), r"storage\.objects\[0\]\.roles: \['beta_anon'\]"),
    (one_policy(roles=[]), r"storage\.objects\[0\]\.roles: \[\] must be a non-empty list"),
    (one_policy(roles="anon"), r"storage\.objects\[0\]\.roles: 'anon' must be a non-empty list"),
    (one_policy(name="Drop Table"), r"storage\.objects\[0\]\.name: 'Drop Table' must be 1-63 characters"),
    (one_policy(command="truncate"), r"storage\.objects\[0\]\.command: 'truncate' must be one of"),
    (one_policy(**{"as": "bypass"}), r"storage\.objects\[0\]\.as: 'bypass' must be one of permissive, restrictive"),
    (one_policy(check="true"), r"storage\.objects\[0\]\.check: a select policy has only `using`"),
    (one_policy(using=None), r"storage\.objects\[0\]: needs `using`"),
    (one_policy(using=7), r"storage\.objects\[0\]\.using: must be one SQL expression as text"),
    (one_policy(table="x"), r"storage\.objects\[0\]\.table: unknown key"),
    ({"storage.buckets": [{"name": "p", "command": "insert", "roles": ["service"], "check": "true"}]},
     r"storage\.buckets\[0\]\.command: 'insert' must be one of select on storage\.buckets"),
    ({"realtime.messages": [{"name": "p", "command": "delete", "roles": ["anon"], "using": "true"}]},
     r"realtime\.messages\[0\]\.command: 'delete' must be one of select, insert, all"),
    ({"storage.objects": [{"name": "p", "command": "select", "roles": ["anon"], "using": "true"}] * 2},
     r"storage\.objects\[1\]\.name: 'p' is already used on storage\.objects"),
])
def test_a_malformed_policies_json_fails_config_validation(tmp_path, policies, problem):
    template(tmp_path / "tpl", policies)
    (line,) = config_problems(tmp_path, {"name": "alpha", "template": "tpl"})
    assert line.startswith(f"projects[0].template: {tmp_path / 'tpl' / 'policies.json'}")
    assert re.search(problem, line), line


INJECTIONS = [
    ("true) ; drop table storage.objects; --", "contains a semicolon"),
    ("true); drop table storage.objects", "contains a semicolon"),
    ("true) with check (true", "closes a parenthesis it did not open"),
    ("true) to public using (true", "closes a parenthesis it did not open"),
    ("(true", "leaves a parenthesis open"),
    ("true -- and the rest is a comment", "contains a comment"),
    ("true /* ) with check (true */", "contains a comment"),
    ("$$x$$ = 'x'", "contains a dollar-quoted string"),
    ("$q$) with check (true $q$ = 'x'", "contains a dollar-quoted string"),
    ("'unterminated", "is not SQL"),
    ('"unterminated', "is not SQL"),
    ("   ", "must be one SQL expression as text"),
]


@pytest.mark.parametrize("expression, problem", INJECTIONS)
def test_injection_attempts_are_refused_before_the_database(tmp_path, expression, problem):
    template(tmp_path / "tpl", one_policy(using=expression))
    (line,) = config_problems(tmp_path, {"name": "alpha", "template": "tpl"})
    assert "storage.objects[0]" in line and problem in line, line


def test_an_injection_rendered_from_jinja_is_refused_too(tmp_path):
    template(tmp_path / "tpl", one_policy(using="bucket_id = {{ 'x'' ) ; drop table t; --' }}"))
    (line,) = config_problems(tmp_path, {"name": "alpha", "template": "tpl"})
    assert "storage.objects[0].using" in line and "contains a semicolon" in line


def test_parentheses_inside_string_constants_are_fine(db, tmp_path):
    folder = template(tmp_path / "tpl", one_policy(using="name <> 'a) with check (true' and name <> '('"))
    pg.bootstrap(db)
    pg.create_project(db, "alpha", "tpl", folder)
    with psycopg.connect(db) as conn:
        (qual, check) = conn.execute("select qual, with_check from pg_policies where policyname = 'alpha:p'").fetchone()
    assert "a) with check (true" in qual and check is None


def test_a_policy_needs_the_buckets_it_names(tmp_path):
    problems = config_problems(GALLERY.parent, {"name": "alpha", "template": "gallery",
                                                "storage": {"buckets": [{"name": "inbox"}]}})
    assert problems == [f"projects[0].template: {GALLERY / 'policies.json'}: storage.objects[0].using: "
                        "'bucket_id = {{ buckets.shared | literal }} and exists (select from {{ schema | ident }}.members "
                        "m where m.user_id = (select auth.uid()))' does not render: 'dict object' has no attribute "
                        "'shared'"]


def test_shared_auth_projects_may_not_name_the_stacks_authenticated_role(tmp_path):
    template(tmp_path / "tpl", one_policy(roles=["anon", "authenticated"]))
    (line,) = config_problems(tmp_path, {"name": "alpha", "template": "tpl", "auth": {"mode": "shared"}})
    assert "storage.objects[0].roles: 'authenticated' is, for a project with auth.mode shared, the stack's shared" in line
    tp.clear_caches()
    parse_config({"templatesDir": str(tmp_path), "projects": [{"name": "alpha", "template": "tpl"}]})  # own: fine


def test_a_name_too_long_for_the_project_is_refused(tmp_path):
    template(tmp_path / "tpl", one_policy(name="n" * 30))
    (line,) = config_problems(tmp_path, {"name": "a" * 40, "template": "tpl"})
    assert "storage.objects[0].name: 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnn' is too long for project" in line


def test_the_gallery_template_validates_for_every_project_that_uses_it():
    tp.clear_caches()
    config = parse_config({"templatesDir": str(GALLERY.parent), "projects": [
        {"name": "alpha", "template": "gallery", "storage": {"buckets": GALLERY_BUCKETS}},
        {"name": "beta", "template": "gallery", "storage": {"buckets": GALLERY_BUCKETS}}]})
    assert [p.template for p in config.projects] == ["gallery", "gallery"]


# -- the statement the superuser runs is checked again, on what the inputs hold ----------------------


def built(project: str = "alpha", **changes) -> dict:
    names = ProjectNames(project)
    policy = {"table": "storage.objects", "name": f"{project}:p", "as": "permissive", "command": "select",
              "roles": [names.anon], "using": "true", "check": None} | changes
    statement = tp.build(policy["table"], policy["name"], policy["as"], policy["command"], policy["roles"],
                         policy["using"], policy["check"])
    return policy | {"statement": statement, "comment": tp.COMMENT_PREFIX + "0"}


@pytest.mark.parametrize("statement, problem", [
    ('create policy "alpha:p" on storage.objects as permissive for select to "alpha_anon" using (true); '
     "drop table storage.objects", "contains a semicolon"),
    ('create policy "alpha:p" on storage.objects as permissive for select to "postgres" using (true)',
     "roles differ"),
    ('create policy "alpha:p" on storage.objects as permissive for select to public using (true)', "roles differ"),
    ('create policy "alpha:p" on storage.migrations as permissive for select to "alpha_anon" using (true)',
     "table differ"),
    ('create policy "beta:p" on storage.objects as permissive for select to "alpha_anon" using (true)', "name differ"),
    ('create policy "alpha:p" on storage.objects as permissive for all to "alpha_anon" using (true) with check (true)',
     "check, command differ"),
    ('alter table storage.objects disable row level security', "must be exactly one CREATE POLICY"),
])
def test_verify_refuses_a_statement_other_than_the_declared_policy(statement, problem):
    with pytest.raises(tp.PolicyError, match=problem):
        tp.verify(built() | {"statement": statement}, ProjectNames("alpha"))


def test_verify_refuses_another_projects_roles_and_names_even_when_declared_so():
    with pytest.raises(tp.PolicyError, match=r"only the project's own roles"):
        tp.verify(built(roles=["beta_anon"]), ProjectNames("alpha"))
    with pytest.raises(tp.PolicyError, match=r"is not named alpha:<name>"):
        tp.verify(built(name="beta:p"), ProjectNames("alpha"))
    with pytest.raises(tp.PolicyError, match=r"storage.buckets for insert is not a policy a template may add"):
        tp.verify(built(table="storage.buckets", command="insert", using=None, check="true"), ProjectNames("alpha"))


def test_the_provider_refuses_tampered_inputs_and_changes_nothing(db):
    pg.bootstrap(db)
    names = ProjectNames("alpha")
    pg.provider_create(db, names)
    tampered = built() | {"statement": 'create policy "alpha:p" on storage.objects as permissive for select '
                                       'to "postgres" using (true)'}
    props = {"project": "alpha", "auth_mode": "own", "template": "empty", "dsn": db,
             "template_dir": _portable(pg.BUILTIN_TEMPLATES / "empty"),
             "migrations": m.plan_names(m.discover(pg.BUILTIN_TEMPLATES / "empty")), "on_delete": "archive",
             "template_policies": [tampered]}
    with pytest.raises(tp.PolicyError, match="roles differ"):
        ProjectMigrationsProvider().create(props)
    assert policies_of(db, "alpha") == {}
    created = ProjectMigrationsProvider().create(props | {"template_policies": [built()]})
    assert [p["name"] for p in created.outs["policies"]] == ["alpha:p"]


# -- idempotent: unchanged kept, changed replaced, removed dropped ------------------------------------


def test_reapplying_keeps_the_policies_untouched(gallery):
    dsn, a, _ = gallery
    before = policies_of(dsn, "alpha")
    assert len(before) == 5
    assert pg.apply(dsn, a, "gallery", GALLERY, GALLERY_BUCKETS) == []
    assert policies_of(dsn, "alpha") == before  # same oids: nothing dropped and made again


def test_a_policy_removed_from_the_file_is_dropped_and_a_changed_one_replaced(db, tmp_path):
    folder = template(tmp_path / "tpl", {"storage.objects": [
        {"name": "keep", "command": "select", "roles": ["anon"], "using": "name = 'a'"},
        {"name": "change", "command": "select", "roles": ["anon"], "using": "name = 'b'"},
        {"name": "remove", "command": "select", "roles": ["anon"], "using": "name = 'c'"}]})
    pg.bootstrap(db)
    a = pg.create_project(db, "alpha", "tpl", folder)
    pg.create_project(db, "alpha_b", "tpl", folder)  # its name starts with alpha: its policies stay
    before = policies_of(db, "alpha")
    template(folder, {"storage.objects": [
        {"name": "keep", "command": "select", "roles": ["anon"], "using": "name = 'a'"},
        {"name": "change", "command": "select", "roles": ["anon", "service"], "using": "name = 'B'"}]})
    pg.apply(db, a, "tpl", folder)
    after = policies_of(db, "alpha")
    assert set(after) == {"storage.objects/alpha:keep", "storage.objects/alpha:change"}
    assert after["storage.objects/alpha:keep"] == before["storage.objects/alpha:keep"]
    assert after["storage.objects/alpha:change"] != before["storage.objects/alpha:change"]
    with psycopg.connect(db) as conn:
        assert conn.execute("select roles::text[], qual from pg_policies where policyname = 'alpha:change'").fetchone() \
            == (["alpha_anon", "alpha_service"], "(name = 'B'::text)")
    assert len(policies_of(db, "alpha_b")) == 3
    template(folder, {})
    pg.apply(db, a, "tpl", folder)
    assert policies_of(db, "alpha") == {} and len(policies_of(db, "alpha_b")) == 3


@pytest.mark.parametrize("on_delete", ["archive", "drop"])
def test_archive_and_drop_remove_the_projects_policies_only(gallery, on_delete):
    dsn, a, _ = gallery
    pg.remove_project(dsn, a, on_delete)
    assert policies_of(dsn, "alpha") == {}
    assert len(policies_of(dsn, "beta")) == 5
    again = pg.create_project(dsn, "alpha", "empty")  # a new project of the same name gets none of them
    assert policies_of(dsn, "alpha") == {} and project_description.describe(dsn, again.schema)["policies"] == []
