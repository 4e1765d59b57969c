"""Every command the README and docs show works verbatim in a new shell after scripts/up.sh.

A copy of the repository runs scripts/up.sh, then each `pulumi ...` and `python ...` command
of the README's and docs' shell blocks in a fresh `bash` (no profile, no inherited PULUMI_*
variables), after the one line the README asks for in each new shell. A stand-in `pulumi`
on PATH records its arguments, working directory and environment: the tests assert that the
state backend (Pulumi.yaml, read from the working directory) and the passphrase file reach
it, including through `python -m dashboard build`, which runs `pulumi stack output` itself.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NEW_SHELL = "source scripts/env.sh"
STATE_URL = "file://~/.supabase-multi-instance/state"
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]

STAND_IN_PULUMI = """#!{python}
import json, os, sys
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(),
                          "env": {{k: v for k, v in os.environ.items() if k.startswith("PULUMI_")}}}}) + "\\n")
if sys.argv[1:3] == ["config", "get"] and os.path.exists({log!r} + ".unset"):
    sys.exit(1)  # a config key the stack does not have
if sys.argv[1:4] == ["stack", "output", "--json"]:
    sys.stdout.write(open({outputs!r}).read())
if sys.argv[1:3] == ["stack", "--show-urns"]:
    prefix = "urn:pulumi:dev::supabase-multi-instance::"
    print(prefix + "supabase-multi-instance:index:Postgres$docker:index/volume:Volume::db-data")
    print(prefix + "supabase-multi-instance:index:StackSecrets$random:index/randomPassword:RandomPassword::postgres-password")
"""
# pip is the one thing up.sh's virtualenv would fetch from the network; the rest runs for real.
STAND_IN_VENV_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then exit 0; fi
exec {python} "$@"
"""


def shell_commands(markdown: str) -> list[str]:
    """The command lines of ```sh blocks, without trailing comments."""
    commands = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", markdown, re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def runnable(command: str) -> bool:
    """Commands that run pulumi (directly, or through the dashboard build); not placeholders (`<urn>`).

    The scripts run apart (up.sh first; test.sh is the test suite); `python -m
    components.core.image_check` needs no state and has its own tests.
    """
    uses_pulumi = command.split()[0] == "pulumi" or command.startswith("python -m dashboard")
    return uses_pulumi and not re.search(r"<[a-z-]+>", command)


def inline_commands(markdown: str) -> list[str]:
    """Commands shown inline in prose, e.g. `pulumi stack output projectServiceKeys --show-secrets`."""
    return [c for c in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", markdown) if c.startswith(("pulumi ", "python -m "))]


def documented_commands() -> list[tuple[str, str]]:
    found: dict[tuple[str, str], None] = {}
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for command in shell_commands(text) + inline_commands(text):
            if runnable(command):
                found[(doc, command)] = None
    return list(found)


def write_executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


class Workspace:
    """A copy of the repository, a HOME, and stand-ins for pulumi, docker and the venv's pip."""

    def __init__(self, tmp: Path):
        self.repo, self.home, self.bin, self.log = tmp / "repo", tmp / "home", tmp / "bin", tmp / "pulumi.jsonl"
        shutil.copytree(ROOT, self.repo, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tools", "__pycache__", ".pytest_cache", "site", "test-artifacts", "bench"))
        self.home.mkdir()
        outputs = ROOT / "tests" / "fixtures" / "outputs-3-projects.json"
        write_executable(self.bin / "pulumi", STAND_IN_PULUMI.format(python=sys.executable, log=str(self.log),
                                                                     outputs=str(outputs)))
        write_executable(self.bin / "docker", "#!/bin/sh\nexit 0\n")
        write_executable(self.repo / ".venv" / "bin" / "python", STAND_IN_VENV_PYTHON.format(python=sys.executable))

    def env(self) -> dict[str, str]:
        """What a new login shell of the same user has: PATH and HOME, nothing of Pulumi's."""
        return {"PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}

    def bash(self, script: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=self.repo, env=self.env(),
                              capture_output=True, text=True, timeout=120)

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        self.log.unlink()
        return calls


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("readme"))
    result = ws.bash("scripts/up.sh --yes")
    assert result.returncode == 0, result.stderr
    ws.up_calls = ws.calls()
    return ws


def state_dir(ws: Workspace, cwd: str) -> Path:
    """Where the real CLI would keep state: `backend.url` of the Pulumi.yaml in cwd, `~` = HOME."""
    url = yaml.safe_load((Path(cwd) / "Pulumi.yaml").read_text())["backend"]["url"]
    assert url == STATE_URL
    return ws.home / url.removeprefix("file://~/")


def assert_reaches_state(ws: Workspace, call: dict) -> None:
    assert Path(call["cwd"]) == ws.repo, call
    assert state_dir(ws, call["cwd"]).is_dir(), call
    assert "PULUMI_BACKEND_URL" not in call["env"], call  # it would override Pulumi.yaml
    passphrase = Path(call["env"].get("PULUMI_CONFIG_PASSPHRASE_FILE", "/nonexistent"))
    assert passphrase == ws.home / ".supabase-multi-instance" / "passphrase", call
    assert passphrase.read_text().strip() and stat.S_IMODE(passphrase.stat().st_mode) == 0o600


def test_up_creates_the_state_and_passphrase_and_runs_pulumi_with_them(workspace):
    assert [c["argv"] for c in workspace.up_calls] == [["stack", "select", "--create", "dev"],
                                                       ["config", "get", "postgresMajor"], ["up", "--yes"]]
    for call in workspace.up_calls:
        assert_reaches_state(workspace, call)


def test_the_docs_show_the_new_shell_line_and_the_commands_worth_checking():
    readme = shell_commands((ROOT / "README.md").read_text())
    assert NEW_SHELL in readme and "scripts/up.sh" in readme
    shown = [c for _, c in documented_commands()]
    for expected in ("pulumi stack output", "pulumi preview", "pulumi destroy --exclude-protected",
                     "python -m dashboard build --out site/"):
        assert expected in shown, expected


@pytest.mark.parametrize(("doc", "command"), documented_commands(), ids=lambda v: v)
def test_each_documented_command_reaches_the_state_in_a_new_shell(workspace, doc, command):
    result = workspace.bash(f"{NEW_SHELL}\n{command}")
    assert result.returncode == 0, f"{doc}: {command}\n{result.stderr}"
    calls = workspace.calls()
    assert calls, f"{doc}: `{command}` never ran pulumi"
    for call in calls:
        assert_reaches_state(workspace, call)


def test_the_dashboard_build_passes_the_environment_to_pulumi(workspace):
    result = workspace.bash(f"{NEW_SHELL}\npython -m dashboard build --out site/")
    assert result.returncode == 0, result.stderr
    (call,) = workspace.calls()
    assert call["argv"] == ["stack", "output", "--json"]
    assert_reaches_state(workspace, call)
    assert (workspace.repo / "site" / "index.html").is_file()


def test_without_the_new_shell_line_the_passphrase_is_missing(workspace):
    """The check can fail: a bare new shell knows the backend (Pulumi.yaml) but not the passphrase."""
    result = workspace.bash("pulumi stack output")
    assert result.returncode == 0
    (call,) = workspace.calls()
    assert state_dir(workspace, call["cwd"]).is_dir()
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in call["env"]


def test_a_custom_home_moves_backend_and_passphrase_together(tmp_path):
    ws = Workspace(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    result = ws.bash(f"export SUPABASE_MI_HOME={elsewhere}\nscripts/up.sh --yes\n{NEW_SHELL}\npulumi preview")
    assert result.returncode == 0, result.stderr
    calls = ws.calls()
    assert [c["argv"][0] for c in calls] == ["stack", "config", "up", "preview"]
    for call in calls:
        assert call["env"]["PULUMI_BACKEND_URL"] == f"file://{elsewhere}/state"
        assert call["env"]["PULUMI_CONFIG_PASSPHRASE_FILE"] == f"{elsewhere}/passphrase"
    assert (elsewhere / "state").is_dir() and os.path.getsize(elsewhere / "passphrase") > 0


def test_up_records_postgres_15_for_a_stack_made_before_17(tmp_path):
    """A stack whose state has the 15-named db volume and no postgresMajor gets `15` recorded
    before `pulumi up`, so this version keeps its database where it is."""
    ws = Workspace(tmp_path)
    Path(str(ws.log) + ".unset").touch()
    result = ws.bash("scripts/up.sh --yes")
    assert result.returncode == 0, result.stderr
    argv = [c["argv"] for c in ws.calls()]
    assert argv[-2:] == [["config", "set", "postgresMajor", "15"], ["up", "--yes"]]
    assert ["stack", "--show-urns"] in argv and "recorded postgresMajor 15" in result.stdout
