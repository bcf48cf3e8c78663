#!/usr/bin/env bash
# Builds MetalLB's controller (a real load-balancer address allocator) from the Go module proxy into
# bin/metallb/<version>/ with its CRDs, and prints that folder. Tests run it as a plain process against envtest.
# v0.16 needs a frr-k8s version the proxy does not serve; v0.15.2 with frr-k8s v0.0.21 builds.
set -euo pipefail
VERSION=${METALLB_VERSION:-0.15.2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/hack/lib/wrapper-module.sh"
DEST="$ROOT/bin/metallb/v$VERSION"
if [[ -x "$DEST/controller" && -d "$DEST/crds" ]]; then
	echo "$DEST"
	exit 0
fi
echo "metallb: building controller v$VERSION (cold: 1.5-5 min)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST/crds"
wrapper_module "$work" metallb go.universe.tf/metallb/controller
cd "$work"
go get github.com/metallb/frr-k8s@v0.0.21 "go.universe.tf/metallb@v$VERSION" >/dev/null 2>&1
go mod tidy >/dev/null 2>&1 || true
CGO_ENABLED=0 go build -trimpath -o "$DEST/controller" go.universe.tf/metallb/controller
src=$(go list -m -f '{{.Dir}}' "go.universe.tf/metallb")
cp "$src"/config/crd/bases/*.yaml "$DEST/crds/"
chmod u+w "$DEST"/crds/*.yaml
echo "$DEST"
