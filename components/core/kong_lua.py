"""The Lua that Kong 3.9.3 runs on the stack's routes: the project guard, the Storage re-signer,
the apikey copy of the shared routes and the PGRST106 filters. (The bucket map of a project's
Storage routes, which runs after the guard, is components/core/kong_storage_lua.py.)

Every chunk runs in Kong's Lua sandbox (untrusted_lua = sandbox) through the pre-function or
post-function plugin: the chunk returns the per-request function, which sees the PDK as
`kong` and `ngx` (kong/plugins/pre-function/_handler.lua:20 at tag 3.9.3) and may `require`
only what KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES lists (kong/tools/sandbox.lua:62-84):
`cjson.safe`, and `kong.plugins.jwt.jwt_parser` for the re-signer. Every value pasted into Lua goes through `lua_string`, so no key can break a chunk.

Why a project route is guarded this way (issue 17). The old guard read the `role` claim of a
bearer token and trusted whoever had signed it: a token of project a's GoTrue with role
b_service opened b. Now the order of Kong's access phase does the work, by priority
(kong/plugins/*/handler.lua at 3.9.3: pre-function 1000000, cors 2000, jwt 1450, acl 950,
post-function -1000):

1. the guard (pre-function) admits only this project's own four API keys as `apikey`, refuses
   a secret key from a browser, maps an opaque key (or a missing Authorization) to the
   project's own JWT, and refuses a bearer unless its header names one of this project's
   key ids and its `role` is one that key may carry. It reads claims, so it can only refuse;
2. Kong's jwt plugin then verifies the signature with that key id's public key
   (`key_claim_name: kid`, algorithm ES256), and `exp`;
3. the acl plugin lets through only the consumer holding this project's key ids, so a token
   another project's key signed fails there as well (the guard refuses it first);
4. on the Storage route a post-function re-signs the verified claims with the stack's HS256
   secret, the only key the shared single-tenant Storage can know without a restart.

The guard rewrites Authorization with `kong.service.request.set_header`, which is
`ngx.req.set_header` (kong/pdk/service/request.lua:334), and the jwt plugin reads it back
through `kong.request.get_headers()`, which is `ngx.req.get_headers` (kong/pdk/request.lua:660-680;
kong/plugins/jwt/handler.lua:55): both act on the same nginx request, so the jwt plugin
verifies exactly the token the guard checked and the upstream receives. The plugin also
gathers tokens from query arguments and cookies (handler.lua:28-97); the config names none
(templates/kong.yml.j2), so that bearer is the only token it sees.
"""
from __future__ import annotations

from typing import Mapping, Sequence

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+/=: ")
DENIED = "this key or token does not belong to this project"
BROWSER_SECRET = "secret API keys cannot be used in a browser"
SHARED_DENIED = "a project's role counts only in a token signed by that project's own key"


def lua_string(value: str) -> str:
    """`value` as a Lua 5.1 string literal: any byte outside a plain set as a 3-digit decimal
    escape (Lua 5.1 has no \\u escapes, so a JSON string is not always a Lua string)."""
    return '"' + "".join(chr(b) if chr(b) in _PLAIN else f"\\{b:03d}" for b in value.encode()) + '"'


def compact(source: str) -> str:
    """`source` without its comment lines and indentation: each chunk is pasted into every
    route of a project, and Kong's admin API takes a config of at most
    nginx_admin_client_max_body_size (kong/templates/kong_defaults.lua:114 at 3.9.3). Comments here
    stand on lines of their own, so no string (a JWT may hold `--`) is touched."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--")) + "\n"


def _table(pairs: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"[{lua_string(k)}] = {v}" for k, v in pairs.items()) + "}"


# base64url JSON part of a JWT -> table (nil for anything else); cjson.safe never raises.
# (Written for the %-formatted chunks below, hence `%%`.)
_JSON_PART = """local function json_part(part)
  local padded = part:gsub("-", "+"):gsub("_", "/") .. string.rep("=", (4 - #part %% 4) %% 4)
  local text = ngx.decode_base64(padded)
  return text and cjson.decode(text)
end
"""

# The stack's shared routes (key-auth, as before). A request with only an `apikey` (curl,
# websockets) gets it as its bearer token, as upstream's newer gateway does; PostgREST and the
# others then see its role instead of the anonymous default. And a bearer whose `role` is one
# of a project's roles must name, in its signed header, a key id that may carry that role:
# the services behind verify every project's keys, so without this a's GoTrue could mint
# b_service and use it on /rest/v1 with a's anon key. The header is part of what is signed,
# so no token holder can change its `kid`. Any other bearer passes on as before; the
# services verify it. Only a project's two JWTs are key-auth credentials there, never its
# opaque keys: a project's keys open the shared routes no more than before.
_SHARED = """local cjson = require "cjson.safe"
-- a project's role -> the key ids whose tokens may carry it
local ROLE_KIDS = %(role_kids)s
""" + _JSON_PART + """return function()
  local auth = kong.request.get_header("authorization")
  if not auth then
    local key = kong.request.get_header("apikey") or kong.request.get_query_arg("apikey")
    if type(key) ~= "string" then return end
    auth = "Bearer " .. key
    kong.service.request.set_header("Authorization", auth)
  end
  local token = type(auth) == "string" and string.match(auth, "^%%s*[Bb]earer%%s+(%%S+)%%s*$")
  local header_64, claims_64 = string.match(token or "", "^([%%w_-]+)%%.([%%w_-]+)%%.[%%w_-]+$")
  local claims = claims_64 and json_part(claims_64)
  if type(claims) ~= "table" then return end
  local kids = type(claims.role) == "string" and ROLE_KIDS[claims.role]
  if not kids then return end
  local header = json_part(header_64)
  if type(header) ~= "table" or type(header.kid) ~= "string" or not kids[header.kid]
     or (claims.kid ~= nil and claims.kid ~= header.kid) then
    return kong.response.exit(401, { message = %(denied)s })
  end
end
"""


def shared_route_lua(role_kids: Mapping[str, Sequence[str]]) -> str:
    """The pre-function of the stack's shared API routes; `role_kids` maps each project role
    to the key ids that may sign it (the stack's own roles are not in it)."""
    return compact(_SHARED % {
        "role_kids": _table({r: _table({k: "true" for k in kids}) for r, kids in role_kids.items()}),
        "denied": lua_string(SHARED_DENIED)})


_GUARD = """local cjson = require "cjson.safe"
local ANON, SERVICE = %(anon)s, %(service)s
-- apikey -> the JWT it stands for: the anon and service JWTs themselves, the opaque keys mapped
local KEYS = %(keys)s
local OPAQUE = %(opaque)s
local SECRET_KEY = %(secret)s
-- key id -> the roles a token it signed may carry on this project's URL
local KIDS = %(kids)s
""" + _JSON_PART + """local function refuse(message)
  return kong.response.exit(401, { message = message or %(denied)s })
end
return function()
  if kong.request.get_method() == "OPTIONS" and kong.request.get_header("origin")
     and kong.request.get_header("access-control-request-method") then
    -- a CORS preflight: the cors plugin answers it next, nothing reaches the upstream
    return
  end
  local query_key = kong.request.get_query_arg("apikey")
  local apikey = kong.request.get_header("apikey")
  if apikey == nil then apikey = query_key end
  local mapped = type(apikey) == "string" and KEYS[apikey]
  if not mapped then return refuse() end
  local browser = kong.request.get_header("origin") ~= nil
  if browser and apikey == SECRET_KEY then return refuse(%(browser)s) end
  local bearer = mapped
  local auth = kong.request.get_header("authorization")
  if auth ~= nil then
    local token = type(auth) == "string" and string.match(auth, "^%%s*[Bb]earer%%s+(%%S+)%%s*$")
    if not token then return refuse() end
    if string.sub(token, 1, 3) == "sb_" then
      bearer = OPAQUE[token]
      if not bearer then return refuse() end
      if browser and token == SECRET_KEY then return refuse(%(browser)s) end
    else
      bearer = token
    end
  end
  local header_64, claims_64 = string.match(bearer, "^([%%w_-]+)%%.([%%w_-]+)%%.[%%w_-]+$")
  local header = header_64 and json_part(header_64)
  local claims = claims_64 and json_part(claims_64)
  if type(header) ~= "table" or type(claims) ~= "table" then return refuse() end
  -- the jwt plugin looks the key up by claims.kid, then header.kid: both must name the same key
  local roles = type(header.kid) == "string" and KIDS[header.kid]
  if not roles or header.alg ~= "ES256" or (claims.kid ~= nil and claims.kid ~= header.kid)
     or type(claims.role) ~= "string" or not roles[claims.role] then
    return refuse()
  end
  kong.service.request.set_header("Authorization", "Bearer " .. bearer)
  kong.service.request.set_header("apikey", mapped)
  -- Realtime takes x-api-key before ?apikey
  kong.service.request.set_header("x-api-key", mapped)
  if query_key ~= nil then
    local args = kong.request.get_query()
    args.apikey = mapped
    kong.service.request.set_query(args)
  end
end
"""


def guard_lua(anon_jwt: str, service_jwt: str, publishable_key: str, secret_key: str,
              kid_roles: Mapping[str, Sequence[str]]) -> str:
    """The project guard: `kid_roles` maps each key id whose tokens count on this project's
    URL to the roles such a token may carry. Empty keys are left out (never an empty apikey)."""
    def entries(pairs: list[tuple[str, str, str]]) -> str:  # (key, JWT, its Lua name)
        return "{" + ", ".join(f"[{name if key == jwt else lua_string(key)}] = {name}"
                               for key, jwt, name in pairs if key and jwt) + "}"

    opaque = [(publishable_key, anon_jwt, "ANON"), (secret_key, service_jwt, "SERVICE")]
    return compact(_GUARD % {
        "anon": lua_string(anon_jwt) if anon_jwt else "false",
        "service": lua_string(service_jwt) if service_jwt else "false",
        "keys": entries([(anon_jwt, anon_jwt, "ANON"), (service_jwt, service_jwt, "SERVICE"), *opaque]),
        "opaque": entries(opaque),
        "secret": lua_string(secret_key) if secret_key else "false",
        "kids": _table({kid: _table({r: "true" for r in roles}) for kid, roles in kid_roles.items() if kid}),
        "denied": lua_string(DENIED), "browser": lua_string(BROWSER_SECRET),
    })


# Storage's keyless paths (supabase/storage v1.44.2, src/http/routes/object/index.ts: the
# routes registered without the jwt plugin, and render/index.ts likewise): public objects,
# GETs of signed URLs and PUTs of signed uploads, which Storage checks by the `token` it
# signed itself. No credential reaches Storage from them: a token there is never verified.
STORAGE_OPEN_LUA = """return function()
  kong.service.request.clear_header("Authorization")
  kong.service.request.clear_header("apikey")
  kong.service.request.clear_header("x-api-key")
end
"""

_RESIGN = """local cjson = require "cjson.safe"
local jwt_parser = require "kong.plugins.jwt.jwt_parser"
local SECRET = %(secret)s
""" + _JSON_PART + """return function()
  -- the token the jwt plugin verified (kong/plugins/jwt/handler.lua:146)
  local token = kong.ctx.shared.authenticated_jwt_token
  local claims_64 = type(token) == "string" and string.match(token, "^[%%w_-]+%%.([%%w_-]+)%%.[%%w_-]+$")
  local claims = claims_64 and json_part(claims_64)
  if type(claims) ~= "table" then
    return kong.response.exit(401, { message = %(denied)s })
  end
  local resigned = jwt_parser.encode(claims, SECRET, "HS256")
  kong.service.request.set_header("Authorization", "Bearer " .. resigned)
  kong.service.request.set_header("apikey", resigned)
end
"""


def storage_resign_lua(stack_jwt_secret: str) -> str:
    """Post-function of a project's Storage route: the verified claims, re-signed HS256.

    Storage v1.44.2 reads AUTH_JWT_SECRET / JWT_JWKS once at start; a project added later is
    unknown to it. It verifies an HS256 token without `kid` with AUTH_JWT_SECRET
    (src/internal/auth/jwt.ts:45-48), so the claims the jwt plugin verified with the
    project's own key reach Storage signed with the stack secret, unchanged but for cjson's
    round trip (an empty JSON array comes back as `{}`). `encode(data, key, alg, header)` is
    kong/plugins/jwt/jwt_parser.lua:293 at 3.9.3, exported as `_M.encode` at :468."""
    return compact(_RESIGN % {"secret": lua_string(stack_jwt_secret), "denied": lua_string(DENIED)})


# PostgREST answers a schema it does not serve with 406 PGRST106 and a hint listing every
# exposed schema (postgrest v14.5 src/PostgREST/Error.hs, UnacceptableSchema): every
# project's name. On the routes to PostgREST the hint is replaced; the message keeps the
# schema the client asked for. Only 406 bodies are buffered.
SCHEMA_LIST_HEADER_LUA = """return function()
  if kong.response.get_status() == 406 then
    kong.ctx.plugin.schema_error = true
    kong.response.clear_header("Content-Length")
  end
end
"""
SCHEMA_LIST_BODY_LUA = """local cjson = require "cjson.safe"
return function()
  if not kong.ctx.plugin.schema_error then return end
  local body = kong.response.get_raw_body()
  if not body then return end
  local err = cjson.decode(body)
  if type(err) == "table" and err.code == "PGRST106" then
    err.hint = "A key serves only its own project's schema, on the project's URL."
    kong.response.set_raw_body(cjson.encode(err))
  end
end
"""
