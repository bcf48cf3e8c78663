#!/usr/bin/env bash
# Builds SeaweedFS (a real S3 server: `weed mini` runs master, volume, filer and S3 gateway in one process) from
# the Go module proxy into bin/seaweedfs/<version>/weed, and prints that folder. The engine's S3 backend tests run
# it as a plain process on loopback (test/support). The proxy lists no tagged versions: pin a pseudo-version.
#
#   hack/seaweedfs.sh         # builds weed (once per version), prints its folder
#   hack/seaweedfs.sh image   # also packs it (once per version) into bin/seaweedfs/<version>/image.tar with
#                             # $IMAGEPACK (default bin/imagepack), prints "TARBALL REPOSITORY:TAG"; the e2e
#                             # suite imports it into the local cluster (test/e2e TestObjectStorage)
set -euo pipefail
VERSION=${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/hack/lib/wrapper-module.sh"
DEST="$ROOT/bin/seaweedfs/$VERSION"
if [[ ${1:-} == image ]]; then
	tar="$DEST/image.tar"
	tag="localhost/seaweedfs:$VERSION"
	if [[ ! -s $tar ]]; then
		"$0" >/dev/null
		echo "seaweedfs: packing weed $VERSION into $tar" >&2
		# Entrypoint /weed, no default arguments (the pod gives them), nonroot; timestamps at the epoch, so one
		# weed binary always gives one image. imagepack writes to a temporary file and renames it.
		SOURCE_DATE_EPOCH=0 "${IMAGEPACK:-$ROOT/bin/imagepack}" --binary "$DEST/weed" --entrypoint /weed --cmd "" \
			--tag "$tag" --out "$tar" --label org.opencontainers.image.title=seaweedfs \
			--label org.opencontainers.image.version="$VERSION" >&2
	fi
	echo "$tar $tag"
	exit 0
fi
if [[ -x "$DEST/weed" ]]; then
	echo "$DEST"
	exit 0
fi
echo "seaweedfs: building weed $VERSION (cold: about 3.5 min)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST"
wrapper_module "$work" seaweedfs github.com/seaweedfs/seaweedfs/weed
cd "$work"
GOFLAGS=-mod=mod go get "github.com/seaweedfs/seaweedfs@$VERSION" >/dev/null 2>&1
# Build to a temporary name and rename, so a concurrent caller never sees a half-written binary.
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$DEST/weed.tmp.$$" github.com/seaweedfs/seaweedfs/weed
mv "$DEST/weed.tmp.$$" "$DEST/weed"
echo "$DEST"
