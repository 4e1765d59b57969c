"""What runs inside Kong's container (kong/kong:3.9.3): the start script and the config push.

Kong's admin API listens on the container's own loopback only, so no other container on
the stack network (edge functions, the log shipper, an SSRF in any service) can read keys
or rewrite routes through it. The program reaches it with `docker exec`, which needs the
Docker socket: the same trust as creating the containers in the first place.

The image is Kong's own build (build/dockerfiles/deb.Dockerfile at tag 3.9.3): Debian
bookworm-slim with no wget or curl, user `kong` without a home folder (useradd without -m,
build/package/postinstall.sh), KONG_PREFIX /usr/local/kong owned by that user, OpenResty's
`resty` on the PATH, and /entrypoint.sh (build/dockerfiles/entrypoint.sh) as its
entrypoint. So the files live in the prefix and the push is a `resty -e` chunk using
lua-resty-http, a dependency Kong ships (kong-3.9.3-0.rockspec: lua-resty-http 0.17.2).

Files, all in the prefix (the container's writable layer, not a volume):
- `base.yml`: uploaded with the container; the stack keys only.
- `live.yml`: the last full config Kong accepted from this program. A restart of the same
  container keeps it; a new container (rotated keys, new image) starts without it, from
  `base.yml`, until the config resource pushes again in the same `pulumi up`.
- `next.yml`, `next.json`: a push in progress (the JSON is the admin API's request body).
"""
from __future__ import annotations

HOME = "/usr/local/kong"
BASE_FILE = f"{HOME}/base.yml"
LIVE_FILE = f"{HOME}/live.yml"
REJECTED_FILE = f"{HOME}/rejected.yml"
NEXT_FILE = "next.yml"
NEXT_BODY = "next.json"
ADMIN_LISTEN = "127.0.0.1:8001"
PUSH_TIMEOUT_SECONDS = 90
# kong/api/routes/config.lua at 3.9.3: with check_hash=1 a config whose hash Kong already runs
# is answered 304 and not loaded again; flatten_errors=1 makes a 400 list each refused field
# with the entity it belongs to (errors:declarative_config_flattened).
CONFIG_PATH = "/config?check_hash=1&flatten_errors=1"
PUSH_EXIT_REFUSED, PUSH_EXIT_NO_ANSWER = 3, 4

# Run as the container's entrypoint: `sh -c START_SCRIPT kong-start <prefix>`. A live config
# that this Kong refuses (say a file damaged on disk, or one an older Kong took) is set aside,
# so Kong always starts, from the stack-only config at worst; the config resource notices and
# pushes again. `kong config parse` is kong/cmd/config.lua (exit 1 on a refused file).
START_SCRIPT = """home="$1"
live="$home/live.yml"
if [ -s "$live" ] && ! kong config parse "$live" >/dev/null 2>&1; then
  mv -f "$live" "$home/rejected.yml"
  echo "kong: the last pushed config was refused; starting from the stack-only config until the next pulumi up" >&2
fi
if [ -s "$live" ]; then export KONG_DECLARATIVE_CONFIG="$live"; else export KONG_DECLARATIVE_CONFIG="$home/base.yml"; fi
exec /entrypoint.sh kong docker-start
"""

# Run by `resty -e` inside the container (resty-cli runs it in a timer, so cosockets and
# ngx.sleep work, and passes the environment through `env` directives, so os.getenv works).
# POST /config swaps the config in atomically, in memory: 201 taken, 304 already running (same
# hash); 400 refused, with the flattened errors; 429 while Kong loads another config and 5xx
# (kong/api/routes/config.lua) or no answer (Kong starting) are asked again until the deadline.
PUSH_LUA = """local http = require "resty.http"
local home, timeout = os.getenv("KONG_PUSH_HOME"), tonumber(os.getenv("KONG_PUSH_TIMEOUT"))
local file = assert(io.open(home .. "/%(body)s", "rb"))
local body = file:read("*a")
file:close()
ngx.update_time()
local deadline = ngx.now() + timeout
while true do
  local httpc = http.new()
  httpc:set_timeout(60000)
  local res, err = httpc:request_uri("http://%(admin)s%(path)s", {
    method = "POST", body = body, headers = { ["Content-Type"] = "application/json" } })
  if res and (res.status == 201 or res.status == 304) then
    io.stdout:write(res.status == 304 and "kong: config unchanged\\n" or "kong: config applied\\n")
    os.exit(0)
  end
  local seen = res and ("HTTP " .. res.status .. ": " .. tostring(res.body)) or ("no answer: " .. tostring(err))
  if res and res.status ~= 429 and res.status < 500 then
    io.stderr:write(seen, "\\n")
    os.exit(%(refused)d)
  end
  ngx.update_time()
  if ngx.now() >= deadline then
    io.stderr:write(seen, "\\n")
    os.exit(%(no_answer)d)
  end
  ngx.sleep(2)
end
""" % {"body": NEXT_BODY, "admin": ADMIN_LISTEN, "path": CONFIG_PATH,
       "refused": PUSH_EXIT_REFUSED, "no_answer": PUSH_EXIT_NO_ANSWER}

# Run with `docker exec <kong> sh -c PUSH_SCRIPT kong-push <prefix> <timeout> <PUSH_LUA>` after
# next.yml and next.json were copied in. Only a config Kong took becomes live.yml.
# Exit 3: refused; exit 4: no answer in time.
PUSH_SCRIPT = """home="$1"
KONG_PUSH_HOME="$home" KONG_PUSH_TIMEOUT="$2" resty -e "$3" || exit $?
mv -f "$home/next.yml" "$home/live.yml"
rm -f "$home/next.json"
"""

# `docker exec <kong> sh -c DIGEST_SCRIPT kong-digest <prefix>`: the sha256 of live.yml, or nothing.
DIGEST_SCRIPT = """sha256sum "$1/live.yml" 2>/dev/null | cut -d' ' -f1"""
