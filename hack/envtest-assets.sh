#!/usr/bin/env bash
# Provides a kube-apiserver and etcd for envtest in bin/k8s/<version>-linux-amd64 and prints that folder.
#
# 1. Already there: print it (the cache; delete the folder to rebuild).
# 2. setup-envtest can download (a normal laptop or CI with internet): use it.
# 3. Otherwise build both from the Go module proxy: a throwaway wrapper module requires
#    k8s.io/kubernetes@v$K8S_VERSION with every staging module replaced by its published k8s.io/X@v0.Y.Z.
#    Cold: about 5-7 minutes on 2 cores; warm (Go build cache): seconds.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/hack/lib/wrapper-module.sh"
DEST="$ROOT/bin/k8s/${K8S_VERSION}-linux-amd64"
log() { echo "envtest-assets: $*" >&2; }

if [[ -x "$DEST/kube-apiserver" && -x "$DEST/etcd" ]]; then
	echo "$DEST"
	exit 0
fi
mkdir -p "$DEST"

if [[ "${ENVTEST_NO_DOWNLOAD:-}" != 1 ]]; then
	log "trying setup-envtest download of $K8S_VERSION"
	if GOBIN="$ROOT/bin" go install sigs.k8s.io/controller-runtime/tools/setup-envtest@release-0.22 >/dev/null 2>&1 &&
		dir=$(timeout 60 "$ROOT/bin/setup-envtest" use "$K8S_VERSION" --bin-dir "$ROOT/bin/setup-envtest-cache" -p path 2>/dev/null) &&
		[[ -x "$dir/kube-apiserver" ]]; then
		cp "$dir/kube-apiserver" "$dir/etcd" "$DEST/"
		echo "$DEST"
		exit 0
	fi
	log "download not possible here; building from the Go module proxy"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# kube-apiserver
log "building kube-apiserver v$K8S_VERSION (cold: ~5-7 min)"
gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
replaces=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 v0.'"${K8S_VERSION#1.}"'#p' "$gomod")
wrapper_module "$work/apiserver" apiserver k8s.io/kubernetes/cmd/kube-apiserver "require k8s.io/kubernetes v$K8S_VERSION" "$replaces"
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*}"
	minor=${K8S_VERSION#*.}
	ldflags+=" -X $pkg.gitMinor=${minor%%.*}"
done
(cd "$work/apiserver" && go mod tidy -e >/dev/null 2>&1 && go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$DEST/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)

# etcd
log "building etcd v$ETCD_VERSION (~40 s)"
wrapper_module "$work/etcd" etcd go.etcd.io/etcd/server/v3 "require go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
(cd "$work/etcd" && go mod tidy && CGO_ENABLED=0 go build -trimpath -o "$DEST/etcd" go.etcd.io/etcd/server/v3)

"$DEST/kube-apiserver" --version >&2
echo "$DEST"
