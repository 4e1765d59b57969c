"""The benchmark runs end to end on a tiny size (figures are for `python -m bench`, not asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.engine import require_cli

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_on_a_tiny_size(tmp_path):
    require_cli()  # the engine part needs it: fails under CI, skips outside when it is not built
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "1,2", "--db-projects", "6", "--churn-sizes", "1",
         "--repeat", "1", "--backup-posts", "300", "--backup-runs", "1", "--engine-projects", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x floor" in result.stdout and "churn when adding one project" in result.stdout
    results = json.loads(out.read_text())
    assert [r["projects"] for r in results["program"]] == [1, 2]
    assert results["program"][0]["resources_per_project"] >= 2
    assert results["database"]["projects_registered"] == 6
    (churn,) = results["churn"]
    assert churn["shared_containers_changed"] == [] and churn["removed_resources"] == []
    assert "backup and restore of one blog project with 300 posts" in result.stdout
    backup = results["backup"]
    assert backup["posts"] == 300 and backup["backup_bytes"] > 0 and backup["restore_vs_pg_restore"] > 0
    engine = results["engine"]
    assert engine["projects"] == 2 and engine["up_seconds"] > 0 and "real engine" in result.stdout
    assert {k: v for k, v in engine["add_one_project_steps"].items() if k.startswith("p002")} == {
        "p002": "create", "p002-sql": "create"}


def test_bench_engine_part_alone_keeps_the_other_parts(tmp_path):
    require_cli()
    out = tmp_path / "results.json"
    out.write_text((ROOT / "bench" / "results.json").read_text())
    result = subprocess.run([sys.executable, "-m", "bench", "--only-engine", "--engine-projects", "1", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    before, after = json.loads((ROOT / "bench" / "results.json").read_text()), json.loads(out.read_text())
    assert after["engine"]["projects"] == 1
    assert {k: v for k, v in after.items() if k != "engine"} == {k: v for k, v in before.items() if k != "engine"}


def test_whole_program_engine_bench_runs_on_one_project(tmp_path):
    """bench/engine_program.py on the smallest stack (about 20 s): every figure is there and the
    other parts of the results file are kept."""
    require_cli()
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"program": ["kept"]}))
    result = subprocess.run([sys.executable, "-m", "bench.engine_program", "--sizes", "1", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["program"] == ["kept"]
    (row,) = results["engine_program"]["rows"]
    assert row["projects"] == 1 and not row["skip_checkpoints"] and row["first_up_created"] == row["resources"] - 3
    assert row["add_one_steps"]["create"] >= 14 and row["state_bytes"] > 0
    assert "pulumi-python:dynamic/supabase:ProjectMigrations p000-sql" in row["preview_one_change_steps"]


def test_bench_cells_runs_a_tiny_deployment(tmp_path):
    """Two cells of two projects, each its own stack and PostgreSQL, run in parallel processes."""
    require_cli()
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, "-m", "bench.cells", "--totals", "4", "--cell-size", "2",
                             "--parallel", "2", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (deployment,) = json.loads(out.read_text())["cells"]["deployments"]
    assert deployment["cells"] == 2 and [r["projects"] for r in deployment["rows"]] == [2, 2]
    assert all(r["created"] >= 2 * 21 for r in deployment["rows"])  # each cell: its stack and its projects
    # Adding a project to one cell creates that project's resources there and updates only
    # Kong's routes and the dashboard pages of that cell.
    assert deployment["add_one_steps"] == {"create": 21, "update": 2}
    assert deployment["create_all_wall_seconds"] < deployment["create_all_cell_seconds_sum"] + 60
