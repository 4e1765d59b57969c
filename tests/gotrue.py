"""GoTrue for the auth tests: the real binary when the test command could build it, else
its documented behaviour.

Either way the GoTrue is configured with exactly the environment the program declares for
the project's `auth-<p>` container (read from the resource inputs under Pulumi mocks), with
only what must differ on this machine replaced: where it listens and how it reaches the
test database.

`RealGoTrue` runs the binary that scripts/build-gotrue.sh builds from the supabase/auth Go
module at the pinned image's commit (GOTRUE_BIN overrides the path): it migrates its user
pool into `<p>_auth` as `<p>_auth_admin`, then serves HTTP on 127.0.0.1.
`DocumentedGoTrue` answers the same calls as supabase/auth v2.186.0 documents and
implements them (internal/api/signup.go, token.go, admin.go `requireAdmin` and
`adminUserCreate`, internal/tokens/service.go claims): tokens carry `role` =
GOTRUE_JWT_DEFAULT_GROUP_NAME (or the role an admin gave the user), `aud` = GOTRUE_JWT_AUD,
`iss` = GOTRUE_JWT_ISSUER, and the admin API accepts only roles in GOTRUE_JWT_ADMIN_ROLES.
Keys as internal/conf/jwk.go and internal/api/auth.go `parseJWTClaims` use them: with
GOTRUE_JWT_KEYS set, tokens are signed by the one key whose key_ops has "sign" (header
`kid`), the accepted algorithms are the keys' own, a token's `kid` picks its key, and only
when an `oct` key admits HS256 does a kid-less HS256 token fall back to GOTRUE_JWT_SECRET.
Every one of these was checked against the real binary built from that tag (the stop note
of issue 17 lists the calls and answers).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Optional, Protocol
from urllib.parse import quote

import jwt
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
PINNED_BIN = ROOT / ".tools" / "gotrue" / "v2.186.0" / "auth"


def binary() -> Optional[Path]:
    found = Path(os.environ.get("GOTRUE_BIN") or PINNED_BIN)
    return found if found.is_file() and os.access(found, os.X_OK) else None


def build_error() -> str:
    """Why scripts/build-gotrue.sh could not build GoTrue (its first line), if it could not."""
    path = PINNED_BIN.parent.parent / "build-error.txt"
    return path.read_text().strip().splitlines()[0] if path.is_file() and path.read_text().strip() else ""


def container_env(container_inputs: dict) -> dict[str, str]:
    from tests.stack_inputs import plain  # secrets unwrapped, as Docker receives them

    return dict(line.split("=", 1) for line in plain(container_inputs["envs"]))


class Response:
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body


class GoTrue(Protocol):
    env: dict[str, str]

    def sign_up(self, email: str, password: str) -> Response: ...
    def sign_in(self, email: str, password: str) -> Response: ...
    def user(self, token: str) -> Response: ...
    def admin_users(self, token: str) -> Response: ...
    def admin_create_user(self, token: str, email: str, password: str, role: str) -> Response: ...


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url(dsn: str, user: str, password: str) -> str:
    """A postgres:// URL for GoTrue; a unix-socket server goes in the `host` query parameter."""
    params = conninfo_to_dict(dsn)
    host = params.get("host", "127.0.0.1")
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}"
    if host.startswith("/"):
        return f"postgres://{auth}@localhost/{params['dbname']}?host={quote(host, safe='')}&sslmode=disable"
    return f"postgres://{auth}@{host}:{params.get('port', 5432)}/{params['dbname']}?sslmode=disable"


class RealGoTrue:
    def __init__(self, program_env: dict[str, str], dsn: str, admin: str, admin_password: str, log: Path):
        self.port = _free_port()
        self.env = program_env | {"GOTRUE_API_HOST": "127.0.0.1", "GOTRUE_API_PORT": str(self.port),
                                  "GOTRUE_DB_DATABASE_URL": _database_url(dsn, admin, admin_password)}
        self._log = log.open("w")
        self.process = subprocess.Popen([str(binary())], env={"PATH": os.environ.get("PATH", ""), **self.env},
                                        stdout=self._log, stderr=subprocess.STDOUT, cwd=log.parent)
        self._wait(log)

    def _wait(self, log: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"GoTrue exited ({self.process.returncode}):\n{log.read_text()[-4000:]}")
            if self._call("GET", "/health").status == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"GoTrue did not answer /health in {timeout}s:\n{log.read_text()[-4000:]}")

    def _call(self, method: str, path: str, body: Optional[dict] = None, token: Optional[str] = None) -> Response:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return Response(answer.status, json.loads(answer.read() or b"{}"))
        except urllib.error.HTTPError as err:
            return Response(err.code, json.loads(err.read() or b"{}"))
        except OSError:
            return Response(0, {})

    def sign_up(self, email: str, password: str, data: Optional[dict] = None) -> Response:
        return self._call("POST", "/signup", {"email": email, "password": password, **({"data": data} if data else {})})

    def sign_in(self, email: str, password: str) -> Response:
        return self._call("POST", "/token?grant_type=password", {"email": email, "password": password})

    def user(self, token: str) -> Response:
        return self._call("GET", "/user", token=token)

    def admin_users(self, token: str) -> Response:
        return self._call("GET", "/admin/users", token=token)

    def admin_create_user(self, token: str, email: str, password: str, role: str) -> Response:
        return self._call("POST", "/admin/users", {"email": email, "password": password, "role": role,
                                                   "email_confirm": True}, token=token)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


class DocumentedGoTrue:
    """supabase/auth's behaviour for these calls, as its source at v2.186.0 implements it."""

    def __init__(self, program_env: dict[str, str], dsn: Optional[str] = None, admin: Optional[str] = None,
                 *_ignored):
        self.env = program_env
        self.users: dict[str, dict] = {}
        # With a database whose pool has a `users` table: sign-up writes the user's row there
        # (DB_NAMESPACE.users) as GoTrue's login role does (internal/models/user.go NewUser, then
        # internal/api/signup.go signupNewUser's tx.Create), so the pool's triggers (an app's
        # handle_new_user) fire. The table is GoTrue's migrations'; the stand-in writes only the
        # columns those triggers read.
        self.dsn, self.admin = dsn, admin

    def _keys(self) -> list[jwt.PyJWK]:
        return [jwt.PyJWK.from_dict(k) for k in json.loads(self.env.get("GOTRUE_JWT_KEYS") or "[]")]

    def _token(self, user: dict) -> str:
        now = int(time.time())
        claims = {"sub": user["id"], "aud": self.env["GOTRUE_JWT_AUD"], "iat": now,
                  "exp": now + int(self.env["GOTRUE_JWT_EXP"]), "iss": self.env["GOTRUE_JWT_ISSUER"],
                  "email": user["email"], "phone": "", "app_metadata": {"provider": "email", "providers": ["email"]},
                  "user_metadata": {}, "role": user["role"], "aal": "aal1",
                  "amr": [{"method": "password", "timestamp": now}], "session_id": str(uuid.uuid4()),
                  "is_anonymous": False}
        raw = json.loads(self.env.get("GOTRUE_JWT_KEYS") or "[]")
        signing = [k for k in raw if "sign" in k.get("key_ops", [])]
        if not raw:
            return jwt.encode(claims, self.env["GOTRUE_JWT_SECRET"], algorithm="HS256")
        (key,) = signing  # exactly one, or GoTrue refuses to start
        return jwt.encode(claims, jwt.PyJWK.from_dict(key).key, algorithm=key["alg"], headers={"kid": key["kid"]})

    def _claims(self, token: str) -> Optional[dict]:
        keys = self._keys()
        valid = {k.algorithm_name for k in keys} if keys else {"HS256"}
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in valid:
                return None  # "signing method X is invalid"
            by_kid = {k.key_id: k for k in keys}
            if isinstance(header.get("kid"), str) and header["kid"] in by_kid:
                key = by_kid[header["kid"]].key
            elif header["alg"] == "HS256":
                key = self.env["GOTRUE_JWT_SECRET"]
            else:
                return None  # "unrecognized JWT kid"
            return jwt.decode(token, key, algorithms=[header["alg"]], options={"verify_aud": False})
        except jwt.PyJWTError:
            return None

    def sign_up(self, email: str, password: str, data: Optional[dict] = None) -> Response:
        if self.env["GOTRUE_DISABLE_SIGNUP"] == "true":
            return Response(422, {"error_code": "signup_disabled"})
        if email in self.users:
            return Response(422, {"error_code": "user_already_exists"})
        user = {"id": str(uuid.uuid4()), "email": email, "password": password,
                "role": self.env["GOTRUE_JWT_DEFAULT_GROUP_NAME"], "aud": self.env["GOTRUE_JWT_AUD"]}
        if self.dsn and self.admin:
            self._write_user(user, data or {})
        self.users[email] = user
        if self.env["GOTRUE_MAILER_AUTOCONFIRM"] != "true":
            return Response(200, {"id": user["id"], "email": email})
        return Response(200, {"access_token": self._token(user), "user": {"id": user["id"], "role": user["role"]}})

    def _write_user(self, user: dict, data: dict) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            if conn.execute("select to_regclass(%s)", (f'"{self.env["DB_NAMESPACE"]}".users',)).fetchone()[0] is None:
                return  # no pool table (the stand-in runs no migrations): the test keeps users in memory only
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(self.admin)))
            conn.execute(sql.SQL("insert into {}.users (id, email, role, aud, raw_user_meta_data) values "
                                 "(%s, %s, %s, %s, %s)").format(sql.Identifier(self.env["DB_NAMESPACE"])),
                         (user["id"], user["email"], user["role"], user["aud"], json.dumps(data)))

    def sign_in(self, email: str, password: str) -> Response:
        user = self.users.get(email)
        if not user or user["password"] != password:
            return Response(400, {"error_code": "invalid_credentials"})
        return Response(200, {"access_token": self._token(user), "user": {"id": user["id"], "role": user["role"]}})

    def user(self, token: str) -> Response:
        claims = self._claims(token)
        found = next((u for u in self.users.values() if claims and u["id"] == claims.get("sub")), None)
        if claims is None:
            return Response(403, {"error_code": "bad_jwt"})
        return Response(200, {"id": found["id"]}) if found else Response(403, {"error_code": "user_not_found"})

    def admin_users(self, token: str) -> Response:
        claims = self._claims(token)
        if claims is None or claims.get("role") not in self.env["GOTRUE_JWT_ADMIN_ROLES"].split(","):
            return Response(403, {"error_code": "not_admin"})
        return Response(200, {"users": [{"id": u["id"]} for u in self.users.values()]})

    def admin_create_user(self, token: str, email: str, password: str, role: str) -> Response:
        claims = self._claims(token)
        if claims is None or claims.get("role") not in self.env["GOTRUE_JWT_ADMIN_ROLES"].split(","):
            return Response(403, {"error_code": "not_admin"})
        user = {"id": str(uuid.uuid4()), "email": email, "password": password,
                "role": role or self.env["GOTRUE_JWT_DEFAULT_GROUP_NAME"], "aud": self.env["GOTRUE_JWT_AUD"]}
        self.users[email] = user
        return Response(200, {"id": user["id"], "role": user["role"]})

    def stop(self) -> None:
        pass


def start(program_env: dict[str, str], dsn: str, admin: str, admin_password: str, log: Path) -> GoTrue:
    """The real GoTrue if it was built, else the documented one."""
    kind = RealGoTrue if binary() else DocumentedGoTrue
    return kind(program_env, dsn, admin, admin_password, log)
