"""Templates render in a sandbox that sees only their own folder (components/core/sql_templates.py).

The attacks are the ones of issue 10: a template that runs `id` on the machine running
`pulumi up`, and includes that read files outside the template's folder. Through the
migration code path the refusal names the file, and nothing reaches the database.
"""
from __future__ import annotations

import psycopg
import pytest

from components.core import migrations as m
from components.core.naming import ProjectNames
from components.core.sql_templates import TemplateRefused, render, render_text
from components.resources.postgres import VOLUMES
from tests import pg

CODE_EXECUTION = "{{ lipsum.__globals__['os'].popen('id').read() | literal }}"
ESCAPES = ["{% include 'etc/hostname' %}", "{% include '/etc/hostname' %}", "{% include '../../x' %}",
           "{% include '../secret.sql' %}", "{% import '../secret.sql' as s %}"]


def test_code_execution_is_refused_by_the_sandbox(tmp_path):
    with pytest.raises(TemplateRefused, match="sandbox.*__globals__"):
        render_text(CODE_EXECUTION, tmp_path)


@pytest.mark.parametrize("source", ESCAPES)
def test_includes_outside_the_template_folder_are_refused(tmp_path, source):
    folder = tmp_path / "tpl"
    folder.mkdir()
    (tmp_path / "secret.sql").write_text("select 'leaked';")
    with pytest.raises(TemplateRefused, match="refused: templates may only use files of their own folder"):
        render_text(source, folder)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "tpl"
    folder.mkdir()
    (tmp_path / "secret.sql").write_text("select 'leaked';")
    (folder / "link.sql").symlink_to(tmp_path / "secret.sql")
    with pytest.raises(TemplateRefused, match="link.sql"):
        render_text("{% include 'link.sql' %}", folder)


def test_includes_inside_the_folder_work(tmp_path):
    (tmp_path / "_part.sql").write_text("create table {{ schema | ident }}.t ();")
    assert render_text("{% include '_part.sql' %}", tmp_path, schema="p") == 'create table "p".t ();'


def test_repository_templates_still_render():
    assert "supabase_multi.postgrest_pre_config" in render(pg.SQL_ROOT / "bootstrap" / "0001_postgrest_pre_config.sql.j2",
                                                           authenticator="authenticator", base_schemas="public")
    assert render(VOLUMES / "roles.sql.j2", login_roles=["authenticator"], admin_role="supabase_admin",
                  api_roles=["anon"], database="postgres", internal_database="_supabase")


@pytest.mark.parametrize("source, refusal", [
    (CODE_EXECUTION, "refused by the template sandbox"),
    ("{% include 'etc/hostname' %}", "include/import of 'etc/hostname' refused"),
    ("{% include '../../x' %}", "include/import of '../../x' refused"),
])
def test_the_migration_step_names_the_file_and_applies_nothing(db, tmp_path, source, refusal):
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "0001_init.sql.j2").write_text(
        "create table {{ schema | ident }}.before_the_attack (id int);\n" + source + "\n")
    pg.bootstrap(db)
    names = ProjectNames("evil")
    pg.provider_create(db, names)
    with pytest.raises(m.MigrationError, match=rf"^evil/0001_init\.sql\.j2: {refusal}.*nothing was applied"):
        m.apply_project(db, names, "evil", m.discover(folder), where="evil")
    with psycopg.connect(db) as conn:
        assert conn.execute("select count(*) from pg_class where relname = 'before_the_attack'").fetchone() == (0,)
        assert conn.execute("select count(*) from supabase_multi.projects").fetchone() == (0,)
