"""The benchmark runs end to end on a tiny size (figures are for `python -m bench`, not asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_on_a_tiny_size(tmp_path):
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "1,2", "--db-projects", "6", "--churn-sizes", "1",
         "--repeat", "1", "--backup-posts", "300", "--backup-runs", "1", "--out", str(out)],
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
