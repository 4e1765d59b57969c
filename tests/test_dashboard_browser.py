"""The generated site in a real Chromium, opened from file:// like a user double-clicking it.

One browser per module. The status page checks health URLs served by this module:
one answers (up), one refuses connections (down), one accepts and never answers
(down by timeout), and one service has no health URL (unknown).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from playwright.sync_api import expect, sync_playwright

from dashboard import build_site
from tests._tools import require_executable


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "outputs-3-projects.json"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CHECK_TIMEOUT_S = 3  # status.js TIMEOUT_MS
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}


class Health(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # keep test output clean
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def health_endpoints():
    """(up, refused, hanging) URLs, alive for the whole module."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)  # the kernel accepts; nobody ever answers
    yield (f"http://127.0.0.1:{server.server_port}/health",
           f"http://127.0.0.1:{free_port()}/health",
           f"http://127.0.0.1:{hanging.getsockname()[1]}/health")
    server.shutdown()
    server.server_close()
    hanging.close()


@pytest.fixture(scope="module")
def outputs(health_endpoints) -> dict:
    data = json.loads(FIXTURE.read_text())
    up, refused, hanging = health_endpoints
    data["services"] = [
        {"name": "kong", "image": "kong:2.8.1", "healthUrl": up},
        {"name": "auth", "image": "supabase/gotrue:v2.177.0", "healthUrl": refused},
        {"name": "rest", "image": "postgrest/postgrest:v12.2.12", "healthUrl": hanging},
        {"name": "db", "image": "supabase/postgres:15.8.1.060", "healthUrl": None},
    ]
    return data


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
        assert page.locator("article.card").count() == 3
        assert page.locator("h1").inner_text() == "Projects on stack dev"
        page.locator("details.example summary", has_text="supabase-py").first.click()
        assert console.problems == []
    finally:
        context.close()


def test_copy_button_puts_the_anon_key_in_the_clipboard(browser, site, outputs):
    key = outputs["projects"]["blog"]["anonKey"]
    context, page, console = open_page(browser, (site / "index.html").as_uri(),
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
        page.goto((site / "index.html").as_uri())
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


def test_status_page_reaches_a_final_state_for_every_service(browser, site, health_endpoints):
    up, refused, hanging = health_endpoints
    started = time.monotonic()
    context, page, console = open_page(browser, (site / "status.html").as_uri(),
                                       expected_failed_urls=[refused, hanging])
    try:
        page.wait_for_function("document.body.dataset.checks === 'done'",
                               timeout=(CHECK_TIMEOUT_S + 2) * 1000)
        elapsed = time.monotonic() - started
        states = {
            item.locator("h2").inner_text(): item.locator(".state").get_attribute("data-state")
            for item in page.locator("li.service").all()
        }
        assert states == {"kong": "up", "auth": "down", "rest": "down", "db": "unknown"}
        assert elapsed < CHECK_TIMEOUT_S + 2
        for name in ("kong", "auth", "rest"):
            item = page.locator("li.service", has=page.locator("h2", has_text=name))
            assert item.locator(".checked-at time").get_attribute("datetime")
        rest = page.locator("li.service", has=page.locator("h2", has_text="rest"))
        assert "no answer in 3 s" in rest.locator(".checked-at").inner_text()
        assert page.locator("#status-summary").inner_text() == "1 up, 2 down, 1 unknown."
        assert console.problems == []
    finally:
        context.close()


def test_status_page_offline_from_file_url(browser, site, outputs, tmp_path):
    """No network at all: every check still ends, as down or unknown, within the timeout."""
    offline = dict(outputs, services=json.loads(FIXTURE.read_text())["services"])
    build_site(offline, tmp_path)
    urls = [s["healthUrl"] for s in offline["services"] if s["healthUrl"]]
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    context.route("http*://**/*", lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    console = Console(page, urls)
    started = time.monotonic()
    try:
        page.goto((tmp_path / "status.html").as_uri())
        page.wait_for_function("document.body.dataset.checks === 'done'",
                               timeout=(CHECK_TIMEOUT_S + 2) * 1000)
        assert time.monotonic() - started < CHECK_TIMEOUT_S + 2
        states = [s.get_attribute("data-state") for s in page.locator(".state").all()]
        assert states == ["down", "down", "down", "down", "unknown"]
        assert console.problems == []
    finally:
        context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_pages_fit_the_screen_and_screenshots(browser, site, health_endpoints, screenshot_dir,
                                              viewport, capsys):
    _, refused, hanging = health_endpoints
    width = VIEWPORTS[viewport]["width"]
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    console = Console(page, [refused, hanging])
    try:
        for name in ("index", "status", "projects/blog", "projects/notes"):
            page.goto((site / f"{name}.html").as_uri())
            if name == "status":
                page.wait_for_function("document.body.dataset.checks === 'done'",
                                       timeout=(CHECK_TIMEOUT_S + 2) * 1000)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{name} is {scroll_width}px wide at {width}px"
            shot = screenshot_dir / f"{name.replace('/', '-')}-{viewport}.png"
            page.screenshot(path=str(shot), full_page=True)
        assert console.problems == []
    finally:
        context.close()
    with capsys.disabled():
        print(f"\ndashboard screenshots ({viewport}): {screenshot_dir}")
