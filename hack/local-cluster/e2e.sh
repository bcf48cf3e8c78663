#!/usr/bin/env bash
# Drives the end-to-end tests and the developer cluster (make test-e2e, make dev, make dev-down).
#
#   hack/local-cluster/e2e.sh test      # local cluster up, test/e2e, local cluster down (always, by trap)
#   hack/local-cluster/e2e.sh dev       # local cluster up (kept), operator by its chart, a sample FTPServer
#   hack/local-cluster/e2e.sh dev-down  # remove all of it
#
# Inputs (make passes them): IMG (repository:tag), IMAGE_TAR (from `make image`), HELM.
# E2E_USE_CURRENT_CONTEXT=1: use the cluster of the current kubeconfig ($KUBECONFIG or ~/.kube/config) instead of
#   the local one. Then E2E_IMPORT is the command that loads an image tarball into it (for kind:
#   "kind load image-archive"; empty: the image is already pullable), E2E_METALLB=1 installs MetalLB's controller
#   and an address pool E2E_LB_RANGE (leave it off when the cluster has a load balancer), E2E_STORAGE_CLASS is
#   the class for the PersistentVolume scenario, and the client network namespaces need the load-balancer
#   addresses routable from this machine. An inherited KUBECONFIG alone never selects a cluster: the tests
#   create and delete namespaces, so pointing them at a real cluster takes this explicit switch.
# E2E_QUICKSTART_RANGE: the pool TestReadmeQuickstart gives the README's IPAddressPool (default
#   10.201.0.251-10.201.0.253); it must be routed like E2E_LB_RANGE and not overlap it.
# The SeaweedFS image of TestObjectStorage comes from hack/seaweedfs.sh image (built and packed once per version).
# E2E_RUN: a go test -run pattern. E2E_TIMEOUT: go test -timeout (default 30m).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER="$ROOT/hack/local-cluster/cluster.sh"
HELM=${HELM:-$ROOT/bin/helm}
IMG=${IMG:?IMG (repository:tag) is required}
IMAGE_TAR=${IMAGE_TAR:?IMAGE_TAR is required}
STATE=${LOCAL_CLUSTER_STATE:-/var/lib/ftp-operator-local-cluster}
DEV_NS=ftp-dev
log() { echo "e2e: $(date -u +%H:%M:%S) $*" >&2; }

current=""
[[ "${E2E_USE_CURRENT_CONTEXT:-}" == 1 ]] && current=1

cluster_running() { [[ "$("$CLUSTER" status 2>/dev/null)" == *"kube-apiserver: running"* ]]; }

local_env() {
	command -v kubectl >/dev/null || PATH="$("$CLUSTER" bindir):$PATH" # the kubectl build.sh made
	KUBECONFIG=$("$CLUSTER" env | sed 's/^KUBECONFIG=//')
	export KUBECONFIG
	E2E_IMPORT="$CLUSTER import"
	E2E_METALLB_BUNDLE=$("$ROOT/hack/local-cluster/metallb-bundle.sh")
	E2E_HOSTPATH_DIR=$(dirname "$KUBECONFIG")/e2e-volumes
	mkdir -p "$E2E_HOSTPATH_DIR"
}

current_env() {
	KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
	export KUBECONFIG
	log "using the current context of $KUBECONFIG: $(kubectl config current-context)"
	E2E_IMPORT=${E2E_IMPORT:-}
	# go test runs in test/e2e: a command given relative to the repository must become absolute.
	[[ -n $E2E_IMPORT && ${E2E_IMPORT:0:1} != / && -e "$ROOT/${E2E_IMPORT%% *}" ]] && E2E_IMPORT="$ROOT/$E2E_IMPORT"
	E2E_METALLB_BUNDLE=""
	[[ "${E2E_METALLB:-}" == 1 ]] && E2E_METALLB_BUNDLE=$("$ROOT/hack/local-cluster/metallb-bundle.sh")
	E2E_HOSTPATH_DIR=""
}

run_tests() {
	local t0=$SECONDS rc=0 sw_tar sw_img
	# SeaweedFS for TestObjectStorage: the image make test-e2e packed (seaweedfs-image), cached per version.
	read -r sw_tar sw_img < <("$ROOT/hack/seaweedfs.sh" image)
	(cd "$ROOT" && E2E_SEAWEEDFS_TAR="$sw_tar" E2E_SEAWEEDFS_IMAGE="$sw_img" E2E_KUBECONFIG="$KUBECONFIG" E2E_IMAGE="$IMG" E2E_IMAGE_TAR="$IMAGE_TAR" E2E_HELM="$HELM" \
		E2E_CHART="$ROOT/charts/ftp-operator" E2E_IMPORT="$E2E_IMPORT" E2E_METALLB_BUNDLE="$E2E_METALLB_BUNDLE" \
		E2E_HOSTPATH_DIR="$E2E_HOSTPATH_DIR" \
		go test -tags e2e -count=1 -v -timeout "${E2E_TIMEOUT:-30m}" ${E2E_RUN:+-run "$E2E_RUN"} ./test/e2e/) || rc=$?
	log "go test took $((SECONDS - t0)) s (exit $rc)"
	return $rc
}

test_e2e() {
	local t0=$SECONDS
	if [[ -n $current ]]; then
		current_env
		run_tests
		return
	fi
	if cluster_running; then
		if [[ "$(cat "$STATE/owner" 2>/dev/null)" != test-e2e ]]; then
			log "the local cluster is already running (make dev or make cluster-up); run 'make cluster-down' first"
			exit 1
		fi
		log "a previous test-e2e left its cluster running (killed?); tearing it down first"
		"$CLUSTER" down
	fi
	# Whatever happens from here on, the cluster goes away and the machine is as before.
	trap '"$CLUSTER" down' EXIT
	trap 'exit 130' INT TERM
	"$CLUSTER" up
	echo test-e2e >"$STATE/owner"
	log "cluster up after $((SECONDS - t0)) s"
	local_env
	run_tests
	log "test-e2e took $((SECONDS - t0)) s before teardown"
}

dev() {
	if [[ -n $current ]]; then
		current_env
	else
		"$CLUSTER" up
		local_env
	fi
	if [[ -n $E2E_IMPORT ]]; then
		$E2E_IMPORT "$IMAGE_TAR"
	fi
	local pull=Never
	[[ -z $E2E_IMPORT ]] && pull=IfNotPresent
	if [[ -n $E2E_METALLB_BUNDLE ]]; then
		[[ -n $E2E_IMPORT ]] && $E2E_IMPORT "$E2E_METALLB_BUNDLE/image.tar"
		kubectl apply --server-side --force-conflicts -k "$E2E_METALLB_BUNDLE" >/dev/null
		kubectl -n metallb-system rollout status deployment/controller --timeout=120s >/dev/null
		kubectl apply --server-side -f - >/dev/null <<YAML
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dev, namespace: metallb-system}
spec: {addresses: ["${E2E_LB_RANGE:-10.201.0.10-10.201.0.250}"]}
YAML
	fi
	log "installing the operator with its chart ($IMG)"
	"$HELM" upgrade --install ftp-operator "$ROOT/charts/ftp-operator" -n ftp-operator-system --create-namespace \
		--set image.repository="${IMG%:*}" --set image.tag="${IMG##*:}" \
		--set image.pullPolicy=$pull --set ftpd.image.pullPolicy=$pull --wait --timeout 3m >/dev/null
	# Restart the manager when the image changed under the same tag (a rebuilt -dirty tree).
	kubectl -n ftp-operator-system rollout restart deployment/ftp-operator-controller-manager >/dev/null
	kubectl -n ftp-operator-system rollout status deployment/ftp-operator-controller-manager --timeout=120s >/dev/null
	local pass
	pass=$(kubectl -n "$DEV_NS" get secret demo-users -o jsonpath='{.data.password}' 2>/dev/null | base64 -d || true)
	[[ -n $pass ]] || pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	kubectl create namespace "$DEV_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
	kubectl apply -n "$DEV_NS" --server-side -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: demo-users}
stringData: {password: "$pass"}
---
apiVersion: ftpoperator.io/v1alpha1
kind: FTPServer
metadata: {name: demo}
spec:
  users:
    - name: demo
      passwordSecretRef: {name: demo-users}
  service: {type: LoadBalancer}
  passivePorts: {count: 8}
  storage: {emptyDir: {}}
YAML
	log "waiting for FTPServer $DEV_NS/demo to be Ready"
	kubectl -n "$DEV_NS" wait ftpserver/demo --for=condition=Ready --timeout=180s >/dev/null
	local ep host port i
	ep=$(kubectl -n "$DEV_NS" get ftpserver demo -o jsonpath='{.status.endpoint}')
	host=${ep#ftp://}
	port=${host##*:}
	host=${host%:*}
	# kube-proxy programs the address about a second after Ready; wait for the greeting (bounded).
	for ((i = 0; i < 30; i++)); do
		timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port && head -c 3 <&3" 2>/dev/null | grep -q 220 && break
		sleep 1
	done
	cat <<EOF

FTP server ready: $ep   (kubectl: export KUBECONFIG=$KUBECONFIG)
  kubectl -n $DEV_NS get ftpserver demo
  curl --user demo:$pass $ep/                     # list
  curl --user demo:$pass -T README.md $ep/        # upload
  lftp -u demo,$pass $ep
Remove everything: make dev-down
EOF
}

dev_down() {
	if [[ -n $current ]]; then
		current_env
		kubectl delete namespace "$DEV_NS" --ignore-not-found --wait=true --timeout=120s
		"$HELM" uninstall ftp-operator -n ftp-operator-system --wait --timeout 2m || true
		return
	fi
	"$CLUSTER" down
}

case "${1:-}" in
test) test_e2e ;;
dev) dev ;;
dev-down) dev_down ;;
*)
	echo "usage: $0 test|dev|dev-down" >&2
	exit 2
	;;
esac
