"""The static dashboard generator: content, client examples, key safety, bad input.

Browser behaviour (copy buttons, status checks, layout) is in test_dashboard_browser.py.
"""
from __future__ import annotations

import html
import json
import os
import re
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import jwt
import pytest

from dashboard import InputError, build_site
from dashboard.key_filter import find_jwts

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "outputs-3-projects.json"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
SECRET = "test-only-jwt-secret-for-dashboard-tests-0123456789"


@pytest.fixture
def outputs() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture
def site(outputs, tmp_path) -> Path:
    out = tmp_path / "site"
    build_site(outputs, out, now=NOW)
    return out


def sign(role: str) -> str:
    return jwt.encode({"role": role, "iss": "supabase", "iat": 1767225600}, SECRET, algorithm="HS256")


def row(index_html: str, name: str) -> str:
    """The project's row in the index table."""
    match = re.search(rf'<tr id="project-{name}".*?</tr>', index_html, re.S)
    assert match, f"no row for {name}"
    return match.group(0)


def page_of(site: Path, name: str) -> str:
    return (site / "projects" / f"{name}.html").read_text()


def code(page_html: str, element_id: str) -> str:
    """The text a user copies from the <code> element `element_id`."""
    match = re.search(rf'<code id="{element_id}"[^>]*>(.*?)</code>', page_html, re.S)
    assert match, f"no element {element_id}"
    return html.unescape(match.group(1))


def all_site_text(site_dir: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in site_dir.rglob("*") if p.is_file())


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None,
            cwd: Path = REPO) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "dashboard", *args], input=stdin, text=True,
                          capture_output=True, cwd=cwd, env=full_env, timeout=60)


# --------------------------------------------------------------------------- content


def test_one_row_and_one_page_per_project(site, outputs):
    index = (site / "index.html").read_text()
    assert sorted(p.name for p in (site / "projects").glob("*.html")) == [
        "blog.html", "notes.html", "shop.html"]
    for name, project in outputs["projects"].items():
        r = row(index, name)
        assert project["url"] in r and f'href="projects/{name}.html"' in r
        assert f'data-template="{project["template"]}"' in r and f'data-auth="{project["auth"]["mode"]}"' in r
        assert project["anonKey"] not in index  # keys are on the project's own page only
        page = page_of(site, name)
        assert project["anonKey"] in page
        assert project["restUrl"] in page
        assert f"<dd>{project['template']}</dd>" in page
        # a page never shows another project's key
        for other, other_project in outputs["projects"].items():
            if other != name:
                assert other_project["anonKey"] not in page


def test_index_rows_show_migration_buckets_and_their_health_check(site):
    blog = row((site / "index.html").read_text(), "blog")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", blog)
    assert cells[:5] == ["blog", "own", "2", "2", "0002 project users"]
    assert 'title="0002_project_users.sql.j2"' in blog
    assert 'data-health-url="status/project/blog"' in blog  # the dashboard's own probe, relative
    notes = row((site / "index.html").read_text(), "notes")
    assert 'data-auth="shared"' in notes and 'data-health-url="status/auth"' in notes


def test_status_page_groups_each_projects_own_services(site):
    status = (site / "status.html").read_text()
    rows = re.findall(r'<tr class="project-service" data-project="([a-z_]+)" data-health-url="([^"]*)">(.*?)</tr>',
                      status, re.S)
    assert [(p, url) for p, url, _ in rows] == [
        ("blog", "http://127.0.0.1:8000/dashboard/status/project/blog"),
        ("notes", "http://127.0.0.1:8000/dashboard/status/auth"),
        ("shop", "http://127.0.0.1:8000/dashboard/status/project/shop")]
    assert "<code>auth-blog</code>" in rows[0][2] and "shared users" in rows[1][2]


def test_index_shows_stack_urls_time_and_name(site, outputs):
    index = (site / "index.html").read_text()
    assert outputs["apiUrl"] in index
    assert outputs["studioUrl"] in index
    assert outputs["anonKey"] in index
    assert "2026-01-02 03:04 UTC" in index
    assert 'datetime="2026-01-02T03:04:05Z"' in index
    assert "Projects on stack <span class=\"stack-name\">dev</span>" in index


def test_tables_and_views_listed_and_documented(site):
    page = page_of(site, "blog")
    for name in ("users", "posts", "public.blog_users", "public.blog_posts"):
        assert f"<code>{name}</code>" in page
    assert "API reference" in page
    posts = re.search(r'id="rel-table-posts".*?</section>', page, re.S).group(0)
    assert "<code>author_id</code>" in posts and "<td>boolean</td>" in posts
    view = re.search(r'id="rel-view-public-blog_users".*?</section>', page, re.S).group(0)
    assert "<code>display_name</code>" in view


def test_examples_use_the_project_url_with_no_schema_option(site, outputs):
    """createClient(projectUrl, anonKey): the gateway pins the schema, so no db.schema, no profile header."""
    for name in ("blog", "shop"):
        project = outputs["projects"][name]
        url, key = project["url"], project["anonKey"]
        for page in (page_of(site, name),):
            curl = code(page, f"example-{name}-curl")
            assert f"URL='{url}'" in curl and f"KEY='{key}'" in curl
            assert 'curl "$URL/rest/v1/posts?select=id,title,content,published,created_at" -H "apikey: $KEY"' in curl
            assert '"$URL/auth/v1/signup"' in curl and '"$URL/auth/v1/token?grant_type=password"' in curl
            assert "Profile" not in curl
            js = code(page, f"example-{name}-js")
            assert f"createClient('{url}', '{key}')" in js and "schema" not in js
            assert "supabase.auth.signUp(" in js and "supabase.from('users').insert({ name: \"Ada\" })" in js
            py = code(page, f"example-{name}-py")
            assert f'create_client("{url}", "{key}")' in py and "schema" not in py
            assert 'supabase.table("posts").insert(' in py


def test_pages_show_project_url_auth_url_and_signup(site, outputs):
    for name in ("blog", "shop"):
        c = page_of(site, name)
        assert outputs["projects"][name]["url"] in c and outputs["projects"][name]["authUrl"] in c
        assert "its own users: sign-up open, confirmed automatically" in c


def test_project_without_tables_gets_placeholder_examples(site):
    page = (site / "projects/notes.html").read_text()
    assert "your_table" in code(page, "example-notes-curl")
    assert "supabase.from('your_table')" in code(page, "example-notes-js")
    assert "no tables yet" in page


def test_buckets_and_published_tables_are_shown(site):
    page = page_of(site, "blog")
    assert "<code>blog-avatars</code> <span class=\"badge\">public</span>" in page
    assert "<code>blog-drafts</code></li>" in page
    assert "<h4>Realtime tables</h4>" in page and "<code>posts</code>" in page
    rows = re.findall(r"<tr>\s*<td><code>(blog-[a-z]+)</code></td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>",
                      page, re.S)
    assert [(r[0], r[1].split(":")[0], html.unescape(r[2])) for r in rows] == [
        ("blog-avatars", "public", "1 MB"), ("blog-drafts", "private", "the stack's limit (50 MiB)")]
    assert "<code>image/png</code>, <code>image/jpeg</code>" in rows[0][3] and rows[1][3] == "any"
    assert "<code>blog.posts</code>" in page and "<code>blog.users</code>" in page
    assert "private channels named <code>blog:…</code>" in page and "public channels are refused" in page


def test_storage_and_realtime_examples_use_the_project_url_and_key(site, outputs):
    for name, url in (("blog", "http://127.0.0.1:8000/project/blog"), ("shop", "https://shop-api.example.com")):
        key = outputs["projects"][name]["anonKey"]
        page = (site / "projects" / f"{name}.html").read_text()
        files = code(page, f"example-{name}-storage")
        assert f"createClient('{url}', '{key}')" in files
        live = code(page, f"example-{name}-realtime")
        assert f"createClient('{url}', '{key}')" in live
        assert f"supabase.channel('{name}:room-1', {{ config: {{ private: true }} }})" in live
        assert "channels are private only (a public one is refused)" in live
        assert f"schema: '{name}', table: 'posts'" in live
    blog = code((site / "projects/blog.html").read_text(), "example-blog-storage")
    assert "supabase.storage.from('drafts').upload(`${user.id}/notes.txt`, file)" in blog
    assert "supabase.storage.from('avatars').getPublicUrl(" in blog
    assert "getPublicUrl" not in code((site / "projects/shop.html").read_text(), "example-shop-storage")


def test_project_without_buckets_or_published_tables_says_how_to_add_them(site):
    page = (site / "projects/notes.html").read_text()
    assert "storage.from('your_bucket')" in code(page, "example-notes-storage")
    assert "table: 'your_table'" in code(page, "example-notes-realtime")
    assert "declares no buckets yet" in page and "publishes no table yet" in page


def test_odd_bucket_entries_never_reach_the_examples(outputs, tmp_path):
    outputs["projects"]["blog"]["buckets"] = [
        {"id": "blog-x');alert(1)//", "public": True}, {"id": "other_project"}, "blog-y",
        {"id": "blog-ok", "public": "yes", "fileSizeLimit": "huge", "allowedMimeTypes": ["<b>", "text/plain"]}]
    outputs["projects"]["blog"]["realtimeTables"] = ["posts", "x'; drop", 7]
    warnings = build_site(outputs, tmp_path, now=NOW)
    page = (tmp_path / "projects/blog.html").read_text()
    assert "alert(1)" not in page and "other_project" not in page and "drop" not in page
    assert "from('ok')" in code(page, "example-blog-storage")  # its name, the id's tail
    assert "<td><code>blog-ok</code></td>" in page and "<code>text/plain</code>" in page and "&lt;b&gt;" not in page
    assert sum("buckets[" in w for w in warnings) == 3
    assert any("realtimeTables" in w for w in warnings)


def test_pages_are_accessible_and_offline(site):
    for page_path in [site / "index.html", site / "status.html", *(site / "projects").glob("*.html")]:
        page = page_path.read_text()
        assert '<html lang="en">' in page
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert page.count("<h1") == 1, page_path
        for button in re.findall(r"<button[^>]*>", page):
            assert 'aria-label="' in button, button
        # no CDN, no web fonts: every stylesheet and script is local
        for ref in re.findall(r'<(?:link|script)[^>]+(?:href|src)="([^"]+)"', page):
            assert not re.match(r"^(https?:)?//", ref), ref
    assert (site / "static/style.css").is_file()
    assert (site / "static/copy.js").is_file() and (site / "static/status.js").is_file()
    assert "@import" not in (site / "static/style.css").read_text()


def test_status_page_lists_services_with_health_urls(site, outputs):
    status = (site / "status.html").read_text()
    for service in outputs["services"]:
        assert "<h3 id=\"service-" in status and f">{service['name']}</h3>" in status
        assert service["image"] in status
        if service["healthUrl"]:
            assert f'data-health-url="{service["healthUrl"]}"' in status
    db = re.search(r'<li class="service" data-health-url="".*?</li>', status, re.S).group(0)
    assert ">db</h3>" in db and 'data-state="unknown"' in db


# --------------------------------------------------------------------------- safety


def test_service_keys_never_reach_the_site(outputs, tmp_path, capsys):
    service_role = sign("service_role")
    blog_service = sign("blog_service")
    shop_service = sign("shop_service")
    outputs["serviceRoleKey"] = service_role
    outputs["projectServiceKeys"] = {"blog": blog_service, "shop": shop_service}
    outputs["projects"]["blog"]["anonKey"] = blog_service
    # hidden inside another field, glued to dotted text
    outputs["projects"]["shop"]["url"] = f"https://x.example.com/project/shop?apikey=a.{shop_service}"
    out = tmp_path / "site"
    warnings = build_site(outputs, out, now=NOW)

    text = all_site_text(out)
    for token in (service_role, blog_service, shop_service):
        assert token not in text
    assert not any(jwt.decode(t, options={"verify_signature": False}).get("role", "").endswith(
        ("service", "service_role")) for t in find_jwts(text))
    assert any("projects.blog.anonKey" in w and "blog_service" in w for w in warnings), warnings
    assert any("projects.shop.url" in w and "shop_service" in w for w in warnings), warnings
    # the other projects still render, the blog page explains the missing key
    assert outputs["projects"]["notes"]["anonKey"] in page_of(out, "notes")
    assert "not available" in page_of(out, "blog")


def test_stack_anon_key_with_service_role_is_dropped(outputs, tmp_path):
    token = sign("service_role")
    outputs["anonKey"] = token
    warnings = build_site(outputs, tmp_path / "site", now=NOW)
    assert token not in all_site_text(tmp_path / "site")
    assert any(w.startswith("anonKey:") and "service_role" in w for w in warnings)


def test_unreadable_jwt_is_dropped(outputs, tmp_path):
    header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}
    token = f"{header}.bm90LWpzb24.c2lnbmF0dXJl"  # payload "not-json"
    outputs["projects"]["blog"]["anonKey"] = token
    warnings = build_site(outputs, tmp_path / "site", now=NOW)
    assert token not in all_site_text(tmp_path / "site")
    assert any("projects.blog.anonKey" in w and "unreadable" in w for w in warnings)


def test_cli_prints_a_warning_naming_the_field(outputs, tmp_path):
    outputs["projects"]["shop"]["anonKey"] = sign("shop_service")
    source = tmp_path / "outputs.json"
    source.write_text(json.dumps(outputs))
    result = run_cli("build", "--outputs", str(source), "--out", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert "warning: projects.shop.anonKey: dropped a JWT with role 'shop_service'" in result.stderr
    assert sign("shop_service") not in all_site_text(tmp_path / "site")


def test_output_is_escaped_and_only_http_urls_are_links(outputs, tmp_path):
    outputs["projects"]["blog"]["template"] = "<script>alert(1)</script>"
    outputs["studioUrl"] = "javascript:alert(1)"
    outputs["services"][0]["healthUrl"] = "javascript:alert(2)"
    build_site(outputs, tmp_path / "site", now=NOW)
    index = (tmp_path / "site/index.html").read_text()
    assert "<script>alert(1)</script>" not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert 'href="javascript:' not in all_site_text(tmp_path / "site")
    assert "javascript:alert(2)" not in (tmp_path / "site/status.html").read_text()


def test_bad_project_names_are_skipped_with_a_warning(outputs, tmp_path):
    blog = outputs["projects"]["blog"]
    outputs["projects"].update({"Bad-Name": blog, "../etc": blog, "a" * 41: blog, "ok_2": blog})
    warnings = build_site(outputs, tmp_path / "site", now=NOW)
    pages = sorted(p.name for p in (tmp_path / "site/projects").iterdir())
    assert pages == ["blog.html", "notes.html", "ok_2.html", "shop.html"]
    assert sum("names must match" in w for w in warnings) == 3
    assert not (tmp_path / "site/etc.html").exists()


def test_pages_of_removed_projects_are_deleted(outputs, tmp_path):
    out = tmp_path / "site"
    build_site(outputs, out, now=NOW)
    del outputs["projects"]["shop"]
    build_site(outputs, out, now=NOW)
    assert not (out / "projects/shop.html").exists()
    assert "shop-api.example.com" not in (out / "index.html").read_text()


# --------------------------------------------------------------------------- stack name


def test_stack_name_comes_from_outputs_then_argument_then_env(outputs, tmp_path, monkeypatch):
    del outputs["stack"]
    monkeypatch.setenv("PULUMI_STACK", "from-env")
    build_site(outputs, tmp_path / "a", stack="from-arg", now=NOW)
    assert "stack from-arg" in (tmp_path / "a/index.html").read_text()
    build_site(outputs, tmp_path / "b", now=NOW)
    assert "stack from-env" in (tmp_path / "b/index.html").read_text()
    monkeypatch.delenv("PULUMI_STACK")
    build_site(outputs, tmp_path / "c", now=NOW)
    assert "stack unknown" in (tmp_path / "c/index.html").read_text()


def test_build_site_rejects_non_objects(tmp_path):
    with pytest.raises(InputError):
        build_site(["not", "an", "object"], tmp_path / "site")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CLI


def assert_clean_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_cli_builds_from_a_file(tmp_path):
    result = run_cli("build", "--outputs", str(FIXTURE), "--out", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "site/projects/shop.html").is_file()


def test_cli_reads_stdin(tmp_path):
    result = run_cli("build", "--outputs", "-", "--out", str(tmp_path / "site"),
                     stdin=FIXTURE.read_text())
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site/index.html").is_file()


def test_cli_missing_file(tmp_path):
    result = run_cli("build", "--outputs", str(tmp_path / "nope.json"), "--out", str(tmp_path / "s"))
    assert_clean_error(result, "not found", "nope.json")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("content, needle", [
    ('{"projects": {', "not valid JSON"),
    ("", "is empty"),
    ('["blog", "shop"]', "must be a JSON object"),
    ('"[secret]"', "must be a JSON object"),
])
def test_cli_unreadable_input(tmp_path, content, needle):
    source = tmp_path / "outputs.json"
    source.write_text(content)
    result = run_cli("build", "--outputs", str(source), "--out", str(tmp_path / "s"))
    assert_clean_error(result, needle)


def test_cli_no_projects_builds_a_page_that_says_how_to_add_one(tmp_path):
    source = tmp_path / "outputs.json"
    source.write_text(json.dumps({"apiUrl": "http://127.0.0.1:8000", "projects": {},
                                  "serviceRoleKey": "[secret]", "stack": "dev"}))
    result = run_cli("build", "--outputs", str(source), "--out", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "warning: the stack has no projects yet" in result.stderr
    index = (tmp_path / "site/index.html").read_text()
    assert "No projects yet" in index
    assert "pulumi config set --path 'projects[0].name' blog" in html.unescape(index)
    assert "Pulumi.dev.yaml" in index and "supabase-multi-instance:projects:" in index
    assert list((tmp_path / "site/projects").iterdir()) == []


def fake_pulumi(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir()
    path = bin_dir / "pulumi"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_cli_without_pulumi_says_so(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_cli("build", "--out", str(tmp_path / "site"), env={"PATH": str(empty)})
    assert_clean_error(result, "pulumi CLI is not installed")


def test_cli_runs_pulumi_without_show_secrets(tmp_path):
    log = tmp_path / "argv"
    fake_pulumi(tmp_path / "bin", f'echo "$@" > {log}\ncat {FIXTURE}')
    result = run_cli("build", "--out", str(tmp_path / "site"), "--stack", "dev",
                     env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert log.read_text().split() == ["stack", "output", "--json", "--stack", "dev"]
    assert (tmp_path / "site/projects/blog.html").is_file()


def test_cli_reports_pulumi_failure(tmp_path):
    fake_pulumi(tmp_path / "bin", 'echo "error: no stack named \'dev\' found" >&2\nexit 255')
    result = run_cli("build", "--out", str(tmp_path / "site"),
                     env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
    assert_clean_error(result, "failed", "no stack named 'dev' found")


def test_cli_usage_errors_exit_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_fixture_keys_are_real_anon_jwts():
    """The fixture must hold real HS256 JWTs, or the safety tests prove nothing."""
    data = json.loads(FIXTURE.read_text())
    assert jwt.decode(data["anonKey"], options={"verify_signature": False})["role"] == "anon"
    for name, project in data["projects"].items():
        claims = jwt.decode(project["anonKey"], options={"verify_signature": False})
        assert claims["role"] == f"{name}_anon"
        assert jwt.get_unverified_header(project["anonKey"])["alg"] == "HS256"
    hostnames = [p["hostname"] for p in data["projects"].values()]
    assert sum(h is not None for h in hostnames) == 1 and hostnames.count(None) == 2
