"""The dashboard shows a project's publishable key as the one to use, and never a secret key.

The outputs of the real program under mocks (publishable keys are new with per-project
signing keys); an `sb_secret_` key that slipped into the public outputs is dropped, and a
page that still held one would not be written.
"""
from __future__ import annotations

import pytest

from dashboard import build_site
from dashboard.build import site_files
from dashboard.key_filter import check_pages
from tests.program import run_program
from tests.test_dashboard import code


@pytest.fixture(scope="module")
def program():
    return run_program()


def test_the_publishable_key_is_shown_and_used_in_every_example(program):
    pages, _ = site_files(program.outputs)
    for name, project in program.outputs["projects"].items():
        page, key = pages[f"projects/{name}.html"], project["publishableKey"]
        assert "Publishable key" in page and key in page and "Legacy anon key" in page
        for kind in ("curl", "js", "py"):
            example = code(page, f"example-{name}-{kind}")
            assert key in example and project["anonKey"] not in example, kind


def test_a_secret_key_in_the_outputs_never_reaches_a_page(program, tmp_path):
    outputs = {**program.outputs, "projects": {n: dict(p) for n, p in program.outputs["projects"].items()}}
    secret = program.outputs["projectSecretKeys"]["blog"]
    outputs["projects"]["blog"]["publishableKey"] = secret  # a program slip
    build_site(outputs, tmp_path / "site")
    text = "".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    assert secret not in text
    with pytest.raises(RuntimeError, match="sb_secret_"):
        check_pages({"index.html": f"<p>{secret}</p>"}, [])
