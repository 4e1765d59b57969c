"""The whole program under the real Pulumi engine: `__main__.py` itself, every resource, at N projects.

    python -m bench.engine_program --sizes 10,50,100            # writes "engine_program" into bench/results.json
    python -m bench.engine_program --sizes 1 --out /tmp/r.json  # a quick smoke run

Why this exists next to bench/engine.py (the SQL resources of N projects in an inline
program): an operator's `pulumi up` runs every resource of the stack through the engine, and
the file backend rewrites the whole checkpoint around every step, so the cost of a change
grows with the size of the stack, not with the change (issue 19). Only the whole program
shows that. It runs as tests/stack_engine.py runs it: the CLI of scripts/build-pulumi.sh,
the real Pulumi.yaml and Pulumi.dev.yaml with N `blog` projects (`auth.mode: own`), the
stand-in provider plugins of tests/providers (the postgresql one does the real SQL), a real
PostgreSQL of its own.

Timed, each on the same stack in order: the first `up` (from nothing), the `up` that adds one
project, the `preview` of a one-project change (a bucket added to one project); then the
state file's size. With `--skip-checkpoints` each size also runs with
PULUMI_SKIP_CHECKPOINTS=true (the CLI writes the state once at the end of an operation, not
around every step): the share of the checkpoint writes in each figure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
KEY = "engine_program"


def project(i: int) -> dict[str, Any]:
    return {"name": f"p{i:03d}"}


@contextmanager
def timed_program(seconds: list[float]) -> Iterator[None]:
    """Times each evaluation of `__main__.py` (the part the engine waits on before its steps)."""
    from tests import stack_engine

    original: Callable[[], None] = stack_engine._program

    def program() -> None:
        started = time.perf_counter()
        try:
            original()
        finally:
            seconds.append(time.perf_counter() - started)

    stack_engine._program = program
    try:
        yield
    finally:
        stack_engine._program = original


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def _counts(op) -> dict[str, int]:
    found: dict[str, int] = {}
    for step in op.changed().values():
        found[step] = found.get(step, 0) + 1
    return found


def measure(projects: int, skip_checkpoints: bool = False) -> dict[str, Any]:
    """One stack of `projects` projects: first up, up adding one, preview of a one-project change."""
    from tests.engine import CLI_VERSION
    from tests.stack_engine import open_program, tcp_postgres

    program_seconds: list[float] = []
    config = [project(i) for i in range(projects)]
    with tempfile.TemporaryDirectory(prefix="bench-engine-program-") as tmp, tcp_postgres() as (_dsn, port), \
            timed_program(program_seconds):
        stack = open_program(Path(tmp), port, {"projects": config})
        if skip_checkpoints:
            stack.stack.workspace.env_vars["PULUMI_SKIP_CHECKPOINTS"] = "true"
        first, created = _timed(stack.up)
        first_program = program_seconds[-1]
        resources = len(stack.checkpoint()["checkpoint"]["latest"]["resources"])

        config = [*config, project(projects)]
        stack.set("projects", config)
        add, added = _timed(stack.up)
        add_program = program_seconds[-1]

        changed = [dict(p) for p in config]
        changed[0]["storage"] = {"buckets": [{"name": "uploads"}]}
        stack.set("projects", changed)
        preview, previewed = _timed(stack.preview)
        preview_program = program_seconds[-1]
        state_bytes = stack.state_file().stat().st_size
        state = state_shares(stack.checkpoint())
    return {
        "cli": CLI_VERSION,
        "projects": projects,
        "skip_checkpoints": skip_checkpoints,
        "resources": resources,
        "first_up_seconds": first,
        "first_up_program_seconds": first_program,
        "first_up_created": created.summary.get("create", 0),
        "add_one_up_seconds": add,
        "add_one_program_seconds": add_program,
        "add_one_steps": _counts(added),
        "preview_one_change_seconds": preview,
        "preview_program_seconds": preview_program,
        "preview_one_change_steps": {f"{t} {n}": op for (t, n), op in sorted(previewed.changed().items())},
        "state_bytes": state_bytes,
        **state,
    }


def state_shares(checkpoint: dict[str, Any], top: int = 6) -> dict[str, Any]:
    """What the state is made of: bytes per resource type, and the dynamic providers' pickled
    code (`__provider`, stored with the inputs and outputs of every dynamic resource)."""
    by_type: dict[str, list[int]] = {}
    pickled = 0
    for r in checkpoint["checkpoint"]["latest"]["resources"]:
        entry = by_type.setdefault(r["type"], [0, 0])
        entry[0] += 1
        entry[1] += len(json.dumps(r))
        pickled += sum(len(str((r.get(k) or {}).get("__provider", ""))) for k in ("inputs", "outputs"))
    largest = sorted(by_type.items(), key=lambda kv: kv[1][1], reverse=True)[:top]
    return {"state_dynamic_provider_code_bytes": pickled,
            "state_by_type": [{"type": t, "resources": n, "bytes": b} for t, (n, b) in largest]}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["whole program under the real engine (stand-in providers, real PostgreSQL); "
             "each time includes the program's evaluation (in brackets)",
             f"{'projects':>8} {'ckpt':>5} {'resources':>9} {'first up s':>14} {'add one up s':>14} "
             f"{'preview 1 s':>14} {'state MB':>8}"]
    for r in rows:
        lines.append(
            f"{r['projects']:>8} {'skip' if r['skip_checkpoints'] else 'on':>5} {r['resources']:>9} "
            f"{r['first_up_seconds']:>6.1f} ({r['first_up_program_seconds']:>4.1f}) "
            f"{r['add_one_up_seconds']:>6.1f} ({r['add_one_program_seconds']:>4.1f}) "
            f"{r['preview_one_change_seconds']:>6.1f} ({r['preview_program_seconds']:>4.1f}) "
            f"{r['state_bytes'] / 2**20:>8.2f}")
    return "\n".join(lines)


def merge(out: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Keeps the other parts of `out` and the rows of sizes not measured now."""
    results = json.loads(out.read_text()) if out.exists() else {}
    fresh = {(r["projects"], r["skip_checkpoints"]) for r in rows}
    kept = [r for r in (results.get(KEY) or {}).get("rows", []) if (r["projects"], r["skip_checkpoints"]) not in fresh]
    results[KEY] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "load_average": os.getloadavg()[0],
                    "rows": sorted(kept + rows, key=lambda r: (r["projects"], r["skip_checkpoints"]))}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_program")
    parser.add_argument("--sizes", default="10,50,100", help="project counts, each one stack (run once each)")
    parser.add_argument("--skip-checkpoints", choices=["no", "also", "only"], default="no",
                        help="also/only measure with PULUMI_SKIP_CHECKPOINTS=true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    modes = {"no": [False], "also": [False, True], "only": [True]}[args.skip_checkpoints]
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for skip in modes:
            rows.append(measure(n, skip))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
            merge(args.out, rows)  # each size is kept as soon as it is measured
    print(table(json.loads(args.out.read_text())[KEY]["rows"]))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
