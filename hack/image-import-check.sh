#!/usr/bin/env bash
# Proves that an image tarball from `make image` loads into containerd the way a cluster node loads it
# (`ctr -n k8s.io images import`), with its layers unpacked into the overlayfs snapshotter.
#
#   hack/image-import-check.sh bin/image/ftp-operator-v0.1.0.tar localhost/ftp-operator:v0.1.0
#
# It starts a private containerd (own root, state and socket under a temporary folder, CRI plugin off), so it
# touches no containerd the machine already runs, and stops it by its PID. Needs root and Debian's containerd.
set -euo pipefail

tar=${1:?usage: image-import-check.sh IMAGE.tar NAME}
name=${2:?usage: image-import-check.sh IMAGE.tar NAME}
command -v containerd >/dev/null && command -v ctr >/dev/null ||
	{ echo "image-import-check: needs containerd and ctr (apt-get install containerd)" >&2; exit 1; }

work=$(mktemp -d)
pid=""
cleanup() {
	if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	umount -R "$work/root" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
TOML
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
	ctr --address "$work/containerd.sock" version >/dev/null 2>&1 && break
	sleep 0.1
done
c() { ctr --address "$work/containerd.sock" -n k8s.io "$@"; }

c images import "$tar"
c images ls | grep -F "$name" || { echo "image-import-check: $name not listed after import" >&2; exit 1; }
c images check | grep -F "$name" | grep -q 'complete' || { echo "image-import-check: $name incomplete" >&2; c images check; exit 1; }
# The unpacked root file system holds the binary.
c snapshots ls | grep -q . || { echo "image-import-check: nothing unpacked" >&2; exit 1; }
mnt="$work/mnt"
mkdir -p "$mnt"
ctr --address "$work/containerd.sock" -n k8s.io images mount "$name" "$mnt" >/dev/null
ls -l "$mnt/ftp-operator" "$mnt/etc/passwd"
test -x "$mnt/ftp-operator"
ctr --address "$work/containerd.sock" -n k8s.io images unmount "$mnt" >/dev/null
echo "image-import-check: $name imported and unpacked by containerd $(containerd --version | awk '{print $3}')"
