"""python -m bench: cost per project and scaling; prints a table, writes bench/results.json.

    python -m bench                      # the full run (a few minutes)
    python -m bench --sizes 2,4 --db-projects 12 --out /tmp/r.json   # a quick smoke run
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

from bench import churn, database, program

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
              f"  create one project: {d['create_first_ms']:.1f} ms, plain script {d['baseline_plain_script_ms']:.1f}"
              f" ms -> {d['create_vs_baseline']:.2f}x",
              f"  create the last project: {d['create_last_ms']:.1f} ms, plain script {d['baseline_last_ms']:.1f} ms -> "
              f"{d['create_last_vs_baseline']:.2f}x; {d['create_last_vs_first']:.2f}x the first",
              f"  archive one: {d['archive_ms']:.1f} ms; PostgREST pre-config: {d['pre_config_ms']:.2f} ms; "
              f"Storage object lookup as a project key: {d['storage_object_lookup_ms']:.3f} ms", "",
              "churn when adding one project"]
    for c in results["churn"]:
        lines.append(f"  stack of {c['projects']:>4}: +{c['added_resources']} resources; shared containers changed: "
                     f"{len(c['shared_containers_changed'])}; other changes: {', '.join(c['other_resources_changed']) or 'none'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--sizes", default="10,100,500", help="project counts for the program benchmark")
    parser.add_argument("--db-projects", type=int, default=500)
    parser.add_argument("--churn-sizes", default="2,100,500")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
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
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
