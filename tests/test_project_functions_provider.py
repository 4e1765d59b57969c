"""The ProjectFunctions provider fed what the engine feeds it (tests/dynamic_host.py), with the
docker CLI replaced by the same steps on a local folder standing for the functions-projects
volume: the archive unpacked as `docker cp -` does, the swap script run by sh as
`docker exec` runs it. A deploy makes `current` point at the new version and drops the old."""
from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from components.providers import project_functions
from tests.dynamic_host import DynamicHost
from tests.program import run_program
from tests.test_project_functions_graph import DEPLOY, HELLO, config


@pytest.fixture
def volume(tmp_path, monkeypatch):
    root = tmp_path / "volume"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fns" / "hello").mkdir(parents=True)
    (tmp_path / "fns" / "hello" / "index.ts").write_text(HELLO)

    def copy_into(_container, directory, archive, host=None):
        assert directory == project_functions.ROOT
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")

    def docker(*args, **_kwargs):
        local = [a.replace(project_functions.ROOT, str(root)) for a in args]
        assert local[0] == "exec"
        subprocess.run(local[2:], check=True)
        return ""

    monkeypatch.setattr(project_functions, "copy_into", copy_into)
    monkeypatch.setattr(project_functions, "docker", docker)
    return root


def deploy_inputs(**functions) -> dict:
    (resource,) = run_program(config({"dir": "fns", **functions})).of_type(DEPLOY)
    return resource.inputs


def test_deploy_update_and_delete_on_the_volume(volume):
    host = DynamicHost()
    inputs, _ = host.check({}, deploy_inputs())
    created = host.create(inputs)
    folder = volume / inputs["folder"]
    current = folder / "current"
    assert current.is_symlink() and (current / "functions" / "hello" / "index.ts").read_text() == HELLO
    assert set(json.loads((current / "env.enc").read_text())) == {"v", "nonce", "sealed"}
    first = current.resolve()

    (volume.parent / "fns" / "hello" / "index.ts").write_text(HELLO.replace("hello", "changed"))
    news, _ = host.check(created.outputs, deploy_inputs())
    diff = host.diff(created.id, created.outputs, news)
    assert diff.changes and not diff.replaces
    host.update(created.id, created.outputs, news)
    assert current.resolve() != first and not first.exists()
    assert "changed" in (current / "functions" / "hello" / "index.ts").read_text()

    host.delete(created.id, news)
    assert not folder.exists()
