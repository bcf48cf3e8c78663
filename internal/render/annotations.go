package render

import (
	"fmt"
	"slices"
	"strings"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// DefaultAllowedServiceAnnotations is the operator's default allow-list of the Service annotations a tenant may set
// through spec.service.annotations: the MetalLB address and pool a server asks for, and the cloud load-balancer
// annotations of the Kubernetes cloud providers (service.beta.kubernetes.io/..., which the documented EKS setup
// uses). Everything else is refused, notably metallb.io/allow-shared-ip, which would let one tenant share another
// tenant's address.
const DefaultAllowedServiceAnnotations = "metallb.io/loadBalancerIPs,metallb.io/address-pool,service.beta.kubernetes.io/*"

// AnnotationPolicy is a parsed allow-list of annotation keys: exact keys, "prefix/*" (every key that starts with
// "prefix/") and "*" (every key). The zero value allows nothing; use ParseAnnotationPolicy.
type AnnotationPolicy struct {
	exact    map[string]bool
	prefixes []string
	all      bool
}

// ParseAnnotationPolicy parses a comma-separated allow-list. Blanks around the patterns are ignored; an empty list
// allows no annotation.
func ParseAnnotationPolicy(list string) (AnnotationPolicy, error) {
	p := AnnotationPolicy{exact: map[string]bool{}}
	for _, pat := range strings.Split(list, ",") {
		pat = strings.TrimSpace(pat)
		switch {
		case pat == "":
		case pat == "*":
			p.all = true
		case strings.HasSuffix(pat, "/*") && len(pat) > 2 && !strings.Contains(pat[:len(pat)-1], "*"):
			p.prefixes = append(p.prefixes, pat[:len(pat)-1])
		case strings.Contains(pat, "*"):
			return AnnotationPolicy{}, fmt.Errorf("pattern %q: want an exact key, prefix/* or *", pat)
		default:
			p.exact[pat] = true
		}
	}
	return p, nil
}

// MustParseAnnotationPolicy is ParseAnnotationPolicy for lists known to be valid.
func MustParseAnnotationPolicy(list string) AnnotationPolicy {
	p, err := ParseAnnotationPolicy(list)
	if err != nil {
		panic(err)
	}
	return p
}

// Allows says whether key may be set.
func (p AnnotationPolicy) Allows(key string) bool {
	if p.all || p.exact[key] {
		return true
	}
	for _, pre := range p.prefixes {
		if strings.HasPrefix(key, pre) {
			return true
		}
	}
	return false
}

// Filter splits in into the annotations p allows (nil when none) and the sorted keys it refuses.
func (p AnnotationPolicy) Filter(in map[string]string) (allowed map[string]string, refused []string) {
	for k, v := range in {
		if !p.Allows(k) {
			refused = append(refused, k)
			continue
		}
		if allowed == nil {
			allowed = map[string]string{}
		}
		allowed[k] = v
	}
	slices.Sort(refused)
	return allowed, refused
}

// serviceAnnotations is the policy of o: the default allow-list unless the manager set one.
func (o Options) serviceAnnotations() AnnotationPolicy {
	if o.AllowedServiceAnnotations == nil {
		return MustParseAnnotationPolicy(DefaultAllowedServiceAnnotations)
	}
	return *o.AllowedServiceAnnotations
}

// ServiceAnnotations are the annotations of spec.service.annotations that the Service of srv carries, and the
// sorted keys that o's allow-list refuses.
func ServiceAnnotations(srv *ftpv1.FTPServer, o Options) (map[string]string, []string) {
	return o.serviceAnnotations().Filter(srv.Spec.Service.Annotations)
}
