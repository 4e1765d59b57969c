"""components/core/cell_digest.py: what `python -m cells up --changed` compares."""
from __future__ import annotations

from components.core import cell_digest


def app(folder):
    (folder / "migrations").mkdir(parents=True)
    (folder / "migrations" / "0001_init.sql").write_text("create table t (id int);\n")
    return folder


def test_a_file_of_a_folder_the_config_names_changes_the_digest_relative_or_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = app(tmp_path / "abs")
    app(tmp_path / "rel")
    raw = {"projects": [{"name": "a", "supabaseDir": str(absolute)}, {"name": "b", "supabaseDir": "rel"}]}
    before = cell_digest.digest(raw)
    assert cell_digest.digest(raw) == before  # the same config and files: the same digest
    (absolute / "migrations" / "0002_more.sql").write_text("alter table t add column x int;\n")
    after_absolute = cell_digest.digest(raw)
    (tmp_path / "rel" / "migrations" / "0001_init.sql").write_text("create table t (id bigint);\n")
    assert len({before, after_absolute, cell_digest.digest(raw)}) == 3


def test_the_config_changes_the_digest_and_other_folders_do_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app(tmp_path / "mine")
    app(tmp_path / "other")
    raw = {"projects": [{"name": "a", "supabaseDir": "mine"}]}
    before = cell_digest.digest(raw)
    (tmp_path / "other" / "migrations" / "0002.sql").write_text("select 1;\n")
    assert cell_digest.digest(raw) == before
    assert cell_digest.digest({**raw, "bindAddress": "10.0.0.1"}) != before
