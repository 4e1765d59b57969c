"""The bucket map of a project's Storage routes (issue 20): a client names a bucket as the app
names it, `storage.from('avatars')`, and Storage gets the project's bucket id, `shop-avatars`.

Bucket ids are global in the one Storage service, so a project's bucket `avatars` is stored
as `<project>-avatars` (components/core/buckets.py). On the project's URL this chunk, run
in the pre-function after the project guard (or after the credential stripper of the keyless
routes), rewrites every place a request names a bucket, as Storage v1.44.2 reads it
(components/core/storage_routes.py): the bucket segment of the path, the bucket fields of
the JSON bodies storage-js sends (copy, move, createBucket, updateBucket), and the bucket of
a resumable upload (its Upload-Metadata header, then its upload id); the answers that name a
bucket are mapped back by components/core/kong_storage_reply_lua.py. Each bucket is mapped:

1. one of the project's bucket names (the explicit map: config buckets and an imported app's
   buckets) -> its id;
2. one of the project's ids -> unchanged, so clients that call `from('shop-avatars')` and the
   URLs Storage itself returns (signed URLs, upload ids, all naming ids) keep working;
3. anything else -> `<project>-` in front. Project names never hold `-`, so an id that
   begins `<project>-` can only be this project's: another project's name or id lands in
   this project's namespace (`b`'s request for `avatars` is `b-avatars`, for `a-avatars`
   `b-a-avatars`), where it names no bucket of `a`. A name wins over an id: in a project
   with buckets `x` and `shop-x`, `shop-x` is the bucket named so (components/core/config
   refuses a bucket name that is another bucket's id, so that never happens).

A request on a Storage path the pinned Storage does not serve is answered 404 here, and the
S3, Iceberg and vector APIs are not served on a project's URL: a path whose bucket this map
cannot place never reaches Storage.

The chunk works on the normalized path (kong.request.get_path: `..`, `.` and `//` resolved,
unreserved escapes decoded, kong/pdk/request.lua and kong/tools/uri.lua at 3.9.3), the path
Kong's router matched, and sets the upstream path with kong.service.request.set_path,
which escapes it again (kong/pdk/service/request.lua:135-146). Bodies are re-encoded with a
cjson instance of their own that keeps `[]` as an array where Kong's cjson can (as Kong's own
kong/tools/cjson.lua does); the shared `cjson.safe` settings are never changed.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from components.core import storage_routes
from components.core.kong_lua import compact, lua_string

NOT_A_ROUTE = "not a Storage route"
BAD_BODY = "the body must be a JSON object whose buckets are strings"
BAD_UPLOAD = "not an upload id"
CLOSED = "not served on a project's URL"

# Both chunks: the project's map and how a path under its Storage routes is read.
_PRELUDE = """-- the project's local path prefix (on its hostname a path starts at /storage/v1)
local PREFIX = @PREFIX@
-- every bucket id of this project begins with it
local OWN = @OWN@
-- bucket name -> id, and the project's ids
local NAMES = @NAMES@
local IDS = @IDS@
local function refuse(status, message)
  return kong.response.exit(status, { statusCode = tostring(status), error = "Bucket", message = message })
end
local function unescape(s)
  return (string.gsub(s, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
local function bucket(given)
  local plain = unescape(given)
  if NAMES[plain] then return NAMES[plain] end
  if IDS[plain] then return given end
  return OWN .. given
end
-- the path after /storage/v1 (Kong's normalized path: the one its router matched)
local function storage_path()
  local path = kong.request.get_path()
  if PREFIX ~= "" and string.sub(path, 1, #PREFIX + 1) == PREFIX .. "/" then path = string.sub(path, #PREFIX + 1) end
  return string.match(path, "^/storage/v1(/.*)$")
end
"""

# The keyless routes (kong_config.STORAGE_OPEN): each serves one route of Storage whose
# bucket is the segment right after the route's path, followed by the object's path.
_OPEN = _PRELUDE + """local BASES = @BASES@
return function()
  local rest = storage_path()
  for _, base in ipairs(BASES) do
    if rest and string.sub(rest, 1, #base) == base then
      local given, tail = string.match(string.sub(rest, #base + 1), "^([^/]+)(/.*)$")
      if not given then break end
      return kong.service.request.set_path(base .. bucket(given) .. tail)
    end
  end
  return refuse(404, @NOT_A_ROUTE@)
end
"""

# The project's Storage route: every route of Storage, the bodies and resumable uploads.
_SOURCE = _PRELUDE + """local cjson = require "cjson.safe"
local json = cjson.new()
if json.decode_array_with_array_mt then json.decode_array_with_array_mt(true) end
-- Storage's routes per method, most leading literals first: segments, ":b" the bucket, "*" the rest
local ROUTES = {}
for method, list in pairs(@ROUTES@) do
  ROUTES[method] = {}
  for route in string.gmatch(list, "%S+") do
    local parts = { key = route }
    for part in string.gmatch(route .. "/", "([^/]*)/") do parts[#parts + 1] = part end
    table.insert(ROUTES[method], parts)
  end
end
-- "METHOD route" -> the JSON fields of its body that name buckets; -> what its answer names
local BODIES, REPLIES = @BODIES@, @REPLIES@
local PLAIN, CLOSED = @PLAIN@, @CLOSED@
local function split(path)
  local parts = {}
  for part in string.gmatch(string.sub(path, 2) .. "/", "([^/]*)/") do parts[#parts + 1] = part end
  return parts
end
local function match(route, segs)
  local n = #route
  if route[n] == "*" then
    if #segs < n then return nil end
  elseif #segs ~= n then
    return nil
  end
  local at = 0
  for i = 1, n do
    local want = route[i]
    if want == ":b" then
      if segs[i] == "" then return nil end
      at = i
    elseif want ~= "*" and segs[i] ~= want then
      return nil
    end
  end
  return at
end
local function b64url_decode(s)
  if string.find(s, "[^%w_-]") then return nil end
  local padded = string.gsub(string.gsub(s, "%-", "+"), "_", "/") .. string.rep("=", (4 - #s % 4) % 4)
  return ngx.decode_base64(padded)
end
local function b64url_encode(s)
  return (string.gsub(string.gsub(ngx.encode_base64(s, true), "%+", "-"), "/", "_"))
end
local function map_body(fields)
  -- a body nginx kept in a file is read from it, up to 64 KiB (kong/pdk/request.lua get_raw_body)
  local body = kong.request.get_raw_body(65536)
  if body == nil then return refuse(413, "request body too large") end
  local data = json.decode(body)
  if type(data) ~= "table" or data[1] ~= nil or next(data) == nil and string.find(body, "^%s*%[") then
    return refuse(400, @BAD_BODY@)
  end
  for _, field in ipairs(fields) do
    local value = data[field]
    if value ~= nil then
      if type(value) ~= "string" then return refuse(400, @BAD_BODY@) end
      data[field] = bucket(value)
    end
  end
  kong.service.request.set_raw_body(json.encode(data))
end
local function map_metadata()
  local header = kong.request.get_header("upload-metadata")
  if header == nil then return end
  if type(header) ~= "string" then return refuse(400, @BAD_UPLOAD@) end
  local pairs_out = {}
  for item in string.gmatch(header, "[^,]+") do
    local key, value = string.match(item, "^%s*(%S+)%s*(%S*)%s*$")
    if not key then return refuse(400, @BAD_UPLOAD@) end
    if key == "bucketName" then
      local name = ngx.decode_base64(value)
      if not name then return refuse(400, @BAD_UPLOAD@) end
      value = ngx.encode_base64(bucket(name))
    end
    pairs_out[#pairs_out + 1] = value == "" and key or (key .. " " .. value)
  end
  kong.service.request.set_header("Upload-Metadata", table.concat(pairs_out, ","))
end
local function map_upload(segs, first)
  local err = map_metadata()
  if err then return err end
  if segs[first] == "sign" then first = first + 1 end
  local id = segs[first]
  if id == nil or id == "" then
    if segs[first + 1] ~= nil then return refuse(404, @NOT_A_ROUTE@) end
    return
  end
  if segs[first + 1] ~= nil and (segs[first + 1] ~= "" or segs[first + 2] ~= nil) then
    return refuse(404, @NOT_A_ROUTE@)
  end
  local text = b64url_decode(id)
  local name, rest = string.match(text or "", "^([^/]+)(/.+)$")
  if not name then return refuse(400, @BAD_UPLOAD@) end
  segs[first] = b64url_encode(bucket(name) .. rest)
end
return function()
  local method = kong.request.get_method()
  if method == "OPTIONS" then return end
  local rest = storage_path()
  if not rest then return refuse(404, @NOT_A_ROUTE@) end
  local segs = split(rest)
  local top = segs[1]
  if PLAIN[top] then return end
  if CLOSED[top] then return refuse(404, @CLOSED_MESSAGE@) end
  if top == "upload" and segs[2] == "resumable" then
    local err = map_upload(segs, 3)
    if err then return err end
  else
    local found, key
    for _, route in ipairs(ROUTES[method] or {}) do
      found = match(route, segs)
      if found then key = method .. " " .. route.key; break end
    end
    if not found then return refuse(404, @NOT_A_ROUTE@) end
    if found > 0 then segs[found] = bucket(segs[found]) end
    if REPLIES[key] then
      -- for the answer's filters (components/core/kong_storage_reply_lua.py)
      kong.ctx.plugin.storage_reply = { kind = REPLIES[key], own = OWN, names = NAMES, ids = IDS }
    end
    if BODIES[key] then
      local err = map_body(BODIES[key])
      if err then return err end
    end
  end
  kong.service.request.set_path("/" .. table.concat(segs, "/"))
end
"""


def _set(keys) -> str:
    return "{" + ", ".join(f"[{lua_string(k)}] = true" for k in keys) + "}"


def _routes() -> str:
    """Each method's routes as one string, split when the chunk loads (a smaller config)."""
    return "{" + ", ".join(f"[{lua_string(m)}] = " + lua_string(" ".join("/".join(r) for r in storage_routes.ordered(m)))
                           for m in storage_routes.ROUTES) + "}"


def _bodies() -> str:
    return "{" + ", ".join(f"[{lua_string(k)}] = {{" + ", ".join(lua_string(f) for f in fields) + "}"
                           for k, fields in storage_routes.BODIES.items()) + "}"


def _replies() -> str:
    return "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in storage_routes.REPLIES.items()) + "}"


def _fill(source: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        source = source.replace(f"@{name}@", value)
    return compact(source)


def _project(project: str, prefix: str, buckets: Mapping[str, str]) -> dict[str, str]:
    return {"PREFIX": lua_string(prefix), "OWN": lua_string(f"{project}-"),
            "NAMES": "{" + ", ".join(f"[{lua_string(n)}] = {lua_string(i)}" for n, i in sorted(buckets.items())) + "}",
            "IDS": _set(sorted(set(buckets.values()))), "NOT_A_ROUTE": lua_string(NOT_A_ROUTE)}


def bucket_map_lua(project: str, prefix: str, buckets: Mapping[str, str]) -> str:
    """The chunk of project `project`'s Storage route (local path prefix `prefix`); `buckets`
    maps each of its bucket names to its id."""
    return _fill(_SOURCE, {
        **_project(project, prefix, buckets), "ROUTES": _routes(), "BODIES": _bodies(), "REPLIES": _replies(),
        "PLAIN": _set(storage_routes.PLAIN), "CLOSED": _set(storage_routes.CLOSED),
        "BAD_BODY": lua_string(BAD_BODY), "BAD_UPLOAD": lua_string(BAD_UPLOAD), "CLOSED_MESSAGE": lua_string(CLOSED)})


def open_bucket_map_lua(project: str, prefix: str, buckets: Mapping[str, str], bases: Sequence[str]) -> str:
    """The chunk of the project's keyless Storage routes, whose paths are `bases` (each ends in `/`)."""
    ordered = sorted(bases, key=len, reverse=True)
    return _fill(_OPEN, {**_project(project, prefix, buckets),
                         "BASES": "{" + ", ".join(lua_string(b) for b in ordered) + "}"})
