package addressfollow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// PeerResolver resolves the names under which a relaying engine (Relay routing) reaches its peers,
// <pod>.<Domain> (Domain being the StatefulSet's headless Service): by DNS, and where DNS does not answer (a
// cluster without cluster DNS), by reading the pod's IP from the API, which the engine's Role allows for the pods of
// the namespace's relaying servers, by name. Other names go to DNS alone.
type PeerResolver struct {
	DNS       ftpd.Resolver
	Client    *Client
	Namespace string
	Domain    string
}

var _ ftpd.Resolver = PeerResolver{}

// podIPs is what the resolver reads of a pod.
type podIPs struct {
	Status struct {
		PodIPs []struct {
			IP string `json:"ip"`
		} `json:"podIPs"`
	} `json:"status"`
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
	u := r.Client.Host + "/api/v1/namespaces/" + url.PathEscape(r.Namespace) + "/pods/" + url.PathEscape(pod)
	resp, err := r.Client.do(ctx, http.MethodGet, u, "", nil, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("resolving peer %s: DNS: %v; API: %w", host, dnsErr, err)
	}
	defer resp.Body.Close()
	var p podIPs
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return nil, fmt.Errorf("resolving peer %s: decoding pod %s: %w", host, pod, err)
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
