"""The dashboard's index at hundreds of projects, as an operator's browser gets it.

    python -m bench.dashboard [--projects 500] [--runs 5]   # merges "dashboard" into bench/results.json

The site of N projects (tests/dashboard_outputs.py: the program's outputs repeated under
new names) is served by a real nginx with the stack's own config (components/resources/
dashboard_site.nginx_conf: gzip, /status/..., /usage/usage.json), its project probes
pointed at a local stand-in GoTrue that answers 200. A fresh headless Chromium context per
run loads index.html and reports: bytes on the wire (compressed as served) for the HTML and
each asset, first contentful paint, when the search works (index.js marks
`dashboard-search-ready`), how long one search takes, the cumulative layout shift once every
health check and the usage figures are in, DOM size and page height. Medians of the runs.
Budget (issue 21): index ≤ 300 kB as served, FCP and a working search ≤ 1 s, no layout shift.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUDGET = {"index_transfer_bytes": 300_000, "first_contentful_paint_ms": 1000, "search_ready_ms": 1000,
          "cumulative_layout_shift": 0.0}
VIEWPORT = {"width": 1280, "height": 900}


class GoTrue(BaseHTTPRequestHandler):
    """Every project's /health: 200, as a healthy GoTrue answers."""

    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def nginx_config(folder: Path, site: Path, gotrue_port: int) -> tuple[Path, int]:
    """The stack's server block, rooted at `site`, on a free port, probes at the stand-in."""
    from components.resources.dashboard_site import WEB_ROOT, nginx_conf
    from components.core.status_probes import PROJECT_PROBE_PORT
    from tests._tools import free_port

    port = free_port()
    conf = nginx_conf().replace("listen 80;", f"listen 127.0.0.1:{port};").replace(f"root {WEB_ROOT};", f"root {site};")
    conf = conf.replace(f"http://auth-$1:{PROJECT_PROBE_PORT}/health", f"http://127.0.0.1:{gotrue_port}/$1")
    # the shared services' probes too: no Docker DNS here, so every one answers from the stand-in
    conf = re.sub(r"(/status/[a-z]+) http://[a-z]+:[0-9]+/\S*;", rf"\1 http://127.0.0.1:{gotrue_port}/ok;", conf)
    (folder / "default.conf").write_text(conf)
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    mime = Path("/etc/nginx/mime.types")
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log stderr error;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n{temp}\n"
        + (f"    include {mime};\n" if mime.exists() else "") + f"    include {folder}/default.conf;\n}}\n")
    return folder / "nginx.conf", port


def serve(folder: Path, site: Path):
    """(nginx process, base URL, stand-in server) for `site`."""
    from tests._tools import require_executable, free_port

    nginx = require_executable("nginx", "apt-get install nginx", also_in=("/usr/sbin",))
    gotrue = ThreadingHTTPServer(("127.0.0.1", 0), GoTrue)
    gotrue.daemon_threads = True
    threading.Thread(target=gotrue.serve_forever, daemon=True).start()
    main, port = nginx_config(folder, site, gotrue.server_port)
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(main)], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            return process, base, gotrue
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"nginx did not start: {process.stderr.read() if process.stderr else ''}")


def build(site: Path, projects: int, base: str) -> dict[str, Any]:
    from dashboard import build_site
    from tests import dashboard_outputs

    data = dashboard_outputs.outputs(projects, dashboard=f"{base}/")
    warnings = build_site(data, site)
    assert not warnings, warnings
    (site / "usage").mkdir(exist_ok=True)
    (site / "usage" / "usage.json").write_text(json.dumps(dashboard_outputs.usage(data)))
    return data


PAGE_FIGURES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const ready = performance.getEntriesByName('dashboard-search-ready')[0];
  return {
    fcp: paint ? paint.startTime : null, ready: ready ? ready.startTime : null,
    dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
    nodes: document.getElementsByTagName('*').length, height: document.documentElement.scrollHeight,
    width: document.documentElement.scrollWidth,
  };
}"""
# Layout shifts from the start of the page (buffered), except those right after input.
LAYOUT_SHIFT = """() => new Promise(resolve => {
  let total = 0;
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) { if (!e.hadRecentInput) { total += e.value; } }
  }).observe({ type: 'layout-shift', buffered: true });
  setTimeout(() => resolve(total), 300);
})"""
SEARCH = """(name) => {
  const input = document.getElementById('q');
  const t0 = performance.now();
  input.value = name;
  input.dispatchEvent(new Event('input'));
  const shown = document.querySelectorAll('#project-table tbody tr:not([hidden])').length;
  const ms = performance.now() - t0;
  input.value = '';
  input.dispatchEvent(new Event('input'));
  return { ms, shown };
}"""


def one_run(browser, base: str, target: str) -> dict[str, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    transfers: dict[str, dict[str, Any]] = {}

    def finished(request):
        response = request.response()
        if response is None:
            return
        path = request.url.removeprefix(base)
        transfers[path] = {"bytes": request.sizes()["responseBodySize"],
                           "encoding": response.headers.get("content-encoding", "identity")}

    page.on("requestfinished", finished)
    checks: list[str] = []  # health checks: their bodies are never read, so no requestfinished
    page.on("request", lambda request: checks.append(request.url) if "/status/" in request.url else None)
    try:
        page.goto(f"{base}/index.html", wait_until="load")
        page.wait_for_function("() => document.body.dataset.checks === 'done' && document.body.dataset.usage === 'loaded'",
                               timeout=120_000)
        figures = page.evaluate(PAGE_FIGURES)
        figures["cls"] = page.evaluate(LAYOUT_SHIFT)
        search = page.evaluate(SEARCH, target)
        assert search["shown"] == 1, search
        figures["search_ms"] = search["ms"]
        figures["transfers"] = transfers
        figures["checks"] = len(checks)
        figures["states"] = page.eval_on_selector_all("#project-table tbody tr", "rows => rows.map(r => r.dataset.health)")
        return figures
    finally:
        context.close()


def measure(projects: int = 500, runs: int = 5) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests._tools import require_executable
    from tests.test_dashboard_browser import CHROMIUM_ARGS

    chromium = require_executable("chromium", "apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        folder, site = Path(tmp), Path(tmp) / "site"
        site.mkdir()
        folder.chmod(0o755)  # nginx's workers are not the user who runs the benchmark
        process, base, gotrue = serve(folder, site)
        try:
            data = build(site, projects, base)
            target = list(data["projects"])[-1]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)  # headless
                try:
                    results = [one_run(browser, base, target) for _ in range(runs)]
                finally:
                    browser.close()
            index_bytes = (site / "index.html").stat().st_size
        finally:
            process.terminate()
            process.wait(timeout=10)
            gotrue.shutdown()
            gotrue.server_close()
    median = lambda key: statistics.median(r[key] for r in results)  # noqa: E731
    first = results[0]["transfers"]
    index = first["/index.html"]
    report = {
        "projects": projects, "runs": runs, "viewport": VIEWPORT,
        "index_html_bytes": index_bytes, "index_transfer_bytes": index["bytes"], "index_encoding": index["encoding"],
        "page_transfer_bytes": sum(t["bytes"] for p, t in first.items() if not p.startswith("/status/")),
        "health_checks": results[0]["checks"],
        "projects_up": results[0]["states"].count("up"),
        "first_contentful_paint_ms": median("fcp"), "search_ready_ms": median("ready"),
        "search_ms": median("search_ms"), "dom_content_loaded_ms": median("dcl"), "load_ms": median("load"),
        "cumulative_layout_shift": max(r["cls"] for r in results),
        "dom_nodes": results[0]["nodes"], "page_height_px": results[0]["height"],
        "horizontal_overflow_px": max(0, results[0]["width"] - VIEWPORT["width"]),
        "assets": {p: t for p, t in first.items() if not p.startswith("/status/")},
        "budget": BUDGET,
    }
    report["within_budget"] = (report["index_transfer_bytes"] <= BUDGET["index_transfer_bytes"]
                               and report["first_contentful_paint_ms"] <= BUDGET["first_contentful_paint_ms"]
                               and report["search_ready_ms"] <= BUDGET["search_ready_ms"]
                               and report["cumulative_layout_shift"] <= BUDGET["cumulative_layout_shift"])
    return report


def lines(d: dict[str, Any]) -> list[str]:
    return [f"dashboard index, {d['projects']} projects (Chromium headless, {d['viewport']['width']} px, median of {d['runs']})",
            f"  index.html {d['index_html_bytes']:,} B, {d['index_transfer_bytes']:,} B on the wire ({d['index_encoding']}); "
            f"whole page {d['page_transfer_bytes']:,} B + {d['health_checks']} health checks ({d['projects_up']} up)",
            f"  FCP {d['first_contentful_paint_ms']:.0f} ms, search ready {d['search_ready_ms']:.0f} ms, one search "
            f"{d['search_ms']:.1f} ms, load {d['load_ms']:.0f} ms; CLS {d['cumulative_layout_shift']:.4f}; "
            f"{d['dom_nodes']:,} DOM nodes, {d['page_height_px']:,} px high; within budget: {d['within_budget']}"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    report = measure(args.projects, args.runs)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["dashboard"] = report  # the other parts of the file stay as they were measured
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines(report)))
    print(f"\nwritten: {args.out} (key 'dashboard')")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    main()
