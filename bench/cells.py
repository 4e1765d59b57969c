"""A deployment of N projects as cells of K: the whole program under the real engine, per cell.

    python -m bench.cells --totals 100,500,1000 --cell-size 25 --parallel 2   # "cells" in bench/results.json
    python -m bench.cells --totals 50 --cell-size 25 --out /tmp/r.json        # a quick run

Why: one stack's `up` costs grow with the square of its resources (bench/engine_program.py:
the file backend rewrites the whole checkpoint around every step), so a deployment is made of
cells, each a stack of this program with at most K projects. This measures
what an operator sees at N projects in total:
- creating all N from nothing: every cell's first `up`, `--parallel` cells at a time, each in
  its own process with its own CLI (as an operator runs one `pulumi up` per cell stack); the
  figure is the wall-clock time of the whole deployment (and the sum and slowest of its cells);
- adding one project, and previewing a one-project change: in one cell, the only stack either
  touches. They depend on K, not on N; measuring them at every N shows that.
Each cell runs as tests/stack_engine.py runs a stack: the CLI of scripts/build-pulumi.sh, the
real Pulumi.yaml and Pulumi.dev.yaml, the stand-in plugins, a PostgreSQL of its own (a cell
has its own Postgres). The machine's load average is recorded beside the figures: the cells
share its cores.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "cells"


def cell_projects(cell: int, count: int) -> list[dict[str, Any]]:
    """Names unique across the deployment: a project's schema, roles and hostname are its name."""
    return [{"name": f"c{cell:02d}p{i:03d}"} for i in range(count)]


def run_cell(cell: int, size: int, changes: bool) -> dict[str, Any]:
    """One cell's first `up` and, when `changes`, the `up` adding a project and a `preview`."""
    sys.path.insert(0, str(ROOT))
    from bench.engine_program import _counts, _timed, timed_program
    from tests.stack_engine import open_program, tcp_postgres

    program_seconds: list[float] = []
    config = cell_projects(cell, size)
    row: dict[str, Any] = {"cell": cell, "projects": size}
    with tempfile.TemporaryDirectory(prefix=f"bench-cell{cell}-") as tmp, tcp_postgres() as (_dsn, port), \
            timed_program(program_seconds):
        # A cell as docs/cells.md configures one (on this machine's Docker stand-in): its own
        # docker provider, its digest output; room for the project the run adds.
        cell_block = {"name": f"c{cell:02d}", "address": "127.0.0.1", "maxProjects": size + 1}
        stack = open_program(Path(tmp), port, {"projects": config, "cell": cell_block})
        row["first_up_seconds"], created = _timed(stack.up)
        row["first_up_program_seconds"] = program_seconds[-1]
        row["resources"] = len(stack.checkpoint()["checkpoint"]["latest"]["resources"])
        row["created"] = created.summary.get("create", 0)
        if changes:
            config = [*config, {"name": f"c{cell:02d}p{size:03d}"}]
            stack.set("projects", config)
            row["add_one_up_seconds"], added = _timed(stack.up)
            row["add_one_program_seconds"] = program_seconds[-1]
            row["add_one_steps"] = _counts(added)
            changed = [dict(p) for p in config]
            changed[0]["storage"] = {"buckets": [{"name": "uploads"}]}
            stack.set("projects", changed)
            row["preview_one_change_seconds"], previewed = _timed(stack.preview)
            row["preview_program_seconds"] = program_seconds[-1]
            row["preview_one_change_steps"] = len(previewed.changed())
        row["state_bytes"] = stack.state_file().stat().st_size
    return row


def deployment(total: int, size: int, parallel: int) -> dict[str, Any]:
    """All cells of a deployment of `total` projects; cell 0 also measures the one-project changes."""
    cells = math.ceil(total / size)
    sizes = [min(size, total - c * size) for c in range(cells)]
    started = time.perf_counter()
    loads = []
    with ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_cell, c, n, c == 0) for c, n in enumerate(sizes)]
        rows = []
        for f in futures:
            rows.append(f.result())
            loads.append(os.getloadavg()[0])
    wall = time.perf_counter() - started
    first = rows[0]
    return {
        "total_projects": total, "cell_size": size, "cells": cells, "parallel": parallel,
        "create_all_wall_seconds": wall,
        "create_all_cell_seconds_sum": sum(r["first_up_seconds"] for r in rows),
        "slowest_cell_first_up_seconds": max(r["first_up_seconds"] for r in rows),
        "cell_resources": first["resources"],
        "cell_state_bytes": first["state_bytes"],
        "deployment_state_bytes": sum(r["state_bytes"] for r in rows),
        "add_one_up_seconds": first["add_one_up_seconds"],
        "add_one_steps": first["add_one_steps"],
        "preview_one_change_seconds": first["preview_one_change_seconds"],
        "program_seconds": {"first_up": first["first_up_program_seconds"], "add_one": first["add_one_program_seconds"],
                            "preview": first["preview_program_seconds"]},
        "load_average_max": max(loads),
        "rows": rows,
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'projects':>8} {'cells':>5} {'create all s':>12} {'add one s':>9} {'preview s':>9} "
             f"{'cell state MB':>13} {'load':>5}"]
    for r in results:
        lines.append(f"{r['total_projects']:>8} {r['cells']:>5} {r['create_all_wall_seconds']:>12.0f} "
                     f"{r['add_one_up_seconds']:>9.1f} {r['preview_one_change_seconds']:>9.1f} "
                     f"{r['cell_state_bytes'] / 2**20:>13.2f} {r['load_average_max']:>5.1f}")
    return "\n".join(lines)


def merge(out: Path, result: dict[str, Any]) -> None:
    """Keeps the other keys of `out`, and the totals not measured now."""
    results = json.loads(out.read_text()) if out.exists() else {}
    kept = [r for r in (results.get(KEY) or {}).get("deployments", [])
            if (r["total_projects"], r["cell_size"]) != (result["total_projects"], result["cell_size"])]
    from tests.engine import CLI_VERSION
    results[KEY] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cli": CLI_VERSION,
                    "deployments": sorted([*kept, result], key=lambda r: (r["cell_size"], r["total_projects"]))}
    out.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cells")
    parser.add_argument("--totals", default="100,500,1000", help="projects in the deployment, one run each")
    parser.add_argument("--cell-size", type=int, default=25, help="projects per cell (its maxProjects)")
    parser.add_argument("--parallel", type=int, default=2, help="cells run at once (one process each)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    done = []
    for total in (int(t) for t in args.totals.split(",")):
        done.append(deployment(total, args.cell_size, args.parallel))
        merge(args.out, done[-1])  # each total is kept as soon as it is measured
        print(table(done[-1:]).splitlines()[-1], flush=True)
    print(table(done))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
