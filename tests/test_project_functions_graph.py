"""`projects[].functions` in the program under Pulumi mocks: one deploy resource per project,
and adding or changing a function changes no container (the shared edge runtime, Kong, any
other) and nothing of another project."""
from __future__ import annotations

import pytest

from components.core import function_files
from components.core.config import ConfigError
from tests.program import dev_config, run_program

CONTAINER = "docker:index/container:Container"
DEPLOY = "pulumi-python:dynamic/supabase:ProjectFunctions"
HELLO = "Deno.serve(() => new Response('hello'))\n"


def config(functions: dict | None, feature: bool = True) -> dict:
    c = dev_config()
    c["supabase-multi-instance:features"] = {"functions": feature}
    blog = {"name": "blog", **({"functions": functions} if functions else {})}
    c["supabase-multi-instance:projects"] = [blog, {"name": "shop"}]
    return c


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `dir` is relative to the stack's folder: the program's working directory
    (tmp_path / "fns" / "hello").mkdir(parents=True)
    (tmp_path / "fns" / "hello" / "index.ts").write_text(HELLO)
    return tmp_path / "fns"


def containers(run) -> dict[str, dict]:
    return {r.name: r.inputs for r in run.of_type(CONTAINER)}


def test_a_project_with_functions_gets_one_deploy_under_it(folder):
    run = run_program(config({"dir": "fns", "verifyJwt": {"hello": False}}))
    (deploy,) = run.of_type(DEPLOY)
    assert deploy.inputs["project"] == "blog"
    assert function_files.decoded(deploy.inputs["files"]) == {"hello/index.ts": HELLO.encode()}
    assert run.parent_of(run.parent_of(deploy)).name == "blog"
    runtime = next(r for r in run.of_type(CONTAINER) if r.name == "functions")
    assert runtime.urn in deploy.dependencies


def test_adding_or_changing_a_function_replaces_no_container(folder):
    without = run_program(config(None))
    first = run_program(config({"dir": "fns"}))
    (folder / "hello" / "index.ts").write_text(HELLO.replace("hello", "changed"))
    (folder / "bye").mkdir()
    (folder / "bye" / "index.ts").write_text(HELLO)
    second = run_program(config({"dir": "fns", "secrets": {"API_TOKEN": {"secure": "t0ken"}}}))
    assert containers(without) == containers(first) == containers(second)
    (a,), (b,) = first.of_type(DEPLOY), second.of_type(DEPLOY)
    assert a.inputs["files"] != b.inputs["files"] and sorted(function_files.decoded(b.inputs["files"])) == [
        "bye/index.ts", "hello/index.ts"]


def test_the_provider_sees_a_change_as_an_in_place_update():
    from components.providers.project_functions import ProjectFunctionsProvider

    olds = {"project": "blog", "folder": "blog-x", "version": "1", "files": {}, "sealed": "s1", "container": "c"}
    diff = ProjectFunctionsProvider().diff("id", olds, {**olds, "version": "2", "sealed": "s2"})
    assert diff.changes and not diff.replaces
    assert not ProjectFunctionsProvider().diff("id", olds, {**olds, "sealed": "s2"}).changes  # a fresh nonce only


def test_functions_need_the_edge_runtime(folder):
    with pytest.raises(ConfigError) as err:
        run_program(config({"dir": "fns"}, feature=False))
    assert "projects[0].functions: needs the stack's edge runtime; set features.functions: true" in err.value.problems


def test_project_code_in_the_edge_runtime_reaches_no_keyless_service(folder):
    """Projects' functions run code their owners wrote: the edge runtime joins the keyed network
    only (Postgres behind its password, Kong, GoTrues that verify their own keys), never the
    stack network, where pg-meta (the whole database as supabase_admin) and Realtime's tenant
    API answer without any key."""
    found = containers(run_program(config({"dir": "fns"})))
    networks = {name: {n["name"] for n in c["networksAdvanced"]} for name, c in found.items()}
    assert networks["functions"] == {"supabase-dev-auth"}
    aliases = {a for n in found["functions"]["networksAdvanced"] for a in n["aliases"]}
    assert "functions" in aliases  # Kong still reaches it by name
    for keyless in ("meta", "realtime", "rest", "storage", "studio", "imgproxy", "auth"):
        assert "supabase-dev-auth" not in networks[keyless], keyless
    assert "supabase-dev-auth" in networks["kong"] and "supabase-dev-auth" in networks["db"]
