"""The index, status and project pages in a real Chromium at 3 and 500 projects, on a phone
(375 px) and a desktop (1280 px), served as the stack serves them: the site's files,
`/status/<service>` and `/status/project/<label>` (one project's GoTrue answers 502, the
others 200) and `usage/usage.json` (tests/dashboard_outputs.py).

Checked: no console errors, no horizontal overflow, search narrows, filters combine,
copy buttons copy, a project whose GoTrue is down is down on the index and the status page,
usage figures reach the cells. Screenshots go to $SCREENSHOT_DIR (or a temp folder).
"""
from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dashboard import build_site
from tests import dashboard_outputs
from tests.test_dashboard_browser import VIEWPORTS, Console, browser, screenshot_dir  # noqa: F401 (fixtures)

SIZES = (3, 500)


class Stack(SimpleHTTPRequestHandler):
    """The dashboard's nginx: files, and the probes; `down` names the GoTrues that answer 502."""

    down: frozenset[str] = frozenset()

    def do_GET(self):  # noqa: N802 - http.server API
        path = self.path.split("?", 1)[0]
        if path.startswith("/status/"):
            label = path.removeprefix("/status/project/") if path.startswith("/status/project/") else None
            self.send_response(502 if label in self.down else 200)
            self.send_header("Content-Length", "0")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            return None
        return super().do_GET()

    def log_message(self, *args):
        pass


def down_project(data: dict) -> str:
    """The project whose GoTrue is down: the second one with its own users and template blog."""
    return [n for n, p in data["projects"].items() if p["auth"]["mode"] == "own" and p["template"] == "blog"][1]


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n}-projects")
def stack(request, tmp_path_factory):
    count = request.param
    folder = tmp_path_factory.mktemp(f"stack-{count}")
    handler = type("Handler", (Stack,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    data = dashboard_outputs.outputs(count, dashboard=f"{origin}/")
    handler.down = frozenset({down_project(data).replace("_", "-")})
    assert build_site(data, folder) == []
    (folder / "usage").mkdir()
    usage = dashboard_outputs.usage(data)
    (folder / "usage" / "usage.json").write_text(json.dumps(usage))
    yield {"origin": origin, "data": data, "usage": usage, "count": count, "down": down_project(data)}
    server.shutdown()
    server.server_close()


def open_index(browser, stack, viewport="desktop", **context_args):
    context = browser.new_context(viewport=VIEWPORTS[viewport], **context_args)
    page = context.new_page()
    # Chromium logs the down GoTrue's 502 itself ("Failed to load resource"): that is the
    # answer the page reports as down, not an error of the page.
    console = Console(page, [f"{stack['origin']}/status/project/{stack['down'].replace('_', '-')}"])
    page.goto(f"{stack['origin']}/index.html")
    page.wait_for_function("document.body.dataset.checks === 'done' && document.body.dataset.usage === 'loaded'",
                           timeout=30_000)
    return context, page, console


def shown(page) -> list[str]:
    return page.eval_on_selector_all("#project-table tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.name)")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_pages_fit_without_errors_and_screenshots(browser, stack, viewport, screenshot_dir):
    width, count = VIEWPORTS[viewport]["width"], stack["count"]
    context, page, console = open_index(browser, stack, viewport)
    try:
        assert page.locator("#project-table tbody tr").count() == count and len(shown(page)) == count
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"index is {overflow}px wide at {width}px"
        page.screenshot(path=str(screenshot_dir / f"index-{count}-{viewport}.png"), full_page=count == 3)
        for path in ("status.html", f"projects/{stack['down']}.html"):
            page.goto(f"{stack['origin']}/{path}")
            page.wait_for_function("!document.querySelector('.state[data-state=\"checking\"]')", timeout=30_000)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"{path} is {overflow}px wide at {width}px"
            name = path.replace("/", "-").replace(".html", "")
            page.screenshot(path=str(screenshot_dir / f"{name}-{count}-{viewport}.png"), full_page=count == 3)
        assert console.problems == []
    finally:
        context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_search_narrows_and_filters_combine(browser, stack, viewport):
    data = stack["data"]["projects"]
    context, page, console = open_index(browser, stack, viewport)
    try:
        target = list(data)[-1]
        page.fill("#q", target)
        assert shown(page) == [target]
        assert page.locator("#shown").inner_text() == "1"
        page.fill("#q", "")
        page.select_option("#f-template", "blog")
        page.select_option("#f-auth", "shared")
        expected = sorted(n for n, p in data.items() if p["template"] == "blog" and p["auth"]["mode"] == "shared")
        assert sorted(shown(page)) == expected and page.locator("#shown").inner_text() == str(len(expected))
        page.select_option("#f-auth", "own")
        page.select_option("#f-health", "down")
        assert shown(page) == [stack["down"]]  # the one whose GoTrue answers 502
        assert "health=down" in page.evaluate("location.hash")
        page.fill("#q", "no-such-project")
        assert shown(page) == [] and page.locator("#no-match").is_visible()
        page.click("#clear-filters")
        assert len(shown(page)) == stack["count"]
        assert console.problems == []
    finally:
        context.close()


def test_a_down_gotrue_is_down_on_the_index_and_the_status_page(browser, stack):
    down = stack["down"]
    context, page, console = open_index(browser, stack)
    try:
        assert page.locator(f"#project-{down} .state").get_attribute("data-state") == "down"
        states = page.eval_on_selector_all("#project-table tbody tr", "rows => rows.map(r => r.dataset.health)")
        assert states.count("down") == 1 and states.count("up") == stack["count"] - 1
        assert page.locator('[data-summary="down"] .summary-figure').inner_text() == "1"
        page.goto(f"{stack['origin']}/status.html")
        page.wait_for_function("document.body.dataset.checks === 'done'", timeout=60_000)
        row = page.locator(f'tr.project-service[data-project="{down}"]')
        assert row.get_attribute("data-state") == "down" and "HTTP 502" in row.locator(".checked-at").inner_text()
        assert page.locator("tr.project-service").count() == stack["count"]
        assert page.locator("#project-summary").inner_text().startswith(f"{stack['count'] - 1} up, 1 down")
        page.check("#only-down")
        assert page.eval_on_selector_all("tr.project-service:not([hidden])", "r => r.map(x => x.dataset.project)") == [down]
        assert console.problems == []
    finally:
        context.close()


def test_usage_reaches_the_cells_and_sorting_uses_it(browser, stack):
    usage = stack["usage"]["projects"]
    context, page, console = open_index(browser, stack)
    try:
        first = list(usage)[1]
        cell = page.locator(f"#project-{first} td:nth-of-type(8)")  # Accounts
        assert cell.inner_text() == ("shared" if usage[first]["users"] is None else str(usage[first]["users"]))
        page.select_option("#f-sort", "size")
        biggest = max(usage, key=lambda n: usage[n]["databaseBytes"] + usage[n]["storageBytes"])
        smallest = min(usage, key=lambda n: usage[n]["databaseBytes"] + usage[n]["storageBytes"])
        assert shown(page)[0] == smallest
        page.click('button[data-sort="size"]')
        assert shown(page)[0] == biggest
        page.goto(f"{stack['origin']}/projects/{first}.html")
        page.wait_for_function("document.querySelector('[data-usage=\"size\"]').textContent !== '–'")
        rows = page.locator('[data-usage="rows"]').inner_text()
        assert rows.startswith(f"{usage[first]['rows']:,}")
        assert console.problems == []
    finally:
        context.close()


def test_copy_buttons_copy(browser, stack):
    name = list(stack["data"]["projects"])[-1]
    project = stack["data"]["projects"][name]
    context, page, console = open_index(browser, stack, permissions=["clipboard-read", "clipboard-write"])
    try:
        page.fill("#q", name)
        page.click(f'button[data-copy-target="url-{name}"]')
        page.wait_for_function("() => document.getElementById('live').textContent.startsWith('Copied')")
        assert page.evaluate("navigator.clipboard.readText()") == project["url"]
        page.goto(f"{stack['origin']}/projects/{name}.html")
        key = project.get("publishableKey") or project["anonKey"]
        target = f"project-publishable-{name}" if project.get("publishableKey") else f"project-key-{name}"
        page.click(f'button[data-copy-target="{target}"]')
        page.wait_for_function("() => document.getElementById('live').textContent.startsWith('Copied')")
        assert page.evaluate("navigator.clipboard.readText()") == key
        assert console.problems == []
    finally:
        context.close()
