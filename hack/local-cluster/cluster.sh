#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, built from source, on private addresses that exist only here.
#
#   hack/local-cluster/cluster.sh up       # build (cached in bin/local-cluster), start, wait for the node; idempotent
#   hack/local-cluster/cluster.sh status   # daemons, node, pods
#   hack/local-cluster/cluster.sh down     # stop everything by recorded PID, restore the machine as it was
#   hack/local-cluster/cluster.sh env      # print KUBECONFIG=... for the cluster
#   hack/local-cluster/cluster.sh import IMAGE.tar   # load an image tarball into the node's containerd
#
# Daemons: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (Debian's, private root,
# state and socket), kubelet, kube-proxy (iptables mode). Needs root, Debian 12 (installs containerd, runc,
# containernetworking-plugins, iptables, conntrack with apt-get when missing).
#
# Addresses (none routed off the machine; every interface the cluster creates is named ftpe2e-*):
#   node        10.200.0.1/32   on ftpe2e-node, a bridge with no ports (this kernel has no dummy device)
#   pods        10.244.0.0/24   on ftpe2e-cni0 (bridge CNI, no masquerade)
#   services    10.96.0.0/24    (kube-proxy)
#   LB pool     10.201.0.0/24   routed to ftpe2e-lb, a bridge with no ports; MetalLB hands out 10.201.0.10-250
# A guard chain in the mangle table drops anything forwarded between an ftpe2e-* interface and any other one,
# so pods and test namespaces never reach the outside. NodePorts answer on the node address only, so that the
# cluster never captures connections that other programs on this machine make to ports 30000-32767.
#
# Workarounds for this sandbox (see ../shared/notes/kubernetes-from-source.md): restrict_oom_score_adj (no
# CAP_SYS_RESOURCE), cgroup v1 with cgroupfs (failCgroupV1: false), bridges instead of dummy devices, InternalIP
# only, a resolv.conf naming only 127.0.0.1 (no outside resolver), no CoreDNS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/hack/local-cluster"
STATE=${LOCAL_CLUSTER_STATE:-/var/lib/ftp-operator-local-cluster}
RUN=/run/ftp-operator-local-cluster
NODE_NAME=ftpe2e-node
NODE_IP=10.200.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/24
SERVICE_IP=10.96.0.1
LB_CIDR=10.201.0.0/24
LB_BRIDGE_IP=10.201.0.254
API_PORT=6443
PAUSE_IMAGE=localhost/local-cluster-pause:1
# sysctls the cluster changes (here, or kubelet and kube-proxy do); saved on up, restored on down.
SYSCTLS=(net/ipv4/ip_forward net/ipv4/conf/all/route_localnet net/bridge/bridge-nf-call-iptables
	net/bridge/bridge-nf-call-ip6tables vm/overcommit_memory kernel/panic kernel/panic_on_oops
	net/netfilter/nf_conntrack_max net/netfilter/nf_conntrack_tcp_timeout_established
	net/netfilter/nf_conntrack_tcp_timeout_close_wait)
# Paths other software might create by default; removed on down only when they did not exist before up.
FOREIGN_PATHS=(/var/lib/cni /run/containerd /var/run/netns /run/netns /opt/cni)

log() { echo "local-cluster: $(date -u +%H:%M:%S) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
KUBECTL() { kubectl --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

# wait_for DESCRIPTION SECONDS COMMAND...: poll every 0.5 s, bounded.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 2; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	log "timed out after ${secs}s waiting for $what"
	return 1
}

pid_alive() { [[ -f "$STATE/pids/$1" ]] && kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; }

# start NAME BINARY ARGS...: a daemon in its own session, its PID recorded in $STATE/pids/NAME.
start() {
	local name=$1
	shift
	if pid_alive "$name"; then
		log "$name already running (pid $(cat "$STATE/pids/$name"))"
		return 0
	fi
	setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$STATE/pids/$name"
	log "started $name (pid $!, log $STATE/logs/$name.log)"
}

# stop NAME: SIGTERM to the recorded PID, SIGKILL after 15 s. Only ever the PID we recorded.
stop() {
	local name=$1 pid i
	[[ -f "$STATE/pids/$name" ]] || return 0
	pid=$(cat "$STATE/pids/$name")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name (pid $pid) ignored SIGTERM for 15 s; SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
		fi
		log "stopped $name (pid $pid)"
	fi
	rm -f "$STATE/pids/$name"
}

install_packages() {
	local missing=() p
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] || missing+=(containernetworking-plugins)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v conntrack >/dev/null || missing+=(conntrack)
	command -v openssl >/dev/null || missing+=(openssl)
	((${#missing[@]} == 0)) && return 0
	log "installing ${missing[*]} from Debian packages"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$STATE/logs/apt.log" 2>&1 ||
		{ cat "$STATE/logs/apt.log" >&2; die "apt-get failed"; }
	# Debian starts the packaged containerd as a service; this cluster runs its own, private one.
	for p in "${missing[@]}"; do [[ $p == containerd ]] && log "note: Debian's containerd service was installed; this cluster does not use it"; done
	return 0
}

# ---- PKI ---------------------------------------------------------------------------------------------------
cert() { # name CN O [SAN]
	local name=$1 cn=$2 o=$3 san=${4:-} d="$STATE/pki"
	[[ -f "$d/$name.crt" ]] && return 0
	openssl genrsa -out "$d/$name.key" 2048 2>/dev/null
	local subj="/CN=$cn"
	[[ -n "$o" ]] && subj="/O=$o/CN=$cn"
	openssl req -new -key "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=serverAuth,clientAuth"
		[[ -n "$san" ]] && echo "subjectAltName=$san"
	} >"$d/$name.ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
		-extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
	rm -f "$d/$name.csr" "$d/$name.ext"
}

kubeconfig() { # file cert-name
	local f="$STATE/$1" c=$2
	[[ -f "$f" ]] && return 0
	kubectl config --kubeconfig "$f" set-cluster local --server "https://$NODE_IP:$API_PORT" \
		--certificate-authority "$STATE/pki/ca.crt" --embed-certs >/dev/null
	kubectl config --kubeconfig "$f" set-credentials user --client-certificate "$STATE/pki/$c.crt" \
		--client-key "$STATE/pki/$c.key" --embed-certs >/dev/null
	kubectl config --kubeconfig "$f" set-context local --cluster local --user user >/dev/null
	kubectl config --kubeconfig "$f" use-context local >/dev/null
}

pki() {
	local d="$STATE/pki"
	mkdir -p "$d"
	chmod 700 "$d"
	if [[ ! -f "$d/ca.crt" ]]; then
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 30 \
			-subj "/CN=ftp-operator-local-cluster-ca" 2>/dev/null
	fi
	cert apiserver kube-apiserver "" "IP:$NODE_IP,IP:$SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
	cert admin admin system:masters
	cert controller-manager system:kube-controller-manager ""
	cert scheduler system:kube-scheduler ""
	cert kubelet "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
	cert kube-proxy system:kube-proxy ""
	[[ -f "$d/sa.key" ]] || { openssl genrsa -out "$d/sa.key" 2048 2>/dev/null && openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null; }
	kubeconfig admin.kubeconfig admin
	kubeconfig controller-manager.kubeconfig controller-manager
	kubeconfig scheduler.kubeconfig scheduler
	kubeconfig kubelet.kubeconfig kubelet
	kubeconfig kube-proxy.kubeconfig kube-proxy
}

# ---- host network --------------------------------------------------------------------------------------------
save_machine_state() {
	[[ -f "$STATE/machine.orig" ]] && return 0
	local s p
	{
		for s in "${SYSCTLS[@]}"; do
			[[ -f /proc/sys/$s ]] && echo "sysctl $s $(cat "/proc/sys/$s")"
		done
		for p in "${FOREIGN_PATHS[@]}"; do [[ -e $p ]] && echo "path $p"; done
		for p in /sys/fs/cgroup/*/kubepods; do [[ -d $p ]] && echo "path $p"; done
	} >"$STATE/machine.orig.tmp"
	iptables_rules >"$STATE/iptables.orig"
	mv "$STATE/machine.orig.tmp" "$STATE/machine.orig"
}

# iptables_rules: every rule and user-defined chain, per table (not the empty built-in chains, which merely
# listing a table creates).
iptables_rules() {
	iptables-save 2>/dev/null | sed 's/\[[0-9]*:[0-9]*\]//' | grep -E '^(\*|-A |:[^ ]+ - *$)' | grep -v '^\*' || true
}

bridge() { # name [address]
	ip link show "$1" >/dev/null 2>&1 || ip link add "$1" type bridge
	[[ -n "${2:-}" ]] && { ip addr show dev "$1" | grep -qF " $2 " || ip addr add "$2" dev "$1"; }
	ip link set "$1" up
}

network_up() {
	bridge ftpe2e-node "$NODE_IP/32"
	bridge ftpe2e-lb "$LB_BRIDGE_IP/24"
	# Guard: nothing is forwarded between the cluster's interfaces (ftpe2e-*: pod bridge, test namespaces) and
	# any other interface, in either direction. In the mangle table, which kube-proxy and the kubelet leave alone,
	# so their ACCEPT rules in the filter table cannot come first.
	iptables -t mangle -N FTPE2E-GUARD 2>/dev/null || true
	iptables -t mangle -F FTPE2E-GUARD
	iptables -t mangle -A FTPE2E-GUARD -i ftpe2e+ ! -o ftpe2e+ -j DROP
	iptables -t mangle -A FTPE2E-GUARD ! -i ftpe2e+ -o ftpe2e+ -j DROP
	# Forwarding was off before: switching it on for the cluster must not make this machine a router for
	# anything else.
	if grep -qx 'sysctl net/ipv4/ip_forward 0' "$STATE/machine.orig"; then
		iptables -t mangle -A FTPE2E-GUARD ! -i ftpe2e+ ! -o ftpe2e+ -j DROP
	fi
	iptables -t mangle -C FORWARD -j FTPE2E-GUARD 2>/dev/null || iptables -t mangle -I FORWARD 1 -j FTPE2E-GUARD
	# Routed traffic from test namespaces and pods; bridged pod-to-pod traffic through kube-proxy's rules.
	echo 1 >/proc/sys/net/ipv4/ip_forward
	echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
	mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam"
	cat >"$STATE/cni/net.d/10-ftpe2e.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "ftpe2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "ftpe2e-cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
}

# ---- daemons -------------------------------------------------------------------------------------------------
containerd_config() {
	mkdir -p "$STATE/containerd" "$RUN"
	cat >"$STATE/containerd/config.toml" <<TOML
version = 2
root = "$STATE/containerd/root"
state = "$RUN/containerd"
[grpc]
  address = "$RUN/containerd.sock"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
TOML
}

kubelet_config() {
	echo "nameserver 127.0.0.1" >"$STATE/resolv.conf"
	mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
	cat >"$STATE/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $STATE/pki/kubelet.crt
tlsPrivateKeyFile: $STATE/pki/kubelet.key
containerRuntimeEndpoint: unix://$RUN/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: $STATE/resolv.conf
podLogsDir: $STATE/pod-logs
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
protectKernelDefaults: false
makeIPTablesUtilChains: true
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
YAML
}

kube_proxy_config() {
	cat >"$STATE/kube-proxy-config.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: $NODE_IP:10256
metricsBindAddress: $NODE_IP:10249
clusterCIDR: $POD_CIDR
# NodePorts only on the node address: never capture connections other programs here make to 30000-32767.
nodePortAddresses: ["$NODE_IP/32"]
iptables: {localhostNodePorts: false}
# Leave the machine's conntrack settings alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
}

api_ready() { KUBECTL get --raw /readyz; }

images() {
	local tools="$ROOT/bin/local-cluster/tools" tar="$ROOT/bin/local-cluster/tools/pause.tar"
	mkdir -p "$tools"
	if [[ ! -f "$tar" ]]; then
		(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$tools/pause" ./hack/local-cluster/pause)
		make -C "$ROOT" --no-print-directory "$ROOT/bin/imagepack" >/dev/null
		SOURCE_DATE_EPOCH=0 "$ROOT/bin/imagepack" --binary "$tools/pause" --entrypoint /pause --cmd "" --tag "$PAUSE_IMAGE" --out "$tar" >/dev/null
	fi
	import_image "$tar"
}

import_image() {
	ctr --address "$RUN/containerd.sock" -n k8s.io images import "$1" >/dev/null
}

up() {
	[[ $(id -u) == 0 ]] || die "needs root"
	mkdir -p "$STATE/pids" "$STATE/logs"
	install_packages
	local bins
	bins=$("$HERE/build.sh")
	ln -sfn "$bins" "$STATE/bin"
	command -v kubectl >/dev/null || PATH="$bins:$PATH" # build.sh built one
	save_machine_state
	network_up
	pki
	local t0=$SECONDS

	mkdir -p "$STATE/etcd"
	start etcd "$STATE/bin/etcd" --name local --data-dir "$STATE/etcd" \
		--listen-client-urls "http://$NODE_IP:2379" --advertise-client-urls "http://$NODE_IP:2379" \
		--listen-peer-urls "http://$NODE_IP:2380" --initial-advertise-peer-urls "http://$NODE_IP:2380" \
		--initial-cluster "local=http://$NODE_IP:2380" --listen-metrics-urls "http://$NODE_IP:2381" \
		--quota-backend-bytes 2147483648 --log-level warn
	start kube-apiserver "$STATE/bin/kube-apiserver" --etcd-servers "http://$NODE_IP:2379" \
		--bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
		--service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
		--client-ca-file "$STATE/pki/ca.crt" --tls-cert-file "$STATE/pki/apiserver.crt" --tls-private-key-file "$STATE/pki/apiserver.key" \
		--kubelet-client-certificate "$STATE/pki/apiserver-kubelet-client.crt" --kubelet-client-key "$STATE/pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$STATE/pki/ca.crt" --kubelet-preferred-address-types InternalIP \
		--service-account-key-file "$STATE/pki/sa.pub" --service-account-signing-key-file "$STATE/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--authorization-mode Node,RBAC --allow-privileged=true --profiling=false --event-ttl 1h
	wait_for "kube-apiserver" 120 api_ready || { tail -n 30 "$STATE/logs/kube-apiserver.log" >&2; exit 1; }
	log "kube-apiserver ready after $((SECONDS - t0)) s"
	start kube-controller-manager "$STATE/bin/kube-controller-manager" --kubeconfig "$STATE/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$STATE/controller-manager.kubeconfig" --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
		--bind-address "$NODE_IP" --leader-elect=false --use-service-account-credentials \
		--service-account-private-key-file "$STATE/pki/sa.key" --root-ca-file "$STATE/pki/ca.crt" \
		--cluster-signing-cert-file "$STATE/pki/ca.crt" --cluster-signing-key-file "$STATE/pki/ca.key" \
		--service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false --profiling=false
	start kube-scheduler "$STATE/bin/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
		--authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
		--bind-address "$NODE_IP" --leader-elect=false --profiling=false

	# Network namespaces the way `ip netns` wants them (/run/netns a shared bind mount of itself) before
	# containerd puts pod namespaces there: if `ip netns add` (the tests do) made that mount later, it would hide
	# containerd's namespace mounts, and neither could remove them again (EBUSY).
	if [[ ! -f "$STATE/netns-mount" ]]; then
		if mountpoint -q /run/netns 2>/dev/null; then echo existed >"$STATE/netns-mount"; else echo created >"$STATE/netns-mount"; fi
		ip netns add ftpe2e-probe && ip netns delete ftpe2e-probe
	fi
	containerd_config
	start containerd containerd --config "$STATE/containerd/config.toml"
	wait_for containerd 30 ctr --address "$RUN/containerd.sock" version || { tail -n 30 "$STATE/logs/containerd.log" >&2; exit 1; }
	images

	kubelet_config
	start kubelet "$STATE/bin/kubelet" --config "$STATE/kubelet-config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
		--root-dir "$STATE/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --cert-dir "$STATE/kubelet/pki"
	kube_proxy_config
	start kube-proxy "$STATE/bin/kube-proxy" --config "$STATE/kube-proxy-config.yaml"

	wait_for "node $NODE_NAME Ready" 120 KUBECTL wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s ||
		{ tail -n 30 "$STATE/logs/kubelet.log" >&2; exit 1; }
	wait_for "default ServiceAccount" 60 KUBECTL get serviceaccount default -n default
	log "cluster up: node $NODE_NAME Ready $((SECONDS - t0)) s after start; KUBECONFIG=$STATE/admin.kubeconfig"
}

# ---- teardown ------------------------------------------------------------------------------------------------
# Sandbox containers of this containerd: their network namespace paths (to delete when CNI DEL did not run).
sandbox_netns() {
	local id
	for id in $(ctr --address "$RUN/containerd.sock" -n k8s.io containers ls -q 2>/dev/null); do
		ctr --address "$RUN/containerd.sock" -n k8s.io containers info "$id" 2>/dev/null |
			sed -n 's/.*"path": "\(\/var\/run\/netns\/[^"]*\)".*/\1/p; s/.*"path": "\(\/run\/netns\/[^"]*\)".*/\1/p'
	done | sort -u
}

down() {
	[[ -d "$STATE" ]] || { log "nothing to tear down ($STATE does not exist)"; return 0; }
	set +e # tear down as much as possible, whatever fails
	# 1. Controllers first, so that nothing recreates the pods deleted next.
	stop kube-controller-manager
	stop kube-scheduler
	# 2. Pods away while the kubelet still runs: it stops them and calls CNI DEL (veths, IPAM, netns).
	if pid_alive kube-apiserver && pid_alive kubelet && api_ready >/dev/null 2>&1; then
		KUBECTL delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1 || true
		wait_for "pods to go" 60 bash -c "[[ -z \"\$(kubectl --kubeconfig '$STATE/admin.kubeconfig' get pods -A -o name 2>/dev/null)\" ]]" || true
	fi
	stop kube-proxy
	stop kubelet
	# 3. Whatever containers remain, by id; their network namespaces by the path containerd recorded.
	if pid_alive containerd; then
		local c="ctr --address $RUN/containerd.sock -n k8s.io" id ns leftover_ns
		leftover_ns=$(sandbox_netns)
		for id in $($c tasks ls -q 2>/dev/null); do $c tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
		sleep 1
		for id in $($c tasks ls -q 2>/dev/null); do $c tasks delete -f "$id" >/dev/null 2>&1 || true; done
		for id in $($c containers ls -q 2>/dev/null); do $c containers delete "$id" >/dev/null 2>&1 || true; done
		for ns in $leftover_ns; do
			[[ -e $ns ]] || continue
			ip netns delete "$(basename "$ns")" 2>/dev/null || { umount -l "$ns" 2>/dev/null; rm -f "$ns"; }
			log "removed leftover network namespace $ns"
		done
	fi
	stop containerd
	stop kube-apiserver
	stop etcd
	# 4. Mounts left under our folders (pod volumes, container root file systems, shm), deepest first.
	local m
	for m in $(awk '{print $2}' /proc/mounts | grep -E "^($STATE|$RUN)/" | sort -r); do umount -l "$m" 2>/dev/null || true; done
	# 5. iptables: kube-proxy's own cleanup, then the kubelet's chains, then our guard.
	if [[ -x "$STATE/bin/kube-proxy" ]]; then "$STATE/bin/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
	local t ch
	for t in filter nat mangle; do
		for ch in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-PROXY-CANARY KUBE-FORWARD KUBE-NODEPORTS KUBE-SERVICES KUBE-EXTERNAL-SERVICES KUBE-POSTROUTING KUBE-MARK-MASQ KUBE-MARK-DROP KUBE-PROXY-FIREWALL; do
			while iptables -t "$t" -S 2>/dev/null | grep -- "-j $ch\$" >/dev/null; do
				rule=$(iptables -t "$t" -S | grep -- "-j $ch\$" | head -n1 | sed 's/^-A /-D /')
				eval "iptables -t $t $rule" 2>/dev/null || break
			done
			iptables -t "$t" -F "$ch" 2>/dev/null || true
			iptables -t "$t" -X "$ch" 2>/dev/null || true
		done
	done
	while iptables -t mangle -D FORWARD -j FTPE2E-GUARD 2>/dev/null; do :; done
	iptables -t mangle -F FTPE2E-GUARD 2>/dev/null || true
	iptables -t mangle -X FTPE2E-GUARD 2>/dev/null || true
	# CNI bridge plugin leaves nothing in iptables with ipMasq false; portmap's chains (CNI-HOSTPORT-*) if any:
	for t in nat filter; do
		for ch in $(iptables -t "$t" -S 2>/dev/null | sed -n 's/^-N \(CNI-[A-Z0-9-]*\)$/\1/p'); do
			while rule=$(iptables -t "$t" -S | grep -- "-j $ch\$" | head -n1) && [[ -n $rule ]]; do
				eval "iptables -t $t ${rule/-A /-D }" 2>/dev/null || break
			done
			iptables -t "$t" -F "$ch" 2>/dev/null || true
			iptables -t "$t" -X "$ch" 2>/dev/null || true
		done
	done
	# Network namespaces of the e2e clients (named ftpe2e-*), if a test run was killed before its cleanup.
	for l in $(ip netns list 2>/dev/null | awk '$1 ~ /^ftpe2e-/ {print $1}'); do ip netns delete "$l" 2>/dev/null; done
	if [[ "$(cat "$STATE/netns-mount" 2>/dev/null)" == created ]] && mountpoint -q /run/netns &&
		[[ -z "$(ls -A /run/netns 2>/dev/null)" ]]; then
		umount /run/netns 2>/dev/null || umount -l /run/netns
	fi
	# mangle chains of the e2e tests (FTPE2E-*), if a run was killed before its cleanup.
	while iptables -t mangle -D PREROUTING -i ftpe2e-h+ -j FTPE2E-CLIENTS 2>/dev/null; do :; done
	iptables -t mangle -F FTPE2E-CLIENTS 2>/dev/null
	iptables -t mangle -X FTPE2E-CLIENTS 2>/dev/null
	# 6. Interfaces.
	for l in ftpe2e-cni0 ftpe2e-node ftpe2e-lb; do ip link del "$l" 2>/dev/null || true; done
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^ftpe2e' || true); do ip link del "$l" 2>/dev/null || true; done
	# 7. cgroups the kubelet created (cgroupfs driver), leaves first.
	local orig="$STATE/machine.orig"
	for m in /sys/fs/cgroup/*/kubepods; do
		[[ -d $m ]] || continue
		[[ -f $orig ]] && grep -qxF "path $m" "$orig" && continue
		find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	# 8. sysctls and paths as they were.
	if [[ -f $orig ]]; then
		while read -r kind a b; do
			[[ $kind == sysctl && -f /proc/sys/$a ]] && { [[ "$(cat "/proc/sys/$a")" == "$b" ]] || echo "$b" >"/proc/sys/$a" 2>/dev/null || log "could not restore $a"; }
		done <"$orig"
		for p in "${FOREIGN_PATHS[@]}"; do
			if [[ -e $p ]] && ! grep -qxF "path $p" "$orig"; then
				find "$p" -depth -type d -empty -delete 2>/dev/null || true
				[[ -e $p ]] && log "note: $p appeared while the cluster ran and is not empty; left in place"
			fi
		done
		if [[ -f "$STATE/iptables.orig" ]]; then
			iptables_rules >"$STATE/iptables.now"
			if ! diff -q "$STATE/iptables.orig" "$STATE/iptables.now" >/dev/null; then
				log "note: iptables differ from before up:"
				diff "$STATE/iptables.orig" "$STATE/iptables.now" >&2 || true
			fi
		fi
	fi
	rm -rf "$RUN"
	find "$STATE" -xdev -depth -delete 2>/dev/null || rm -rf "$STATE"
	log "down: every daemon stopped, interfaces, iptables rules, mounts, cgroups and sysctls as before"
}

status() {
	local n
	for n in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy; do
		if pid_alive "$n"; then echo "$n: running (pid $(cat "$STATE/pids/$n"))"; else echo "$n: stopped"; fi
	done
	if pid_alive kube-apiserver; then
		echo "KUBECONFIG=$STATE/admin.kubeconfig"
		KUBECTL get nodes -o wide 2>&1 || true
		KUBECTL get pods -A -o wide 2>&1 || true
	fi
}

# No kubectl on the machine: use the one build.sh made (if it did already).
if ! command -v kubectl >/dev/null && [[ -x "$STATE/bin/kubectl" ]]; then PATH="$STATE/bin:$PATH"; fi

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
env) echo "KUBECONFIG=$STATE/admin.kubeconfig" ;;
bindir) readlink -f "$STATE/bin" ;;
import) import_image "${2:?usage: cluster.sh import IMAGE.tar}" ;;
*)
	echo "usage: $0 up|down|status|env|import IMAGE.tar" >&2
	exit 2
	;;
esac
