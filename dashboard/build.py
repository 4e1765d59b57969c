"""Turn `pulumi stack output --json` into a static dashboard and status page.

The site is plain files (HTML, one CSS file, two small scripts) so nginx, a file share or
a double click on index.html can show it. The outputs become a model (site_model.py),
every printed string vetted by key_filter.py; this module renders and writes the pages.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import jinja2

from dashboard.key_filter import Sanitizer, check_pages
from dashboard.site_model import InputError, Site, build_model, is_http_url

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR.parent / "templates" / "dashboard"


def environment() -> jinja2.Environment:
    """Jinja2 with autoescape always on (the templates end in .j2, not .html)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.tests["http_url"] = is_http_url
    env.filters["slug"] = lambda value: re.sub(r"[^A-Za-z0-9_-]+", "-", str(value))
    return env


def render_pages(site: Site) -> dict[str, str]:
    """Relative path -> HTML for every page of the site."""
    env = environment()
    pages = {
        "index.html": env.get_template("index.html.j2").render(site=site, root="", page="index"),
        "status.html": env.get_template("status.html.j2").render(site=site, root="", page="status"),
    }
    project_template = env.get_template("project.html.j2")
    for project in site.projects:
        pages[f"projects/{project.name}.html"] = project_template.render(
            site=site, project=project, root="../", page="project"
        )
    return pages


def static_files() -> dict[str, str]:
    return {f"static/{asset.name}": asset.read_text(encoding="utf-8")
            for asset in sorted(STATIC_DIR.iterdir()) if asset.is_file() and asset.suffix in (".css", ".js")}


def site_files(outputs: dict, stack: str | None = None, now: datetime | None = None) -> tuple[dict[str, str], list[str]]:
    """Every file of the site (relative path -> text) and the warnings; nothing is written.

    The CLI writes these to a folder; the stack uploads them into its nginx container.
    """
    if not isinstance(outputs, dict):
        raise InputError(f"stack outputs must be a JSON object, got {type(outputs).__name__}")
    sanitizer = Sanitizer()
    site = build_model(outputs, sanitizer, stack, now)
    pages = render_pages(site)
    check_pages(pages, sanitizer.dropped)
    return pages | static_files(), sanitizer.warnings


def write_site(files: dict[str, str], out_dir: Path) -> None:
    """Write the files; remove pages of projects that no longer exist."""
    (out_dir / "projects").mkdir(parents=True, exist_ok=True)
    for stale in (out_dir / "projects").glob("*.html"):
        if f"projects/{stale.name}" not in files:
            stale.unlink()
    for name, text in files.items():
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(text, encoding="utf-8")


def build_site(outputs: dict, out_dir: Path, stack: str | None = None,
               now: datetime | None = None) -> list[str]:
    """Build the site into `out_dir` and return the warnings (dropped keys, skipped projects)."""
    files, warnings = site_files(outputs, stack, now)
    write_site(files, Path(out_dir))
    return warnings
