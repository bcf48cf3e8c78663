package addressfollow

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// PeerResolver resolves the names under which a relaying engine (Relay routing) reaches its peers,
// <pod>.<Domain> (Domain being the StatefulSet's headless Service): by DNS, and where DNS does not answer (a
// cluster without cluster DNS), by reading the pod's IP from the API, which the engine's Role allows for the pods of
// the namespace's relaying servers, by name. Other names go to DNS alone.
type PeerResolver struct {
	DNS    ftpd.Resolver
	Pods   corev1client.PodInterface
	Domain string
}

var _ ftpd.Resolver = PeerResolver{}

// NewPeerResolver returns a PeerResolver for the pods of namespace, with dns (net.DefaultResolver) first.
func NewPeerResolver(cfg *rest.Config, namespace, domain string, dns ftpd.Resolver) (PeerResolver, error) {
	c, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return PeerResolver{}, fmt.Errorf("building a client: %w", err)
	}
	return PeerResolver{DNS: dns, Pods: c.Pods(namespace), Domain: domain}, nil
}

// LookupNetIP implements ftpd.Resolver.
func (r PeerResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	pod, isPeer := strings.CutSuffix(host, "."+r.Domain)
	if !isPeer || r.Domain == "" || strings.Contains(pod, ".") {
		return r.DNS.LookupNetIP(ctx, network, host)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	addrs, dnsErr := r.DNS.LookupNetIP(dctx, network, host)
	cancel()
	if dnsErr == nil && len(addrs) > 0 {
		return addrs, nil
	}
	p, err := r.Pods.Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("resolving peer %s: DNS: %v; API: %w", host, dnsErr, err)
	}
	var out []netip.Addr
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("resolving peer %s: DNS: %v; pod %s has no IP", host, dnsErr, pod)
	}
	return out, nil
}
