package render

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

func TestAnnotationPolicyAllows(t *testing.T) {
	for _, tt := range []struct {
		list, key string
		want      bool
	}{
		{DefaultAllowedServiceAnnotations, "metallb.io/loadBalancerIPs", true},
		{DefaultAllowedServiceAnnotations, "metallb.io/address-pool", true},
		{DefaultAllowedServiceAnnotations, "metallb.io/allow-shared-ip", false},
		{DefaultAllowedServiceAnnotations, "service.beta.kubernetes.io/aws-load-balancer-scheme", true},
		{DefaultAllowedServiceAnnotations, "external-dns.alpha.kubernetes.io/hostname", false},
		{DefaultAllowedServiceAnnotations, "metallb.io/loadbalancerips", false}, // keys are case-sensitive
		{"metallb.io/*", "metallb.io/allow-shared-ip", true},
		{"metallb.io/*", "metallb.iox/a", false},
		{"metallb.io/*", "metallb.io", false},
		{"example.com/key", "example.com/key2", false},
		{" example.com/key , other/* ", "example.com/key", true},
		{" example.com/key , other/* ", "other/x", true},
		{"*", "anything.example/at-all", true},
		{"", "metallb.io/loadBalancerIPs", false},
	} {
		if got := MustParseAnnotationPolicy(tt.list).Allows(tt.key); got != tt.want {
			t.Errorf("%q allows %q = %v, want %v", tt.list, tt.key, got, tt.want)
		}
	}
	var zero AnnotationPolicy
	if zero.Allows("metallb.io/loadBalancerIPs") {
		t.Error("the zero policy allows a key")
	}
}

func TestParseAnnotationPolicyRefuses(t *testing.T) {
	for _, list := range []string{"a*", "example.com/a*b", "*/key", "example.com/**", "/*"} {
		if _, err := ParseAnnotationPolicy(list); err == nil {
			t.Errorf("%q parsed", list)
		}
	}
}

// TestServiceFiltersAnnotations: the Service carries only allowed annotations, the default list when Options sets
// none; ServiceAnnotations names the refused keys in order.
func TestServiceFiltersAnnotations(t *testing.T) {
	srv := server(func(s *ftpv1.FTPServer) {
		s.Spec.Service.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Service.Annotations = map[string]string{
			"metallb.io/loadBalancerIPs": "192.0.2.7",
			"metallb.io/allow-shared-ip": "other-tenant",
			"example.com/z":              "1",
		}
	})
	svc := Service(srv, grant, Options{})
	if len(svc.Annotations) != 1 || svc.Annotations["metallb.io/loadBalancerIPs"] != "192.0.2.7" {
		t.Fatalf("default list: Service annotations %v", svc.Annotations)
	}
	if _, refused := ServiceAnnotations(srv, Options{}); !slices.Equal(refused, []string{"example.com/z", "metallb.io/allow-shared-ip"}) {
		t.Fatalf("refused %v", refused)
	}
	all := MustParseAnnotationPolicy("*")
	if svc := Service(srv, grant, Options{AllowedServiceAnnotations: &all}); len(svc.Annotations) != 3 {
		t.Fatalf("* list: Service annotations %v", svc.Annotations)
	}
	none := MustParseAnnotationPolicy("")
	if svc := Service(srv, grant, Options{AllowedServiceAnnotations: &none}); svc.Annotations != nil {
		t.Fatalf("empty list: Service annotations %v", svc.Annotations)
	}
}
