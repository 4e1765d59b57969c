"""Run the project guard (Kong's pre-function Lua, components/providers/kong_config.py) for real
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


def _luajit(harness: str, run: dict) -> dict:
    """`harness` under LuaJIT with `run` as JSON on its input; its JSON output."""
    luajit = require_executable("luajit", "apt-get install luajit lua-cjson")
    done = subprocess.run([luajit, "-e", harness], input=json.dumps(run), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_guard(guard: str, headers: dict[str, str], query: Optional[dict[str, str]] = None) -> GuardResult:
    result = _luajit(HARNESS, {"guard": guard, "headers": headers, "query": query or {}})
    assert "error" not in result, result["error"]
    return GuardResult(result.get("status"), result.get("set") or {})


# Kong 2.8's response phases for a pre-function's header_filter and body_filter functions:
# the body arrives in chunks as ngx.arg[1] (ngx.arg[2] true on the last); get_raw_body and
# set_raw_body behave as kong/pdk/response.lua at tag 2.8.1 (buffer in the request context,
# nil out each chunk until the last, then the whole body).
FILTER_HARNESS = r'''
local cjson = require "cjson"
local run = cjson.decode(io.read("*a"))
local result = { cleared = {}, body = "" }
local ctx = {}
local plugin_ctx = {}
local arg = {}
ngx = { arg = arg, ctx = ctx }
kong = {
  ctx = { plugin = plugin_ctx },
  response = {
    get_status = function() return run.status end,
    clear_header = function(name) result.cleared[#result.cleared + 1] = name end,
    get_raw_body = function()
      local chunk, eof = arg[1], arg[2]
      local buffer = ctx.KONG_BODY_BUFFER
      if type(chunk) == "string" and chunk ~= "" then
        buffer = buffer or { n = 0 }
        buffer.n = buffer.n + 1
        buffer[buffer.n] = chunk
        ctx.KONG_BODY_BUFFER = buffer
      end
      if eof then
        local body = buffer and table.concat(buffer, "", 1, buffer.n) or ""
        arg[1] = body
        return body
      end
      arg[1] = nil
      return nil
    end,
    set_raw_body = function(body)
      arg[1] = body == "" and "\n" or body
      arg[2] = true
      ctx.KONG_BODY_BUFFER = nil
    end,
  },
}
local header = assert(loadstring(run.header))()
local body = assert(loadstring(run.body))()
header()
for i, chunk in ipairs(run.chunks) do
  arg[1], arg[2] = chunk, i == #run.chunks
  body()
  if arg[1] ~= nil then result.body = result.body .. arg[1] end
end
io.write(cjson.encode(result))
'''


@dataclass(frozen=True)
class FilterResult:
    body: str  # what the client receives
    cleared_headers: list


def run_response_filters(header_lua: str, body_lua: str, status: int, chunks: list[str]) -> FilterResult:
    """Runs a pre-function's header_filter and body_filter over an upstream answer."""
    result = _luajit(FILTER_HARNESS, {"header": header_lua, "body": body_lua, "status": status, "chunks": chunks})
    return FilterResult(result["body"], list(result["cleared"] or []))
