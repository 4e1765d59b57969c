"""`python -m cells` on real stacks: the CLI of scripts/build-pulumi.sh reads each stack's config
(secrets decrypted with the passphrase, as for `pulumi up`), the checks see across cells, and
`--changed` runs only the cell a change was made to, under the real engine.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from cells import checks, outputs, runner
from cells.__main__ import main
from cells.inventory import read_cell, read_cells
from tests.engine import require_cli
from tests.stack_engine import ROOT, kept_modules, open_program, stack_env, tcp_postgres

NS = "supabase-multi-instance"
EU = {"name": "eu1", "dockerHost": "ssh://deploy@10.0.0.11", "address": "10.0.0.11"}
US = {"name": "us1", "dockerHost": "ssh://deploy@10.0.0.12", "address": "10.0.0.12"}


def cell_values(cell: dict, *projects: str, **extra) -> dict[str, auto.ConfigValue]:
    values = {"cell": cell, "bindAddress": cell["address"],
              "projects": [{"name": p, "template": "blog"} for p in projects], **extra}
    return {f"{NS}:{k}": auto.ConfigValue(json.dumps(v) if not isinstance(v, str) else v) for k, v in values.items()}


@pytest.fixture
def folder(tmp_path, monkeypatch) -> tuple[Path, auto.LocalWorkspace]:
    """A project folder with its file backend, as scripts/env.sh leaves a shell."""
    cli = require_cli()
    work, backend = tmp_path / "work", tmp_path / "backend"
    work.mkdir(), backend.mkdir()
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["backend"] = {"url": f"file://{backend}"}
    (work / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    for key, value in stack_env(backend, tmp_path / "standin").items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(work)
    workspace = auto.LocalWorkspace(work_dir=str(work), pulumi_command=cli)
    return work, workspace


def add_stack(workspace: auto.LocalWorkspace, name: str, values: dict[str, auto.ConfigValue]) -> None:
    workspace.create_stack(name)
    workspace.set_all_config(name, values)


def test_the_cells_are_the_stacks_with_a_cell_block_and_their_secrets_are_read(folder):
    work, ws = folder
    add_stack(ws, "eu1", {**cell_values(EU, "blog", "shop"),
                          f"{NS}:postgresPassword": auto.ConfigValue("a-long-enough-password", secret=True)})
    add_stack(ws, "us1", cell_values(US, "crm"))
    add_stack(ws, "dev", {f"{NS}:projects": auto.ConfigValue('[{"name": "blog"}]')})
    cells = read_cells(ws)
    assert [(c.stack, c.name, c.projects) for c in cells] == [("eu1", "eu1", ["blog", "shop"]), ("us1", "us1", ["crm"])]
    eu = cells[0]
    assert eu.raw["postgresPassword"] == "a-long-enough-password" and eu.secret == frozenset({"postgresPassword"})
    assert checks.problems(cells) == []


def test_a_project_hostname_or_cell_name_in_two_cells_is_refused(folder):
    _, ws = folder
    add_stack(ws, "eu1", cell_values(EU, "blog", "shop"))
    add_stack(ws, "eu1b", cell_values({**US, "name": "eu1"}, "blog", "crm"))
    found = checks.problems(read_cells(ws))
    assert "cell.name 'eu1' is in stacks eu1, eu1b: a cell's name is its stack hostnames' (api-<cell>.<domain>); " \
           "rename one" in found
    assert any(line.startswith("project 'blog' is in stacks eu1, eu1b:") for line in found), found


def test_two_cells_on_one_host_with_the_same_ports_are_refused(folder):
    _, ws = folder
    add_stack(ws, "a", cell_values({"name": "a", "address": "127.0.0.1"}, "blog"))
    add_stack(ws, "b", cell_values({"name": "b", "address": "127.0.0.1"}, "shop"))
    found = checks.problems(read_cells(ws))
    assert any(line.startswith("port '8000 on 127.0.0.1 of the local Docker host' is in stacks a, b") for line in found)


def test_a_cells_own_config_problems_are_named_with_its_stack(folder):
    _, ws = folder
    add_stack(ws, "eu1", cell_values({**EU, "maxProjects": 1}, "blog", "shop"))
    (problem,) = checks.problems(read_cells(ws))
    assert problem.startswith("eu1: projects: cell 'eu1' holds 2 projects, over its cell.maxProjects 1;")


def test_list_and_check_on_the_command_line(folder, capsys):
    work, ws = folder
    add_stack(ws, "eu1", cell_values(EU, "blog"))
    add_stack(ws, "us1", cell_values(US, "crm", "blog"))
    assert main(["--dir", str(work), "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == ["eu1\tcell eu1\tssh://deploy@10.0.0.11\t10.0.0.11\t1 of 25 projects",
                      "us1\tcell us1\tssh://deploy@10.0.0.12\t10.0.0.12\t2 of 25 projects"]
    assert main(["--dir", str(work), "check"]) == 1
    assert "project 'blog' is in stacks eu1, us1" in capsys.readouterr().out
    assert main(["--dir", str(work), "up"]) == 2  # never without --yes


def test_the_merged_dashboard_lists_every_cells_projects_and_links_each_cell():
    eu = {"stack": "eu1", "dashboardUrl": "https://supabase-eu1.example.com/", "studioUrl": "https://studio-eu1.example.com",
          "cell": {"name": "eu1", "address": "10.0.0.11", "maxProjects": 25},
          "projects": {"blog": {"schema": "blog", "url": "https://blog-api.example.com", "template": "blog"}},
          "services": [{"name": "kong", "healthUrl": "https://supabase-eu1.example.com/status/kong"}]}
    us = {"stack": "us1", "cell": {"name": "us1", "address": "10.0.0.12", "maxProjects": 25},
          "projects": {"crm": {"schema": "crm", "url": "https://crm-api.example.com", "template": "blog"}}}
    merged = outputs.merged([("eu1", eu), ("us1", us)])
    assert merged["projects"]["crm"]["cell"] == "us1" and merged["services"][0]["name"] == "eu1/kong"
    from dashboard.build import site_files

    files, _ = site_files(merged)
    index = files["index.html"]
    assert 'id="cell-eu1"' in index and 'id="cell-us1"' in index and "1 of 25" in index
    assert 'data-cell="us1"' in index and 'href="https://supabase-eu1.example.com/"' in index
    assert {"projects/blog.html", "projects/crm.html"} <= set(files)


def test_public_outputs_never_carry_secrets():
    values = {"anonKey": auto.OutputValue("eyJ", False), "cellDigest": auto.OutputValue("abc", True)}
    assert outputs.public(values) == {"anonKey": "eyJ"}


def _cell_stack(tmp: Path, port: int, cell: dict, *projects: str):
    stack = open_program(tmp, port, {"cell": cell, "projects": [{"name": p} for p in projects]})
    return stack, read_cell(stack.stack.workspace, stack.stack.name)


def test_changed_runs_only_the_cell_a_project_was_added_to(tmp_path):
    """Two local cells, each its own stack, file backend and PostgreSQL, under the real engine."""
    with kept_modules(), tcp_postgres() as (_a, port_a), tcp_postgres() as (_b, port_b):
        a, cell_a = _cell_stack(tmp_path / "a", port_a, {"name": "a", "address": "127.0.0.1"}, "blog")
        b, cell_b = _cell_stack(tmp_path / "b", port_b, {"name": "b", "address": "127.0.0.1"}, "crm")

        def run(verb: str, cells, changed: bool) -> dict[str, runner.CellRun]:
            """Each cell's own stack (both are `dev`, of two folders): one opener per cell."""
            results = [r for cell, stack in cells
                       for r in runner.run([cell], verb, lambda _s, s=stack: s, only_changed=changed, stack_dir=ROOT)]
            return {r.cell: r for r in results}

        first = run("up", [(cell_a, a.stack), (cell_b, b.stack)], changed=True)
        assert not first["a"].error and not first["b"].error, (first["a"].line, first["b"].line)
        assert first["a"].changes.get("create", 0) > 20 and first["b"].changes.get("create", 0) > 20
        nothing = run("preview", [(cell_a, a.stack), (cell_b, b.stack)], changed=True)
        assert nothing["a"].skipped and nothing["b"].skipped
        a.set("projects", [{"name": "blog"}, {"name": "news"}])
        cell_a = read_cell(a.stack.workspace, a.stack.name)
        preview = run("preview", [(cell_a, a.stack), (cell_b, b.stack)], changed=True)
        assert preview["b"].skipped and not preview["a"].skipped
        assert preview["a"].changes.get("create", 0) >= 15, preview["a"].line
        added = run("up", [(cell_a, a.stack), (cell_b, b.stack)], changed=True)
        assert added["b"].skipped and added["a"].changes.get("create", 0) >= 15
        assert added["a"].changes.get("delete", 0) == 0 and added["a"].changes.get("replace", 0) == 0
