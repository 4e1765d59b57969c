"""Storage's answers on a project's URL name its buckets as the app does: `avatars`, not the
bucket id `shop-avatars` that Storage holds (issue 20, "clients unchanged").

The request side (components/core/kong_storage_lua.py) maps a name to the project's id. An
app also reads what Storage answers: `getBucket('avatars')` gives `{id, name}`,
`listBuckets()` a list of them, `upload()` a `fullPath` that storage-js takes from the
answer's `Key` (`<bucket>/<path>`), copies and object infos a `bucket_id`. Hosted Supabase
answers with the name the app gave; so does this, for the answers of Storage v1.44.2 that
name a bucket (src/http/routes/ at that tag; the routes are storage_routes.REPLIES):

- a bucket, `bucket`: getAllBuckets.ts (a list of rows `id, name, public, owner, ...`),
  getBucket.ts (one row) and createBucket.ts (`{name}`): the fields `id` and `name`;
- an object, `object`: createObject.ts and updateObject.ts (`{Id, Key}`), uploadSignedObject.ts
  (`{Key}`), copyObject.ts (`{Id, Key, ...the new object's row}`), getObjectInfo.ts (the
  object's row, through src/storage/renderer/info.ts) and deleteObjects.ts (the deleted
  rows): the field `Key`'s first segment and the field `bucket_id`, of the answer or of each
  element of a list. An object's own `name` and `id` are never touched.

Signed URLs keep the id they name (getSignedURL.ts and the others): a token signs its URL,
and the request side passes a project's own id unchanged.

An id goes back to a name only when the request side maps that name to that id again, so a
round trip never changes which bucket a client reaches; anything else (an id that is not the
project's) is left as Storage wrote it. The access chunk leaves the project's map and the
answer's kind in `kong.ctx.plugin.storage_reply`, which Kong keeps per plugin for the
request's later phases (kong/pdk/ctx.lua and kong/init.lua:268 at 3.9.3), so these two
chunks are the same text for every project. Only a 2xx JSON answer of those routes is
buffered, and re-encoded only when it names a bucket of the project, with the cjson settings
of the request side (an empty array stays `[]`).
"""
from __future__ import annotations

from components.core.kong_lua import compact

STORAGE_REPLY_HEADER_LUA = compact("""return function()
  local reply = kong.ctx.plugin.storage_reply
  if not reply then return end
  local status = kong.response.get_status()
  local kind = kong.response.get_header("Content-Type")
  if status < 200 or status > 299 or type(kind) ~= "string" or not string.find(kind, "^application/json") then
    kong.ctx.plugin.storage_reply = nil
    return
  end
  kong.response.clear_header("Content-Length")
end
""")

STORAGE_REPLY_BODY_LUA = compact("""local cjson = require "cjson.safe"
local json = cjson.new()
if json.decode_array_with_array_mt then json.decode_array_with_array_mt(true) end
local function name_of(id, r)
  if type(id) ~= "string" or string.sub(id, 1, #r.own) ~= r.own then return id end
  local name = string.sub(id, #r.own + 1)
  local again = r.names[name] or (r.ids[name] and name) or (r.own .. name)
  if again == id then return name end
  return id
end
-- the fields of one answer (or list element) that name a bucket; true when one changed
local function map_one(row, r)
  if type(row) ~= "table" then return false end
  local fields = r.kind == "bucket" and { "id", "name" } or { "bucket_id" }
  local changed = false
  for _, field in ipairs(fields) do
    local name = name_of(row[field], r)
    if name ~= row[field] then row[field], changed = name, true end
  end
  if r.kind == "object" and type(row.Key) == "string" then
    local given, rest = string.match(row.Key, "^([^/]+)(/.*)$")
    local name = given and name_of(given, r)
    if name and name ~= given then row.Key, changed = name .. rest, true end
  end
  return changed
end
return function()
  local r = kong.ctx.plugin.storage_reply
  if not r then return end
  local body = kong.response.get_raw_body()
  if not body then return end
  local data = json.decode(body)
  if type(data) ~= "table" then return end
  local changed = false
  for _, row in ipairs(data[1] ~= nil and data or { data }) do
    if map_one(row, r) then changed = true end
  end
  -- an answer that names no bucket of the project goes out as Storage wrote it
  if changed then kong.response.set_raw_body(json.encode(data)) end
end
""")
