#!/usr/bin/env bash
# Builds decK, Kong's own declarative-config tool, at the pinned version from its published Go
# module with the ordinary Go tooling (Debian's deck is 1.4.0, which predates Kong 3.x and
# its `_format_version: "3.0"`; release binaries cannot be downloaded here).
#   scripts/build-deck.sh      prints the path of the deck binary
# Result: .tools/deck-<version>/bin/deck. Skips all work when that binary already exists.
# Go's own caches (go env GOMODCACHE GOCACHE) hold the downloads; nothing of decK is committed.
set -euo pipefail
cd "$(dirname "$0")/.."

version="$(tr -d '[:space:]' < scripts/deck.version)"
root="$PWD/.tools/deck-$version"
bin="$root/bin"

if [ -x "$bin/deck" ] && "$bin/deck" version 2>/dev/null | grep -q "${version#v}"; then
    echo "$bin/deck"
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build-deck: Go is needed to build decK (https://go.dev/doc/install)" >&2; exit 1; }

mkdir -p "$bin"
started=$SECONDS
echo "build-deck: building decK $version from github.com/kong/deck (cold: a few minutes)" >&2
# `go install pkg@version` refuses a module whose go.mod has replace directives (decK's has
# two), so the module is downloaded from the proxy and built in its own module root, where its
# go.mod, replaces and go.sum apply as in decK's own release build.
dir="$(go mod download -json "github.com/kong/deck@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] || { echo "build-deck: go mod download github.com/kong/deck@$version gave no folder" >&2; exit 1; }
# decK prints its version from this variable (github.com/kong/deck cmd/version.go).
(cd "$dir" && go build -trimpath -o "$bin/deck.tmp" -ldflags "-X github.com/kong/deck/cmd.VERSION=$version" . >&2)
mv "$bin/deck.tmp" "$bin/deck"
echo "build-deck: built $("$bin/deck" version 2>&1 | head -1) in $((SECONDS - started)) s" >&2
echo "$bin/deck"
