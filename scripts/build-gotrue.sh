#!/usr/bin/env bash
# Builds GoTrue (the supabase/auth Go module) at the commit of the pinned image's tag, for
# the auth tests (tests/gotrue.py), into .tools/gotrue/<tag>/auth. A warm machine skips it.
#   scripts/build-gotrue.sh
# The module path has no /v2 suffix, so the v2.x tags are not Go versions: the pin is the
# tag's commit as a pseudo-version. If the Go module proxy will not serve the module, this
# says so (the exact error, also in .tools/gotrue/build-error.txt) and exits 0: the tests
# then run against GoTrue's documented behaviour and say which one they used.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=v2.186.0  # components/core/images.py: supabase/gotrue:v2.186.0
PSEUDO=v0.0.0-20260128181220-effd66245bd9  # commit effd66245bd9 = tag v2.186.0
dir=".tools/gotrue/$TAG"
[ -x "$dir/auth" ] && exit 0
mkdir -p "$dir"
rm -f .tools/gotrue/build-error.txt
if ! command -v go >/dev/null 2>&1; then
    echo "go is not installed" > .tools/gotrue/build-error.txt
elif ! GOBIN="$PWD/$dir" go install "github.com/supabase/auth@$PSEUDO" 2> .tools/gotrue/build.log; then
    cp .tools/gotrue/build.log .tools/gotrue/build-error.txt
fi
if [ -s .tools/gotrue/build-error.txt ]; then
    echo "GoTrue $TAG could not be built; the auth tests use its documented behaviour:" >&2
    sed 's/^/  /' .tools/gotrue/build-error.txt >&2
fi
