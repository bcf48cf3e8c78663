#!/usr/bin/env bash
# Builds SeaweedFS (a real S3 server: `weed mini` runs master, volume, filer and S3 gateway in one process) from
# the Go module proxy into bin/seaweedfs/<version>/weed, and prints that folder. The engine's S3 backend tests run
# it as a plain process on loopback (test/support). The proxy lists no tagged versions: pin a pseudo-version.
set -euo pipefail
VERSION=${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/bin/seaweedfs/$VERSION"
if [[ -x "$DEST/weed" ]]; then
	echo "$DEST"
	exit 0
fi
echo "seaweedfs: building weed $VERSION (cold: about 3.5 min)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST"
cd "$work"
cat >go.mod <<MOD
module envtest.local/seaweedfs

go 1.26
MOD
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
GO
GOFLAGS=-mod=mod go get "github.com/seaweedfs/seaweedfs@$VERSION" >/dev/null 2>&1
# Build to a temporary name and rename, so a concurrent caller never sees a half-written binary.
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$DEST/weed.tmp.$$" github.com/seaweedfs/seaweedfs/weed
mv "$DEST/weed.tmp.$$" "$DEST/weed"
echo "$DEST"
