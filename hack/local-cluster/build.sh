#!/usr/bin/env bash
# Builds the binaries of a single-node cluster from the Go module proxy into bin/local-cluster/<k8s version>/
# and prints that folder: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (from
# k8s.io/kubernetes, staging modules replaced by their published versions, as hack/envtest-assets.sh does),
# and etcd. (No CoreDNS: nothing in the e2e resolves names; pods get a resolv.conf naming only 127.0.0.1.) Cached: a folder holding every binary is reused as it is (delete it to rebuild).
# Cold: about 13-20 minutes on 2 cores (less when the Go build cache already holds kube-apiserver); warm: seconds.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.6}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST="$ROOT/bin/local-cluster/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
log() { echo "local-cluster build: $(date -u +%H:%M:%S) $*" >&2; }

# kubectl too, when the machine has none (Debian 12 does not package it); LOCAL_CLUSTER_KUBECTL=1 forces it.
if [[ "${LOCAL_CLUSTER_KUBECTL:-}" == 1 ]] || ! command -v kubectl >/dev/null; then K8S_CMDS+=(kubectl); fi
missing=()
for b in "${K8S_CMDS[@]}" etcd; do [[ -x "$DEST/$b" ]] || missing+=("$b"); done
if ((${#missing[@]} == 0)); then
	echo "$DEST"
	exit 0
fi
mkdir -p "$DEST"
work=$(mktemp -d)
ticker=""
cleanup() {
	[[ -n "$ticker" ]] && kill "$ticker" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# progress: a line every 30 s with the build's elapsed time and how many packages the go tool has compiled,
# so that a 15-minute cold build never looks hung. Bounded: at most 2 hours.
progress() {
	local start=$SECONDS i
	for ((i = 0; i < 240; i++)); do
		sleep 30
		log "... still building $1: $((SECONDS - start)) s, $(wc -l <"$work/$1.log" 2>/dev/null || echo 0) packages compiled so far (last: $(tail -n1 "$work/$1.log" 2>/dev/null))"
	done
}

build() { # name, module dir, output (file or folder/), packages...
	local name=$1 dir=$2 out=$3
	shift 3
	progress "$name" &
	ticker=$!
	local rc=0
	(cd "$dir" && CGO_ENABLED=0 go build -v -trimpath -ldflags "${LDFLAGS:-}" -o "$out" "$@") 2>"$work/$name.log" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	ticker=""
	if ((rc != 0)); then
		grep -v '^[a-zA-Z0-9._/-]*$' "$work/$name.log" | tail -n 40 >&2
		log "building $name failed"
		exit 1
	fi
}

need() { local b; for b in "$@"; do [[ " ${missing[*]} " == *" $b "* ]] && return 0; done; return 1; }

if need "${K8S_CMDS[@]}"; then
	log "building ${missing[*]/etcd/} v$K8S_VERSION (cold: 10-20 min on 2 cores, warm: seconds)"
	gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	mkdir -p "$work/k8s"
	{
		echo "module localcluster.local/k8s"
		echo
		echo "go 1.26"
		echo
		echo "require k8s.io/kubernetes v$K8S_VERSION"
		echo
		sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 v0.'"${K8S_VERSION#1.}"'#p' "$gomod"
	} >"$work/k8s/go.mod"
	{
		echo "//go:build tools"
		echo
		echo "package tools"
		echo
		for c in "${K8S_CMDS[@]}"; do echo "import _ \"k8s.io/kubernetes/cmd/$c\""; done
	} >"$work/k8s/tools.go"
	LDFLAGS=""
	minor=${K8S_VERSION#*.}
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		LDFLAGS+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*} -X $pkg.gitMinor=${minor%%.*}"
	done
	(cd "$work/k8s" && go mod tidy -e >/dev/null 2>&1; go mod tidy)
	pkgs=()
	for c in "${K8S_CMDS[@]}"; do need "$c" && pkgs+=("k8s.io/kubernetes/cmd/$c"); done
	LDFLAGS=$LDFLAGS build kubernetes "$work/k8s" "$DEST/" "${pkgs[@]}"
	log "built ${pkgs[*]##*/}"
fi

envtest_etcd="$ROOT/bin/k8s/${K8S_VERSION}-linux-amd64/etcd" # hack/envtest-assets.sh builds the same etcd
if need etcd && [[ -x "$envtest_etcd" && "$("$envtest_etcd" --version 2>/dev/null)" == *"etcd Version: $ETCD_VERSION"* ]]; then
	cp "$envtest_etcd" "$DEST/etcd"
elif need etcd; then
	log "building etcd v$ETCD_VERSION (~1 min)"
	mkdir -p "$work/etcd"
	printf 'module localcluster.local/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$work/etcd/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$work/etcd/tools.go"
	(cd "$work/etcd" && go mod tidy)
	build etcd "$work/etcd" "$DEST/etcd" go.etcd.io/etcd/server/v3
fi

log "done"
echo "$DEST"
