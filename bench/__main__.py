"""python -m bench: cost per project and scaling; prints a table, writes bench/results.json.

    python -m bench                      # the full run (a few minutes)
    python -m bench --sizes 2,4 --db-projects 12 --engine-projects 2 --out /tmp/r.json   # a quick smoke run

The engine part needs the Pulumi CLI of scripts/build-pulumi.sh; --engine-projects 0 leaves it out.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import backup, churn, dashboard, database, engine, gotrue, program

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def program_costs(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    """Ours against the SDKs replaying the identical graph, each in a fresh process, best of `repeat`."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            graph = Path(tmp) / f"graph-{n}.json"
            runs = max(repeat, 5) if n <= 100 else repeat  # small runs are short and noisy
            ours = min((program.run_isolated("ours", str(n), "--record", str(graph)) for _ in range(runs)),
                       key=lambda r: r["seconds"])
            floor = min((program.run_isolated("replay", str(graph)) for _ in range(runs)), key=lambda r: r["seconds"])
            plain = program.run_isolated("plain", str(ours["resources"]))
            rows.append({
                "projects": n, "resources": ours["resources"], "resources_per_project": ours["resources_per_project"],
                "seconds": ours["seconds"], "floor_seconds": floor["seconds"], "plain_floor_seconds": plain["seconds"],
                "vs_floor": ours["seconds"] / floor["seconds"], "seconds_per_100_projects": ours["seconds"] / n * 100,
                "peak_rss_mb": ours["peak_rss_mb"], "import_seconds": ours["import_seconds"],
            })
    return rows


def gc_share(resources: int) -> dict[str, Any]:
    """How much of the SDK's time at this size is Python's cyclic garbage collector."""
    with_gc = program.run_isolated("plain", str(resources))["seconds"]
    without = program.run_isolated("plain", str(resources), "--no-gc")["seconds"]
    return {"resources": resources, "seconds": with_gc, "seconds_without_gc": without,
            "gc_share": 1 - without / with_gc}


def table(results: dict[str, Any]) -> str:
    lines = ["program under mocks (best of runs; floor = the SDKs registering the same graph, no logic of ours)",
             f"{'projects':>8} {'resources':>9} {'res/proj':>8} {'seconds':>8} {'floor s':>8} {'x floor':>7} "
             f"{'s/100 proj':>10} {'peak MB':>8}"]
    for r in results["program"]:
        lines.append(f"{r['projects']:>8} {r['resources']:>9} {r['resources_per_project']:>8} {r['seconds']:>8.2f} "
                     f"{r['floor_seconds']:>8.2f} {r['vs_floor']:>7.2f} {r['seconds_per_100_projects']:>10.2f} "
                     f"{r['peak_rss_mb']:>8.0f}")
    lines.append(f"scaling time(largest)/time(second largest): {results['scaling']['ratio']:.2f} "
                 f"for {results['scaling']['projects_ratio']:.1f}x the projects")
    lines.append("SDK floor profile at the largest size (own time; us per call there and at the smallest size):")
    for p in results["sdk_profile"][:5]:
        lines.append(f"  {p['function']:<55} {p['own_seconds']:>6.2f} s {p['us_per_call']:>8.1f} us "
                     f"(was {p['us_per_call_small']} us)")
    for g in results["sdk_gc"]:
        lines.append(f"SDK floor, {g['resources']} plain resources: {g['seconds']:.2f} s, without cyclic GC "
                     f"{g['seconds_without_gc']:.2f} s (GC share {g['gc_share']:.0%})")
    d = results["database"]
    lines += ["", f"database ({d['projects_registered']} projects registered; each blog with "
                  f"{d['buckets_per_project']} buckets and {d['published_tables_per_project']} published tables)",
              f"  create one project (database time): {d['create_first_ms']:.1f} ms, plain script "
              f"{d['baseline_plain_script_ms']:.1f} ms -> {d['create_vs_baseline']:.2f}x "
              f"(wall {d['create_first_wall_ms']:.1f} ms, {d['create_first_wall_vs_baseline']:.2f}x)",
              f"  create the last project (database time): {d['create_last_ms']:.1f} ms, plain script "
              f"{d['baseline_last_ms']:.1f} ms -> {d['create_last_vs_baseline']:.2f}x; "
              f"{d['create_last_vs_first']:.2f}x the first (wall {d['create_last_wall_ms']:.1f} ms, "
              f"{d['create_last_wall_vs_baseline']:.2f}x)",
              f"  archive one: {d['archive_ms']:.1f} ms; PostgREST pre-config: {d['pre_config_ms']:.2f} ms; "
              f"Storage object lookup as a project key: {d['storage_object_lookup_ms']:.3f} ms", "",
              "churn when adding one project"]
    b = results.get("backup")
    for c in results["churn"]:
        lines.append(f"  stack of {c['projects']:>4}: +{c['added_resources']} resources; shared containers changed: "
                     f"{len(c['shared_containers_changed'])}; other changes: {', '.join(c['other_resources_changed']) or 'none'}")
    g = results.get("gotrue")  # absent from a results file written before the part existed
    if g:
        lines += ["", "auth per project (one real GoTrue, idle after its migrations)",
                  f"  idle RSS {g['idle_rss_mb']:.1f} MB (target {g['target_mb']} MB), of which private "
                  f"{g['idle_private_mb']:.1f} MB and shared code {g['idle_shared_code_mb']:.1f} MB; migrate and start "
                  f"{g['migrate_and_start_seconds']:.1f} s" if g["measured"] else f"  not measured: {g['reason']}"]
    if b:
        lines += ["", f"backup and restore of one blog project with {b['posts']:,} posts (median of {b['runs']}; "
                      f"pg tools {b['pg_tools']})",
                  f"  backup:  {b['backup_seconds']:.2f} s, pg_dump directly {b['pg_dump_seconds']:.2f} s -> "
                  f"{b['backup_vs_pg_dump']:.2f}x; size {b['backup_bytes']:,} B vs {b['pg_dump_bytes']:,} B "
                  f"({b['size_vs_pg_dump']:.2f}x)",
                  f"  restore: {b['restore_seconds']:.2f} s, pg_restore directly {b['pg_restore_seconds']:.2f} s -> "
                  f"{b['restore_vs_pg_restore']:.2f}x"]
    if results.get("dashboard"):
        lines += ["", *dashboard.lines(results["dashboard"])]
    if results.get("engine"):
        e = results["engine"]
        lines += ["", f"real engine (Pulumi CLI {e['cli']}), SQL resources of {e['projects']} projects "
                      f"(best of {e['runs']})",
                  f"  first up: {e['up_seconds']:.1f} s ({e['resources_created']} created, "
                  f"{e['seconds_per_project']:.2f} s per project); unchanged up: {e['unchanged_up_seconds']:.1f} s "
                  f"(each including {e['automation_overhead_seconds']:.1f} s of Automation API reads after `up`)",
                  f"  up adding one project: {e['add_one_project_up_seconds']:.1f} s; "
                  f"steps: {', '.join(f'{k} {v}' for k, v in e['add_one_project_steps'].items())}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--sizes", default="10,100,500", help="project counts for the program benchmark")
    parser.add_argument("--db-projects", type=int, default=500)
    parser.add_argument("--churn-sizes", default="2,100,500")
    parser.add_argument("--engine-projects", type=int, default=50, help="projects in the real-engine `up`; 0: skip")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--backup-posts", type=int, default=10_000, help="posts in the backed-up blog project")
    parser.add_argument("--backup-runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--only-engine", action="store_true",
                        help="measure only the engine part; keep the other parts already in --out")
    args = parser.parse_args()
    if args.only_engine:
        results = json.loads(args.out.read_text())
        results["engine"] = engine.measure(args.engine_projects or 50, args.repeat)
        write(results, args.out)
        return
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = program_costs(sizes, args.repeat)
    results: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "program": rows,
        "scaling": {"ratio": rows[-1]["seconds"] / rows[-2]["seconds"] if len(rows) > 1 else 1.0,
                    "projects_ratio": rows[-1]["projects"] / rows[-2]["projects"] if len(rows) > 1 else 1.0},
        "sdk_gc": [gc_share(r["resources"]) for r in rows[-2:]],
        "sdk_profile": program.profile_growth(rows[0]["resources"], rows[-1]["resources"]),
        "database": database.measure(args.db_projects),
        "churn": [churn.measure(int(n)) for n in args.churn_sizes.split(",")],
        "gotrue": gotrue.measure(),
        "backup": backup.measure(args.backup_posts, args.backup_runs),
        "engine": engine.measure(args.engine_projects, args.repeat) if args.engine_projects else None,
        "dashboard": dashboard.measure(),
    }
    write(results, args.out)


def write(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
