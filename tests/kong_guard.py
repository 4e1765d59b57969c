"""Run the project guard (Kong's pre-function Lua, components/kong_config.GUARD_LUA) for real
under LuaJIT with lua-cjson, as Kong 2.8 runs it: the chunk returns the per-request function,
which sees Kong's PDK (`kong.request`, `kong.service.request`, `kong.response`) and `ngx`.

The PDK here is a stand-in that records what the guard does; `ngx.decode_base64` decodes
standard base64 and returns nil on anything else, as ngx's does.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Optional

from tests._tools import require_executable

HARNESS = r'''
local cjson = require "cjson"
local request = cjson.decode(io.read("*a"))
local result = { status = nil, set = {} }
local headers = {}
for k, v in pairs(request.headers) do headers[k:lower()] = v end
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function decode_base64(s)
  if #s % 4 ~= 0 or s:find("[^%w%+/=]") then return nil end
  local bits = s:gsub("=", ""):gsub(".", function(c)
    local n = alphabet:find(c, 1, true) - 1
    local out = ""
    for i = 5, 0, -1 do out = out .. (math.floor(n / 2 ^ i) % 2) end
    return out
  end)
  bits = bits:sub(1, #bits - #bits % 8)  -- padding bits
  return (bits:gsub("%d%d%d%d%d%d%d%d", function(b) return string.char(tonumber(b, 2)) end))
end
kong = {
  request = {
    get_header = function(name) return headers[name:lower()] end,
    get_query_arg = function(name) return request.query[name] end,
  },
  service = { request = { set_header = function(name, value) result.set[name] = value end } },
  response = { exit = function(status, body) result.status = status; result.body = body; error("exit") end },
}
ngx = { decode_base64 = decode_base64 }
local chunk = assert(loadstring(request.guard))
local handler = chunk()
local ok, err = pcall(handler)
if not ok and err and not tostring(err):find("exit") then result.error = tostring(err) end
io.write(cjson.encode(result))
'''


@dataclass(frozen=True)
class GuardResult:
    status: Optional[int]  # None: the request goes on to key-auth
    set_headers: dict

    @property
    def passed(self) -> bool:
        return self.status is None


def run_guard(guard: str, headers: dict[str, str], query: Optional[dict[str, str]] = None) -> GuardResult:
    luajit = require_executable("luajit", "apt-get install luajit lua-cjson")
    request = json.dumps({"guard": guard, "headers": headers, "query": query or {}})
    done = subprocess.run([luajit, "-e", HARNESS], input=request, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "error" not in result, result["error"]
    return GuardResult(result.get("status"), result.get("set") or {})
