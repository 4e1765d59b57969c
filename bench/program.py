"""Program cost under Pulumi mocks: the real __main__.py against a floor of plain resources.

Each measurement runs in its own process (`python -m bench.program ...`) so peak memory
and garbage-collector state are not shared between sizes.
"""
from __future__ import annotations

import argparse
import gc
import json
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT_TYPE = "supabase-multi-instance:index:SupabaseProject"


def project_config(count: int) -> dict[str, Any]:
    from tests.program import dev_config

    config = dev_config()
    config["supabase-multi-instance:projects"] = [{"name": f"p{i:04d}"} for i in range(count)]
    return config


def measure_ours(projects: int, record: Path | None = None) -> dict[str, Any]:
    from tests.program import run_program

    config = project_config(projects)
    imports = _warm_imports()
    started = time.perf_counter()
    run = run_program(config)
    seconds = time.perf_counter() - started
    if record is not None:
        record.write_text(json.dumps(_graph(run), default=str))
    components = [r for r in run.resources if r.typ == PROJECT_TYPE]
    per_project = 1 + len(run.descendants(components[0])) if components else 0
    return {"seconds": seconds, "import_seconds": imports, "resources": len(run.resources),
            "resources_per_project": per_project,
            "by_type": dict(Counter(r.typ for r in run.resources))}


def _warm_imports() -> float:
    """Import what __main__.py imports first: a constant start-up cost, reported on its own."""
    import importlib

    started = time.perf_counter()
    for path in sorted((ROOT / "components").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return time.perf_counter() - started


def _graph(run) -> list[dict[str, Any]]:
    """The recorded registrations, in order, with parents as indexes: what a replay needs."""
    index = {r.urn: i for i, r in enumerate(run.resources)}
    return [{"typ": r.typ, "name": r.name, "inputs": r.inputs, "custom": r.custom, "parent": index.get(r.parent),
             "depends_on": sorted(index[u] for u in r.dependencies if u in index)}
            for r in run.resources]


def _run_sdk(program) -> float:
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return [f"{args.name}-id", dict(args.inputs)]

        def call(self, args):
            return {}

    settings.reset_options(project="floor", stack="bench")
    pulumi.runtime.set_mocks(Mocks(), project="floor", stack="bench", preview=False)
    started = time.perf_counter()
    _sync_await(run_pulumi_func(program))
    return time.perf_counter() - started


def measure_plain_floor(resources: int) -> dict[str, Any]:
    """The SDK alone: as many resources, one tiny input each, no components, no logic."""
    import pulumi

    def program() -> None:
        for i in range(resources):
            pulumi.CustomResource("bench:index:Plain", f"r{i}", {"value": i})

    return {"seconds": _run_sdk(program), "resources": resources}


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _typed_class(token: str):
    """`postgresql:index/role:Role` -> pulumi_postgresql.Role; providers -> <pkg>.Provider."""
    import importlib

    if token.startswith("pulumi:providers:"):
        return importlib.import_module(f"pulumi_{token.split(':')[2]}").Provider
    package, _module, name = token.split(":")
    if package in ("pulumi-python", "pulumi"):
        return None
    return getattr(importlib.import_module(f"pulumi_{package}"), name)


def measure_replay_floor(graph_file: Path) -> dict[str, Any]:
    """The SDKs alone registering exactly our graph: the same typed resource classes, names,
    inputs, parents and dependencies, with none of our logic (no config validation, no
    component code, no applies, no dynamic-provider serialization)."""
    import pulumi

    graph = json.loads(graph_file.read_text())
    classes = {e["typ"]: _typed_class(e["typ"]) for e in graph if e["custom"]}
    kwargs = [_snake(e["inputs"]) if classes.get(e["typ"]) else e["inputs"] for e in graph]

    def program() -> None:
        made: list[pulumi.Resource] = []
        for entry, props in zip(graph, kwargs):
            parent = made[entry["parent"]] if entry["parent"] is not None else None
            depends_on = [made[i] for i in entry["depends_on"]] or None
            opts = pulumi.ResourceOptions(parent=parent, depends_on=depends_on)
            cls = classes.get(entry["typ"])
            if cls is not None:
                made.append(cls(entry["name"], opts=opts, **props))
            elif entry["custom"]:
                made.append(pulumi.CustomResource(entry["typ"], entry["name"], props, opts))
            else:
                made.append(pulumi.ComponentResource(entry["typ"], entry["name"], None, opts))

    return {"seconds": _run_sdk(program), "resources": len(graph)}


def run_isolated(kind: str, size: str, *extra: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.program", kind, str(size), *extra]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _profile(resources: int) -> dict[str, tuple[int, float]]:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(measure_plain_floor, resources)
    return {f"{Path(f).name}:{line}({name})": (nc, tt)
            for (f, line, name), (_cc, nc, tt, _ct, _callers) in pstats.Stats(profiler).stats.items()}


def profile_growth(small: int, large: int, top: int = 8) -> list[dict[str, Any]]:
    """Where the SDK's time goes at `large` resources, and how each function's cost per call
    grew from `small`: flat per-call costs scale linearly, growing ones are the superlinear part."""
    before, after = _profile(small), _profile(large)
    rows = sorted(after.items(), key=lambda item: item[1][1], reverse=True)[:top]
    return [{"function": name, "calls": calls, "own_seconds": round(own, 3),
             "us_per_call": round(own / calls * 1e6, 2),
             "us_per_call_small": round(before[name][1] / before[name][0] * 1e6, 2) if name in before else None}
            for name, (calls, own) in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["ours", "plain", "replay"])
    parser.add_argument("size", help="projects for 'ours', resources for 'plain', a graph file for 'replay'")
    parser.add_argument("--record", type=Path, help="ours: write the registered graph here")
    parser.add_argument("--no-gc", action="store_true", help="disable Python's cyclic garbage collector")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.no_gc:
        gc.disable()
    if args.kind == "ours":
        result = measure_ours(int(args.size), args.record)
    elif args.kind == "plain":
        result = measure_plain_floor(int(args.size))
    else:
        result = measure_replay_floor(Path(args.size))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
