"""Run the Lua of components/core/kong_lua.py for real under LuaJIT with lua-cjson, as Kong
3.9.3 runs it: the chunk, loaded in a stand-in of Kong's sandbox, returns the per-request
function, which sees Kong's PDK (`kong.request`, `kong.service.request`, `kong.response`,
`kong.ctx.shared`) and `ngx`.

The sandbox stand-in gives the chunk only what kong/tools/kong-lua-sandbox.lua (BASE_ENV,
:59-80 at 3.9.3) and kong/plugins/pre-function/_handler.lua:20 (`kong`, `ngx`) give it, and a
`require` of the modules KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES allows (kong/tools/sandbox.lua:62-84),
so a chunk that leans on anything else fails here as it would in Kong.

The PDK is a stand-in that records what the chunk does. `set_header` changes the request's
headers as `ngx.req.set_header` does (kong/pdk/service/request.lua:334), so a later
`get_header` sees the new value as Kong's does (kong/pdk/request.lua:622-629 ->
kong/tools/http.lua:545-565, the request's own headers);
`ngx.decode_base64` decodes standard base64 and returns nil on anything else, as ngx's does.
`kong.request.get_path`/`get_raw_body` answer the request's (already normalized) path and body;
`kong.service.request.set_path`/`set_raw_body` record the upstream's (the Storage bucket map).

`kong.plugins.jwt.jwt_parser` is a stand-in of Kong's module (kong/plugins/jwt/jwt_parser.lua
at tag 3.9.3) with only `encode(data, key, alg)` for HS256, written as Kong's encode_token
(:293-323): header {typ = "JWT", alg = alg}, each part cjson-encoded and base64url'd without
padding (ngx.base64.encode_base64url), signed with HMAC-SHA256 - here libcrypto's HMAC()
through LuaJIT's FFI, where Kong uses resty.openssl.mac (:36) over the same libcrypto.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from tests._tools import require_executable

SANDBOX = r'''
local cjson = require "cjson"
local bit = require "bit"
local ffi = require "ffi"
ffi.cdef[[
  typedef struct evp_md_st EVP_MD;
  const EVP_MD *EVP_sha256(void);
  unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *d, size_t n,
                      unsigned char *md, unsigned int *md_len);
]]
local ok_crypto, crypto = pcall(ffi.load, "crypto")
if not ok_crypto then crypto = ffi.load("libcrypto.so.3") end
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function decode_base64(s)
  if type(s) ~= "string" or #s % 4 ~= 0 or s:find("[^%w%+/=]") then return nil end
  local bits = s:gsub("=", ""):gsub(".", function(c)
    local n = alphabet:find(c, 1, true) - 1
    local out = ""
    for i = 5, 0, -1 do out = out .. (math.floor(n / 2 ^ i) % 2) end
    return out
  end)
  bits = bits:sub(1, #bits - #bits % 8)  -- padding bits
  return (bits:gsub("%d%d%d%d%d%d%d%d", function(b) return string.char(tonumber(b, 2)) end))
end
local function encode_base64(s, no_padding)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = bit.bor(bit.lshift(a, 16), bit.lshift(b or 0, 8), c or 0)
    for j = 0, 3 do
      out[#out + 1] = alphabet:sub(bit.rshift(n, 18 - 6 * j) % 64 + 1, bit.rshift(n, 18 - 6 * j) % 64 + 1)
    end
    if not b then out[#out] = "="; out[#out - 1] = "=" elseif not c then out[#out] = "=" end
  end
  local text = table.concat(out)
  return no_padding and (text:gsub("=", "")) or text
end
local function hmac_sha256(key, data)
  local md, len = ffi.new("unsigned char[64]"), ffi.new("unsigned int[1]")
  assert(crypto.HMAC(crypto.EVP_sha256(), key, #key, data, #data, md, len) ~= nil)
  return ffi.string(md, len[0])
end
local function base64url(s) return (encode_base64(s, true):gsub("+", "-"):gsub("/", "_")) end
package.loaded["kong.plugins.jwt.jwt_parser"] = {
  encode = function(data, key, alg, header)
    assert(type(data) == "table" and type(key) == "string" and (alg or "HS256") == "HS256" and header == nil)
    local segments = { base64url(cjson.encode({ typ = "JWT", alg = "HS256" })), base64url(cjson.encode(data)) }
    local input = table.concat(segments, ".")
    return input .. "." .. base64url(hmac_sha256(key, input))
  end,
}
ngx = { decode_base64 = decode_base64, encode_base64 = encode_base64 }
-- kong/tools/kong-lua-sandbox.lua BASE_ENV, plus `kong`, `ngx` and the allowed requires
local ALLOWED = { ["cjson.safe"] = true, ["kong.plugins.jwt.jwt_parser"] = true }
local function sandboxed(source)
  local env = { kong = kong, ngx = ngx, require = function(m)
    if not ALLOWED[m] then error("require '" .. m .. "' not allowed within sandbox") end
    return require(m)
  end }
  for _, id in ipairs({ "_VERSION", "assert", "error", "ipairs", "next", "pairs", "pcall", "select",
                        "tonumber", "tostring", "type", "unpack", "xpcall" }) do env[id] = _G[id] end
  for _, m in ipairs({ "coroutine", "math", "os", "string", "table" }) do env[m] = _G[m] end
  local chunk = assert(loadstring(source))
  setfenv(chunk, env)
  return chunk
end
'''

HARNESS = r'''
local cjson = require "cjson"
local request = cjson.decode(io.read("*a"))
local result = { status = nil, set = {}, cleared = {}, query = nil }
local headers = {}
for k, v in pairs(request.headers) do headers[k:lower()] = v end
kong = {
  request = {
    get_method = function() return request.method end,
    get_path = function() return request.path end,
    get_raw_body = function() return request.body end,
    get_header = function(name) return headers[name:lower()] end,
    get_query_arg = function(name) return request.query[name] end,
    get_query = function()
      local copy = {}
      for k, v in pairs(request.query) do copy[k] = v end
      return copy
    end,
  },
  service = { request = {
    set_header = function(name, value) result.set[name] = value; headers[name:lower()] = value end,
    clear_header = function(name) result.cleared[#result.cleared + 1] = name; headers[name:lower()] = nil end,
    set_query = function(args) result.query = args end,
    -- kong/pdk/service/request.lua:135-146 at 3.9.3 (then escaped; these paths need no escape)
    set_path = function(path)
      assert(type(path) == "string" and path:sub(1, 1) == "/", "path must start with /")
      result.path = path
    end,
    set_raw_body = function(body) assert(type(body) == "string"); result.upstream_body = body end,
  } },
  response = { exit = function(status, body) result.status = status; result.body = body; error("exit") end },
  ctx = { shared = { authenticated_jwt_token = request.verified_token }, plugin = request.plugin_ctx or {} },
}
''' + SANDBOX + r'''
local handler = sandboxed(request.lua)()
local ok, err = pcall(handler)
if not ok and err and not tostring(err):find("exit") then result.error = tostring(err) end
if next(result.set) == nil then result.set = nil end
if #result.cleared == 0 then result.cleared = nil end
if next(kong.ctx.plugin) ~= nil then result.plugin_ctx = kong.ctx.plugin end
io.write(cjson.encode(result))
'''


@dataclass(frozen=True)
class GuardResult:
    status: Optional[int]  # None: the request goes on to the next plugin
    set_headers: dict
    body: Optional[dict] = None
    cleared_headers: list = field(default_factory=list)
    query: Optional[dict] = None  # the query string set toward the upstream, if changed
    path: Optional[str] = None  # the upstream path, if set (kong.service.request.set_path)
    upstream_body: Optional[str] = None  # the body toward the upstream, if set
    plugin_ctx: Optional[dict] = None  # kong.ctx.plugin as the chunk left it (the plugin's later phases read it)

    @property
    def passed(self) -> bool:
        return self.status is None


def _luajit(harness: str, run: dict) -> dict:
    """`harness` under LuaJIT with `run` as JSON on its input; its JSON output."""
    luajit = require_executable("luajit", "apt-get install luajit lua-cjson")
    done = subprocess.run([luajit, "-e", harness], input=json.dumps(run), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_guard(guard: str, headers: dict[str, str], query: Optional[dict[str, str]] = None, method: str = "GET",
              verified_token: Optional[str] = None, path: str = "/", body: str = "",
              plugin_ctx: Optional[dict] = None) -> GuardResult:
    """Runs an access-phase chunk (pre- or post-function) on one request. `verified_token` is
    what Kong's jwt plugin left in kong.ctx.shared.authenticated_jwt_token (handler.lua:118);
    `path` is what kong.request.get_path() answers (the normalized path), `body` what
    kong.request.get_raw_body() does; `plugin_ctx` what an earlier chunk of the same plugin
    left in kong.ctx.plugin."""
    run = {"lua": guard, "headers": headers, "query": query or {}, "method": method, "path": path, "body": body}
    if plugin_ctx:
        run["plugin_ctx"] = plugin_ctx
    if verified_token is not None:
        run["verified_token"] = verified_token
    result = _luajit(HARNESS, run)
    assert "error" not in result, result["error"]
    return GuardResult(result.get("status"), result.get("set") or {}, result.get("body"),
                       list(result.get("cleared") or []), result.get("query"), result.get("path"),
                       result.get("upstream_body"), result.get("plugin_ctx"))


# Kong 3.9's response phases for a pre-function's header_filter and body_filter functions:
# the body arrives in chunks as ngx.arg[1] (ngx.arg[2] true on the last); get_raw_body and
# set_raw_body behave as kong/pdk/response.lua:570-645 at tag 3.9.3 (a lone last chunk as it
# is; otherwise buffer in the request context, nil out each chunk until the last, then the
# whole body).
FILTER_HARNESS = r'''
local cjson = require "cjson"
local run = cjson.decode(io.read("*a"))
local result = { cleared = {}, body = "" }
local ctx = {}
local plugin_ctx = run.plugin_ctx or {}
local arg = {}
ngx = { arg = arg, ctx = ctx }
kong = {
  ctx = { plugin = plugin_ctx },
  response = {
    get_status = function() return run.status end,
    get_header = function(name)
      for k, v in pairs(run.headers or {}) do if k:lower() == name:lower() then return v end end
    end,
    clear_header = function(name) result.cleared[#result.cleared + 1] = name end,
    get_raw_body = function()
      local chunk, eof = arg[1], arg[2]
      local buffer = ctx.KONG_BODY_BUFFER
      if eof and not buffer then return chunk end
      if type(chunk) == "string" and chunk ~= "" then
        buffer = buffer or { n = 0 }
        buffer.n = buffer.n + 1
        buffer[buffer.n] = chunk
        ctx.KONG_BODY_BUFFER = buffer
      end
      if eof then
        local body = buffer and table.concat(buffer, "", 1, buffer.n) or ""
        arg[1] = body
        ctx.KONG_BODY_BUFFER = nil
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


def run_response_filters(header_lua: str, body_lua: str, status: int, chunks: list[str],
                         headers: Optional[dict[str, str]] = None, plugin_ctx: Optional[dict] = None) -> FilterResult:
    """Runs a pre-function's header_filter and body_filter over an upstream answer (its status,
    headers and body in chunks), after the access phase left `plugin_ctx` in kong.ctx.plugin."""
    result = _luajit(FILTER_HARNESS, {"header": header_lua, "body": body_lua, "status": status, "chunks": chunks,
                                      "headers": headers or {}, "plugin_ctx": plugin_ctx or {}})
    return FilterResult(result["body"], list(result["cleared"] or []))
