#!/usr/bin/env bash
# Builds the pinned Pulumi CLI from its published Go modules, with the ordinary Go tooling
# (release binaries cannot be downloaded here; the Go module proxy is reachable).
#   scripts/build-pulumi.sh      prints the folder holding bin/pulumi
# Result: .tools/pulumi-<version>/bin/pulumi and bin/pulumi-resource-pulumi-python (the
# Python dynamic-provider plugin, a shell script shipped in the sdk/v3 module). Skips all
# work when that pinned binary already exists. Go's own caches (go env GOMODCACHE GOCACHE)
# hold the downloads and compiled packages; nothing of Pulumi is committed.
set -euo pipefail
cd "$(dirname "$0")/.."

version="$(tr -d '[:space:]' < scripts/pulumi-cli.version)"  # pkg/v3 and sdk/v3 at this same version
root="$PWD/.tools/pulumi-$version"
bin="$root/bin"

if [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-resource-pulumi-python" ] \
        && [ "$("$bin/pulumi" version 2>/dev/null)" = "$version" ]; then
    echo "$root"
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build-pulumi: Go is needed to build the Pulumi CLI (https://go.dev/doc/install)" >&2; exit 1; }

# A throwaway module that requires both modules at the pinned version; pkg/v3's own
# `replace sdk/v3 => ../sdk` does not apply to a dependent module, so sdk/v3 is pinned here.
module="$root/module"
rm -rf "$module" && mkdir -p "$module" "$bin"
cat > "$module/go.mod" <<MOD
module supabase-multi-instance/tools/pulumi-cli

go 1.26
MOD
started=$SECONDS
echo "build-pulumi: building the Pulumi CLI $version from github.com/pulumi/pulumi/pkg/v3 (cold: several minutes)" >&2
(
    cd "$module"
    go get -tool "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$version" >&2
    go get "github.com/pulumi/pulumi/sdk/v3@$version" >&2
    go build -trimpath -o "$bin/pulumi.tmp" \
        -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
        github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
    sdk="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
    install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
)
mv "$bin/pulumi.tmp" "$bin/pulumi"
echo "build-pulumi: built $("$bin/pulumi" version) in $((SECONDS - started)) s" >&2
echo "$root"
