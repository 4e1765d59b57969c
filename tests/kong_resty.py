"""A stand-in for OpenResty's `resty` CLI inside Kong's container, so the config push
(components/core/kong_container.PUSH_LUA) runs for real under LuaJIT here, where no Kong can.

`resty -e CODE` (openresty/resty-cli bin/resty) runs CODE in a timer of a throwaway nginx:
`ngx.sleep`, `ngx.now`/`ngx.update_time` and cosockets work, the environment reaches
`os.getenv` (it writes an `env` directive for each variable), and `os.exit(n)` ends it with
status n. The stand-in runs CODE under LuaJIT after a prelude that gives it:

- `ngx.now`, `ngx.update_time`, `ngx.sleep`: a clock that sleeping moves forward at once, so
  a push that waits 90 s for Kong runs in no time;
- `resty.http` (lua-resty-http 0.17.2, the version kong-3.9.3-0.rockspec pins) with `new`,
  `set_timeout` and `request_uri(uri, {method, body, headers})`: each request is appended to
  `$KONG_TEST_ROOT/admin-requests.jsonl`, and is answered by the next entry of
  `$KONG_TEST_ROOT/admin-answers.json` (a list of `{"status", "body"}`, or `{"error"}` for a
  connection that fails, as `request_uri` returns `nil, err`), then 201 once the list is spent.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tests._tools import require_executable

PRELUDE = r'''
local cjson = require "cjson"
local root = assert(os.getenv("KONG_TEST_ROOT"), "KONG_TEST_ROOT is not set")
local clock = os.time()
ngx = {
  now = function() return clock end,
  update_time = function() end,
  sleep = function(seconds) clock = clock + seconds end,
}
local function answers()
  local file = io.open(root .. "/admin-answers.json", "rb")
  if not file then return {} end
  local list = cjson.decode(file:read("*a"))
  file:close()
  return list
end
local function consume()
  local list = answers()
  local first = table.remove(list, 1)
  local file = assert(io.open(root .. "/admin-answers.json", "wb"))
  file:write(#list > 0 and cjson.encode(list) or "[]")
  file:close()
  return first
end
package.preload["resty.http"] = function()
  local client = {}
  client.__index = client
  function client.set_timeout(self, ms) self.timeout = ms end
  function client.request_uri(self, uri, params)
    assert(type(uri) == "string" and type(params) == "table")
    local log = assert(io.open(root .. "/admin-requests.jsonl", "ab"))
    log:write(cjson.encode({ uri = uri, method = params.method, headers = params.headers, body = params.body,
                             timeout = self.timeout }), "\n")
    log:close()
    local answer = consume() or { status = 201, body = "{}" }
    if answer.error then return nil, answer.error end
    return { status = answer.status, body = answer.body, headers = {} }
  end
  return { new = function() return setmetatable({}, client) end }
end
'''

STUB = """#!/bin/sh
# resty stand-in (tests/kong_resty.py): resty -e CODE
[ "$1" = "-e" ] && [ $# -eq 2 ] || { echo "resty stand-in: only 'resty -e CODE'" >&2; exit 9; }
echo "resty -e" >> "$KONG_TEST_ROOT/calls.log"
exec "%(luajit)s" -e "dofile('%(prelude)s')" -e "$2"
"""


def install(bin_dir: Path, root: Path) -> Path:
    """Writes `resty` into bin_dir (its prelude beside it); `root` is KONG_TEST_ROOT."""
    luajit = require_executable("luajit", "apt-get install luajit lua-cjson")
    prelude = bin_dir / "resty-prelude.lua"
    prelude.write_text(PRELUDE)
    stub = bin_dir / "resty"
    stub.write_text(STUB % {"luajit": luajit, "prelude": prelude})
    stub.chmod(0o755)
    root.mkdir(parents=True, exist_ok=True)
    return stub


def answer(root: Path, *answers: dict) -> None:
    """What Kong's admin API answers the next requests (then 201)."""
    (root / "admin-answers.json").write_text(json.dumps(list(answers)))


def requests(root: Path) -> list[dict]:
    log = root / "admin-requests.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_lua(bin_dir: Path, root: Path, code: str, env: Optional[dict[str, str]] = None) -> Run:
    """`resty -e code` through the stand-in, with `env` added to the environment."""
    done = subprocess.run([str(bin_dir / "resty"), "-e", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KONG_TEST_ROOT": str(root), **(env or {})})
    return Run(done.returncode, done.stdout, done.stderr)
