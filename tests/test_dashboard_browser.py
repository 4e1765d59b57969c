"""The generated site in a real Chromium: pages from file:// like a user double-clicking
them, and the status page served the way the stack serves it (issue 10).

The status page is served by a local server that also answers `/status/<service>` as the
dashboard's nginx does (components/core/status_probes.py): one service up, one answering 502,
one 503, one that never answers. Other origins check the cross-origin rules: one answers
502 without CORS headers (unknown: before issue 10 this opaque answer showed UP), one
answers with them (its real status), one refuses connections (down); one service has no
health URL (unknown).
"""
from __future__ import annotations

import json
import os
import threading
import time
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from playwright.sync_api import expect, sync_playwright

from dashboard import build_site
from tests._tools import require_executable, free_port


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "outputs-3-projects.json"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CHECK_TIMEOUT_S = 3  # status.js TIMEOUT_MS
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}
# /status/<service> of the dashboard's origin -> what the service answers (None: never)
SAME_ORIGIN = {"kong": 200, "auth": 502, "storage": 503, "rest": None}
# /status/project/<label>: each project's own GoTrue (notes signs in with the stack's `auth`)
PROJECT_PROBES = {"project/blog": 200, "project/shop": 502}


class Dashboard(SimpleHTTPRequestHandler):
    """The site's files, /healthz and /status/<service>, like the dashboard's nginx."""

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path == "/healthz":
            return self._status(200)
        if self.path.startswith("/status/"):
            code = {**SAME_ORIGIN, **PROJECT_PROBES}.get(self.path.removeprefix("/status/"), 404)
            if code is None:
                time.sleep(CHECK_TIMEOUT_S + 2)  # holds the request past the page's timeout
                return None
            return self._status(code)
        return super().do_GET()

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def log_message(self, *args):  # keep test output clean
        pass


class Other(BaseHTTPRequestHandler):
    """A service on another origin: `/502` answers 502 (what a published Kong answered the
    status page when a service was down); `?cors` adds the header that lets any page read it."""

    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(502 if self.path.startswith("/502") else 200)
        if "cors" in self.path:
            self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def serve(handler) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(site folder, its origin, services) with the site served by `Dashboard` on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("served-site")
    dashboard = serve(partial(Dashboard, directory=str(folder)))
    other = serve(Other)
    origin = f"http://127.0.0.1:{dashboard.server_port}"
    elsewhere = f"http://127.0.0.1:{other.server_port}"
    services = [{"name": name, "image": f"{name}:1", "healthUrl": f"{origin}/status/{name}"} for name in SAME_ORIGIN]
    services += [
        {"name": "dashboard", "image": "nginx:1", "healthUrl": f"{origin}/healthz"},
        {"name": "realtime", "image": "realtime:1", "healthUrl": f"{elsewhere}/502"},  # opaque: never "up"
        {"name": "meta", "image": "meta:1", "healthUrl": f"{elsewhere}/health?cors"},
        {"name": "imgproxy", "image": "imgproxy:1", "healthUrl": f"http://127.0.0.1:{free_port()}/health"},
        {"name": "db", "image": "postgres:15", "healthUrl": None},
    ]
    outputs = dict(json.loads(FIXTURE.read_text()), services=services)
    for name, project in outputs["projects"].items():
        for service in project["services"]:
            service["healthUrl"] = f"{origin}/status/{'auth' if service['shared'] else 'project/' + name}"
    assert build_site(outputs, folder) == []
    yield folder, origin, services
    for server in (dashboard, other):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def outputs() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def site(outputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dashboard-site")
    assert build_site(outputs, out) == []
    return out


@pytest.fixture(scope="module")
def browser():
    chromium = require_executable("chromium", "apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("dashboard-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Console:
    """Console errors and uncaught exceptions of one page."""

    def __init__(self, page, expected_failed_urls=()):
        self.problems: list[str] = []
        self.expected_failed_urls = set(expected_failed_urls)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))

    def _on_console(self, message):
        if message.type not in ("error", "warning"):
            return
        # A health check that cannot connect is logged by Chromium itself ("Failed to load
        # resource: net::ERR_CONNECTION_REFUSED"); that failure is the "down" result the
        # page reports, not an error in the page.
        if (message.text.startswith("Failed to load resource")
                and message.location.get("url") in self.expected_failed_urls):
            return
        # A cross-origin check without CORS headers is refused by Chromium's CORS check
        # (logged), then retried opaquely: that refusal is how the page learns "unknown".
        if message.text.startswith("Access to fetch at") and any(
                f"'{url}'" in message.text for url in self.expected_failed_urls):
            return
        self.problems.append(f"{message.type}: {message.text} at {message.location}")


def open_page(browser, url: str, viewport="desktop", expected_failed_urls=(), **context_args):
    context = browser.new_context(viewport=VIEWPORTS[viewport], **context_args)
    page = context.new_page()
    console = Console(page, expected_failed_urls)
    page.goto(url)
    return context, page, console


def test_index_loads_without_console_errors(browser, site):
    context, page, console = open_page(browser, (site / "index.html").as_uri())
    try:
        page.wait_for_load_state("load")
        assert page.locator("#project-table tbody tr").count() == 3
        assert page.locator("h1").inner_text() == "Projects on stack dev"
        # from disk the health checks are left to the served dashboard: unknown, and no request
        page.wait_for_function("() => document.body.dataset.checks === 'done'")
        assert page.eval_on_selector_all("#project-table tbody tr", "r => r.map(x => x.dataset.health)") == ["unknown"] * 3
        page.goto((site / "projects" / "blog.html").as_uri())
        assert page.locator("section.example h3").all_inner_texts()[:3] == ["curl", "supabase-js", "supabase-py"]
        assert "not available from a file" in page.locator('[data-usage="collected"]').inner_text()
        assert console.problems == []
    finally:
        context.close()


def test_copy_button_puts_the_anon_key_in_the_clipboard(browser, site, outputs):
    key = outputs["projects"]["blog"]["anonKey"]
    context, page, console = open_page(browser, (site / "projects" / "blog.html").as_uri(),
                                       permissions=["clipboard-read", "clipboard-write"])
    try:
        page.evaluate("navigator.clipboard.writeText('sentinel')")
        button = page.locator('button[data-copy-target="project-key-blog"]')
        assert button.get_attribute("aria-label") == "Copy the anon key of project blog"
        button.click()
        page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
        assert page.evaluate("navigator.clipboard.readText()") == key
        expect(page.locator("#live")).to_have_text("Copied: the anon key of project blog")
        page.wait_for_function("b => b.textContent === 'Copy'", arg=button.element_handle(),
                               timeout=4000)
        assert console.problems == []
    finally:
        context.close()


def test_copy_falls_back_to_exec_command(browser, site, outputs):
    """When the Clipboard API refuses (file:// in some browsers), the textarea path copies."""
    key = outputs["projects"]["shop"]["anonKey"]
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    context.add_init_script("""
        window.__readClipboard = navigator.clipboard.readText.bind(navigator.clipboard);
        window.__writeClipboard = navigator.clipboard.writeText.bind(navigator.clipboard);
        navigator.clipboard.writeText = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
        window.__execCommands = [];
        const exec = document.execCommand.bind(document);
        document.execCommand = (name, ...rest) => { window.__execCommands.push(name); return exec(name, ...rest); };
    """)
    page = context.new_page()
    console = Console(page)
    try:
        page.goto((site / "projects" / "shop.html").as_uri())
        page.evaluate("window.__writeClipboard('sentinel')")
        button = page.locator('button[data-copy-target="project-key-shop"]')
        button.click()
        page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
        assert page.evaluate("window.__execCommands") == ["copy"]
        assert page.evaluate("window.__readClipboard()") == key
        assert page.locator("textarea").count() == 0  # the helper is removed again
        assert console.problems == []
    finally:
        context.close()


def status_states(page) -> dict[str, str]:
    page.wait_for_function("document.body.dataset.checks === 'done'", timeout=(CHECK_TIMEOUT_S + 3) * 1000)
    return {item.locator("h3").inner_text(): item.locator(".state").get_attribute("data-state")
            for item in page.locator("li.service").all()}


def test_status_page_shows_each_real_status_served_by_the_dashboard(browser, served):
    """The finding: a 502 from a service showed UP. Same origin, the page reads the real code."""
    folder, origin, services = served
    failing = [s["healthUrl"] for s in services if s["name"] in ("auth", "storage", "realtime", "imgproxy", "rest")]
    failing.append(f"{origin}/status/project/shop")
    started = time.monotonic()
    context, page, console = open_page(browser, f"{origin}/status.html", expected_failed_urls=failing)
    try:
        states = status_states(page)
        assert time.monotonic() - started < CHECK_TIMEOUT_S + 3
        assert states == {"kong": "up", "auth": "down", "storage": "down", "rest": "down", "dashboard": "up",
                          "realtime": "unknown", "meta": "up", "imgproxy": "down", "db": "unknown"}
        detail = {item.locator("h3").inner_text(): item.locator(".checked-at").inner_text()
                  for item in page.locator("li.service").all()}
        assert "HTTP 502" in detail["auth"] and "HTTP 503" in detail["storage"]
        assert "no answer in 3 s" in detail["rest"] and "unreachable" in detail["imgproxy"]
        assert "another origin hides its status" in detail["realtime"]
        assert page.locator("#status-summary").inner_text() == "3 up, 4 down, 2 unknown."
        assert page.locator('.state[data-state="unknown"]').all_inner_texts() == ["UNKNOWN", "UNKNOWN"]  # CSS uppercase
        # each project's own GoTrue, and the stack's for notes (shared users): auth is down, so is notes
        projects = {r.get_attribute("data-project"): r.get_attribute("data-state")
                    for r in page.locator("tr.project-service").all()}
        assert projects == {"blog": "up", "notes": "down", "shop": "down"}
        assert page.locator("#project-summary").inner_text() == "1 up, 2 down, 0 unknown."
        assert console.problems == []
    finally:
        context.close()


def test_status_page_offline_from_file_url(browser, outputs, tmp_path):
    """No network at all: every check still ends, as down or unknown, within the timeout."""
    build_site(outputs, tmp_path)
    urls = [s["healthUrl"] for s in outputs["services"] if s["healthUrl"]]
    urls += [s["healthUrl"] for p in outputs["projects"].values() for s in p["services"]]
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    context.route("http*://**/*", lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    console = Console(page, urls)
    started = time.monotonic()
    try:
        page.goto((tmp_path / "status.html").as_uri())
        states = list(status_states(page).values())
        assert time.monotonic() - started < CHECK_TIMEOUT_S + 3
        assert states == ["down", "down", "down", "down", "unknown"]
        assert console.problems == []
    finally:
        context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_pages_fit_the_screen_and_screenshots(browser, site, served, screenshot_dir, viewport, capsys):
    folder, origin, services = served
    width = VIEWPORTS[viewport]["width"]
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    console = Console(page, [s["healthUrl"] for s in services if s["healthUrl"]] + [f"{origin}/status/project/shop"])
    try:
        for name in ("index", "status", "projects/blog", "projects/notes"):
            page.goto(f"{origin}/status.html" if name == "status" else (site / f"{name}.html").as_uri())
            if name == "status":
                status_states(page)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{name} is {scroll_width}px wide at {width}px"
            shot = screenshot_dir / f"{name.replace('/', '-')}-{viewport}.png"
            page.screenshot(path=str(shot), full_page=True)
        assert console.problems == []
    finally:
        context.close()
    with capsys.disabled():
        print(f"\ndashboard screenshots ({viewport}): {screenshot_dir}")
