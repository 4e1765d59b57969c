"""The gateway's functions routes: `<project URL>/functions/v1/<name>` reaches the edge runtime
naming that project, whatever the client sent; the stack's own /functions/v1/ names none."""
from __future__ import annotations

import yaml

from components.providers.kong_config import render
from tests._tools import deck_run
from tests.functions_gateway import upstream_request
from tests.gateway_fixtures import project, settings

BLOG, SHOP = project("blog", "blog-api.example.com"), project("shop")


def config() -> dict:
    return yaml.safe_load(render(settings(BLOG, SHOP, functions=True)))


def test_each_projects_url_names_its_project_and_no_other():
    kong = config()
    for path, host, expected in [("/project/blog/functions/v1/hello", "127.0.0.1", "blog"),
                                 ("/functions/v1/hello", "blog-api.example.com", "blog"),
                                 ("/project/shop/functions/v1/hello/x?y=1", "127.0.0.1", "shop")]:
        service, upstream, headers = upstream_request(kong, path, {"X-Functions-Project": "other"}, host)
        assert service["url"] == "http://functions:9000/"
        assert headers["x-functions-project"] == expected
        assert upstream.startswith("/hello")


def test_the_stacks_functions_route_names_no_project():
    _service, upstream, headers = upstream_request(config(), "/functions/v1/hello", {"X-Functions-Project": "blog"})
    assert "x-functions-project" not in headers and upstream == "/hello"


def test_no_functions_route_without_the_feature():
    kong = yaml.safe_load(render(settings(BLOG, SHOP)))
    assert not [s for s in kong["services"] if "functions" in s["name"]]


def test_config_with_functions_routes_passes_deck_validate(tmp_path):
    """The pinned decK (scripts/build-deck.sh), as every other config check uses it."""
    path = tmp_path / "kong.yml"
    path.write_text(render(settings(BLOG, SHOP, functions=True)))
    done = deck_run("file", "validate", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
