//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The clients live in network namespaces routed through this machine, which is the cluster's only node:
//
//	natClient  192.168.77.2 ── 192.168.77.1 [natRouter: MASQUERADE] 10.203.0.2 ── 10.203.0.1 (host, ftpe2e-hn)
//	pubClient  10.203.1.2 ───────────────────────────────────────────────────────── 10.203.1.1 (host, ftpe2e-hp)
//
// The node forwards their packets to load-balancer addresses (kube-proxy DNATs them to the pod) and to the node
// address (NodePorts). Like a real outside client, they reach nothing else: a mangle PREROUTING chain drops
// their new connections to pod and cluster IPs, so an engine advertising a pod address would be caught. Every
// interface on the host side is named ftpe2e-*: the local cluster's guard lets them talk to the pod bridge
// and to nothing else.
const (
	natRouter   = "ftpe2e-nat"
	natClient   = "ftpe2e-lan"
	pubClient   = "ftpe2e-pub"
	natClientIP = "192.168.77.2"
	natOutside  = "10.203.0.2" // the address the NAT client appears as
	pubClientIP = "10.203.1.2"
	nodeIP      = "10.200.0.1"
	lbCIDR      = "10.201.0.0/24"
	clientChain = "FTPE2E-CLIENTS"
)

func sh(ctx context.Context, args ...string) error {
	out, err := command(ctx, 30*time.Second, args[0], args[1:]...)
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out))
	}
	return nil
}

func setupNetwork(ctx context.Context) error {
	teardownNetwork() // a previous run that was killed
	steps := [][]string{
		{"ip", "netns", "add", natRouter},
		{"ip", "netns", "add", natClient},
		{"ip", "netns", "add", pubClient},
		// host <-> NAT router
		{"ip", "link", "add", "ftpe2e-hn", "type", "veth", "peer", "name", "wan0", "netns", natRouter},
		{"ip", "addr", "add", "10.203.0.1/30", "dev", "ftpe2e-hn"},
		{"ip", "link", "set", "ftpe2e-hn", "up"},
		{"ip", "-n", natRouter, "addr", "add", natOutside + "/30", "dev", "wan0"},
		{"ip", "-n", natRouter, "link", "set", "wan0", "up"},
		{"ip", "-n", natRouter, "link", "set", "lo", "up"},
		{"ip", "-n", natRouter, "route", "add", "default", "via", "10.203.0.1"},
		// NAT router <-> client behind it
		{"ip", "-n", natRouter, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", natClient},
		{"ip", "-n", natRouter, "addr", "add", "192.168.77.1/24", "dev", "lan0"},
		{"ip", "-n", natRouter, "link", "set", "lan0", "up"},
		{"ip", "netns", "exec", natRouter, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "netns", "exec", natRouter, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE"},
		{"ip", "-n", natClient, "addr", "add", natClientIP + "/24", "dev", "eth0"},
		{"ip", "-n", natClient, "link", "set", "eth0", "up"},
		{"ip", "-n", natClient, "link", "set", "lo", "up"},
		{"ip", "-n", natClient, "route", "add", "default", "via", "192.168.77.1"},
		// host <-> routable client
		{"ip", "link", "add", "ftpe2e-hp", "type", "veth", "peer", "name", "eth0", "netns", pubClient},
		{"ip", "addr", "add", "10.203.1.1/30", "dev", "ftpe2e-hp"},
		{"ip", "link", "set", "ftpe2e-hp", "up"},
		{"ip", "-n", pubClient, "addr", "add", pubClientIP + "/30", "dev", "eth0"},
		{"ip", "-n", pubClient, "link", "set", "eth0", "up"},
		{"ip", "-n", pubClient, "link", "set", "lo", "up"},
		{"ip", "-n", pubClient, "route", "add", "default", "via", "10.203.1.1"},
		// what outside clients may reach: load-balancer addresses, the node address; replies to anything.
		{"iptables", "-t", "mangle", "-N", clientChain},
		{"iptables", "-t", "mangle", "-A", clientChain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"},
		{"iptables", "-t", "mangle", "-A", clientChain, "-d", lbCIDR, "-j", "RETURN"},
		{"iptables", "-t", "mangle", "-A", clientChain, "-d", nodeIP + "/32", "-j", "RETURN"},
		{"iptables", "-t", "mangle", "-A", clientChain, "-j", "DROP"},
		{"iptables", "-t", "mangle", "-I", "PREROUTING", "1", "-i", "ftpe2e-h+", "-j", clientChain},
	}
	for _, s := range steps {
		if err := sh(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

func teardownNetwork() {
	ctx := context.Background()
	for sh(ctx, "iptables", "-t", "mangle", "-D", "PREROUTING", "-i", "ftpe2e-h+", "-j", clientChain) == nil {
	}
	_ = sh(ctx, "iptables", "-t", "mangle", "-F", clientChain)
	_ = sh(ctx, "iptables", "-t", "mangle", "-X", clientChain)
	for _, ns := range []string{natClient, natRouter, pubClient} {
		_ = sh(ctx, "ip", "netns", "del", ns) // takes its veth ends, and so their host peers, with it
	}
	for _, l := range []string{"ftpe2e-hn", "ftpe2e-hp"} {
		_ = sh(ctx, "ip", "link", "del", l)
	}
}

// inNS builds a command that runs in network namespace ns (ip netns exec replaces itself with the command, so
// the process is the client itself: killing it kills the client).
func inNS(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME=/nonexistent")
	return cmd
}
