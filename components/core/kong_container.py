"""What runs inside Kong's container: the start script and the config push.

Kong's admin API listens on the container's own loopback only, so no other container on
the stack network (edge functions, the log shipper, an SSRF in any service) can read keys
or rewrite routes through it. The program reaches it with `docker exec`, which needs the
Docker socket: the same trust as creating the containers in the first place.

Files, all in the kong user's home (the container's writable layer, not a volume):
- `base.yml`: uploaded with the container; the stack keys only.
- `live.yml`: the last full config Kong accepted from this program. A restart of the same
  container keeps it; a new container (rotated keys, new image) starts without it, from
  `base.yml`, until the config resource pushes again in the same `pulumi up`.
- `next.yml`, `next.json`: a push in progress (the JSON is the admin API's request body).
"""
from __future__ import annotations

HOME = "/home/kong"
BASE_FILE = f"{HOME}/base.yml"
LIVE_FILE = f"{HOME}/live.yml"
REJECTED_FILE = f"{HOME}/rejected.yml"
NEXT_FILE = "next.yml"
NEXT_BODY = "next.json"
ADMIN_LISTEN = "127.0.0.1:8001"
PUSH_TIMEOUT_SECONDS = 90

# Run as the container's entrypoint: `sh -c START_SCRIPT kong-start <home>`. A live config
# that this Kong refuses (say a file damaged on disk) is set aside, so Kong always starts,
# from the stack-only config at worst; the config resource notices and pushes again.
START_SCRIPT = """home="$1"
live="$home/live.yml"
if [ -s "$live" ] && ! kong config parse "$live" >/dev/null 2>&1; then
  mv -f "$live" "$home/rejected.yml"
  echo "kong: the last pushed config was refused; starting from the stack-only config until the next pulumi up" >&2
fi
if [ -s "$live" ]; then export KONG_DECLARATIVE_CONFIG="$live"; else export KONG_DECLARATIVE_CONFIG="$home/base.yml"; fi
exec /docker-entrypoint.sh kong docker-start
"""

# Run with `docker exec <kong> sh -c PUSH_SCRIPT kong-push <home> <timeout>` after next.yml and
# next.json were copied in. `kong config parse` explains a refused config (the admin API's
# 400 body is lost by busybox wget); POST /config swaps it in atomically, in memory; only a
# config Kong took becomes live.yml. A Kong that is starting (no answer) or busy (429 while
# it loads a config, 5xx: kong/api/routes/config.lua) is asked again until the timeout.
# Exit 3: refused; exit 4: no answer in time.
PUSH_SCRIPT = """home="$1"
deadline=$(( $(date +%%s) + $2 ))
if ! out=$(kong config parse "$home/next.yml" 2>&1); then echo "$out" >&2; exit 3; fi
until wget -q -O /dev/null --header "Content-Type: application/json" \\
    --post-file "$home/next.json" "http://%(admin)s/config" 2>"$home/push.err"; do
  case "$(cat "$home/push.err")" in
    *"server returned error: HTTP/1."?" 429"*|*"server returned error: HTTP/1."?" 5"*) ;;
    *"server returned error"*) cat "$home/push.err" >&2; exit 3 ;;
  esac
  if [ "$(date +%%s)" -ge "$deadline" ]; then cat "$home/push.err" >&2; exit 4; fi
  sleep 2
done
mv -f "$home/next.yml" "$home/live.yml"
rm -f "$home/next.json" "$home/push.err"
""" % {"admin": ADMIN_LISTEN}

# `docker exec <kong> sh -c DIGEST_SCRIPT kong-digest <home>`: the sha256 of live.yml, or nothing.
DIGEST_SCRIPT = """sha256sum "$1/live.yml" 2>/dev/null | cut -d' ' -f1"""
