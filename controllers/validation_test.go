package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// TestAdmissionRefusesInvalidSpecs sends each invalid spec to the real API server: the CRD's schema and CEL
// rules must refuse it with a message a person understands.
func TestAdmissionRefusesInvalidSpecs(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name string
		mut  func(*ftpv1.FTPServer)
		want string // "" means: accepted
	}{
		{"valid server is accepted", func(s *ftpv1.FTPServer) {}, ""},
		{"range start after end", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 31015, End: 31000}}
		}, "range start must not be greater than range end"},
		{"range wider than 1000", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 30000, End: 31500}}
		}, "a range holds at most 1000 ports"},
		{"count zero", func(s *ftpv1.FTPServer) { s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](0)} },
			"spec.passivePorts.count: Invalid value: 0: spec.passivePorts.count in body should be greater than or equal to 1"},
		{"count above 1000", func(s *ftpv1.FTPServer) { s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](1001)} },
			"should be less than or equal to 1000"},
		{"count and range", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](4), Range: &ftpv1.PortRange{Start: 31000, End: 31003}}
		}, "passivePorts takes either count or range, not both"},
		{"port above 65535", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 65530, End: 65540}}
		}, "spec.passivePorts.range.end: Invalid value: 65540: spec.passivePorts.range.end in body should be less than or equal to 65535"},
		{"port zero", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 0, End: 10}}
		}, "spec.passivePorts.range.start in body should be greater than or equal to 1"},
		{"duplicate user names", func(s *ftpv1.FTPServer) { s.Spec.Users = append(s.Spec.Users, s.Spec.Users[0]) },
			`spec.users[1]: Duplicate value: {"name":"acme"}`},
		{"no users", func(s *ftpv1.FTPServer) { s.Spec.Users = nil }, "spec needs users or usersFrom"},
		{"users only from a Secret are accepted", func(s *ftpv1.FTPServer) {
			s.Spec.Users = nil
			s.Spec.UsersFrom = []ftpv1.UsersFrom{{SecretRef: ftpv1.LocalObjectReference{Name: "bulk"}}}
		}, ""},
		{"usersFrom names a Secret key twice", func(s *ftpv1.FTPServer) {
			s.Spec.UsersFrom = []ftpv1.UsersFrom{{SecretRef: ftpv1.LocalObjectReference{Name: "bulk"}}, {SecretRef: ftpv1.LocalObjectReference{Name: "bulk"}, Key: "htpasswd"}}
		}, "usersFrom names the same Secret key twice"},
		{"pod label that selects the pods", func(s *ftpv1.FTPServer) {
			s.Spec.PodTemplate = &ftpv1.PodTemplate{Metadata: ftpv1.PodTemplateMetadata{Labels: map[string]string{"team": "a", "app.kubernetes.io/instance": "other"}}}
		}, "podTemplate.metadata.labels must not set app.kubernetes.io/instance: the operator selects the server's pods by that label"},
		{"pod label that marks the operator's objects", func(s *ftpv1.FTPServer) {
			s.Spec.PodTemplate = &ftpv1.PodTemplate{Metadata: ftpv1.PodTemplateMetadata{Labels: map[string]string{"app.kubernetes.io/managed-by": "me"}}}
		}, "must not set app.kubernetes.io/managed-by"},
		{"negative supplemental group", func(s *ftpv1.FTPServer) {
			s.Spec.PodTemplate = &ftpv1.PodTemplate{SecurityContext: &ftpv1.PodSecurityContext{SupplementalGroups: []int64{-1}}}
		}, "spec.podTemplate.securityContext.supplementalGroups[0] in body should be greater than or equal to 0"},
		{"pod placement is accepted", func(s *ftpv1.FTPServer) {
			s.Spec.PodTemplate = &ftpv1.PodTemplate{
				Metadata:     ftpv1.PodTemplateMetadata{Labels: map[string]string{"app.kubernetes.io/part-of": "billing"}},
				NodeSelector: map[string]string{"disk": "ssd"}, PriorityClassName: "high",
			}
		}, ""},
		{"TLS mode without a Secret", func(s *ftpv1.FTPServer) { s.Spec.TLS = &ftpv1.TLSSpec{Mode: ftpv1.TLSRequired} },
			"spec.tls.secretRef.name: Invalid value: \"\""},
		{"unknown TLS mode", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, Mode: "Sometimes"}
		}, `spec.tls.mode: Unsupported value: "Sometimes": supported values: "Explicit", "Required", "Implicit"`},
		{"unknown TLS session reuse", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, RequireSessionReuse: "Sometimes"}
		}, `spec.tls.requireSessionReuse: Unsupported value: "Sometimes": supported values: "Enabled", "Disabled"`},
		{"home escapes the root", func(s *ftpv1.FTPServer) { s.Spec.Users[0].HomeDirectory = "/acme/../../etc" },
			"homeDirectory must not contain '..'"},
		{"relative home", func(s *ftpv1.FTPServer) { s.Spec.Users[0].HomeDirectory = "acme" },
			"homeDirectory must be an absolute path inside the storage root"},
		{"bad user name", func(s *ftpv1.FTPServer) { s.Spec.Users[0].Name = "a b" }, "spec.users[0].name in body should match"},
		{"unknown access", func(s *ftpv1.FTPServer) { s.Spec.Users[0].Access = "Admin" },
			`Unsupported value: "Admin": supported values: "ReadWrite", "ReadOnly", "WriteOnly"`},
		{"unknown Service type", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeExternalName },
			`spec.service.type: Unsupported value: "ExternalName"`},
		{"bad source range", func(s *ftpv1.FTPServer) { s.Spec.Service.LoadBalancerSourceRanges = []string{"10.0.0.0/33"} },
			"loadBalancerSourceRanges must hold CIDRs"},
		{"bad public address", func(s *ftpv1.FTPServer) { s.Spec.PublicAddress = "ftp example!" },
			"publicAddress must be an IP address or a DNS name"},
		{"two storage sources", func(s *ftpv1.FTPServer) {
			s.Spec.Storage.PersistentVolumeClaim = &ftpv1.PersistentVolumeClaimRef{ClaimName: "data"}
			s.Spec.Storage.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}, "storage takes only one of persistentVolumeClaim, volumeClaimTemplate, emptyDir and s3"},
		{"PROXY protocol without trusted load balancers", func(s *ftpv1.FTPServer) { s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{} },
			"spec.proxyProtocol.trustedCIDRs: Required value"},
		{"PROXY protocol with a bad CIDR", func(s *ftpv1.FTPServer) {
			s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{TrustedCIDRs: []string{"10.0.0.1"}}
		}, "trustedCIDRs must hold CIDRs such as 10.0.0.0/8"},
		{"pinned range holding port 21", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 20, End: 30}}
		}, "passivePorts.range must not hold port 21 or 990"},
		{"pinned range holding port 990", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 985, End: 995}}
		}, "passivePorts.range must not hold port 21 or 990"},
		{"pinned range next to 21 is accepted", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 22, End: 30}}
		}, ""},
		{"unknown active mode", func(s *ftpv1.FTPServer) { s.Spec.ActiveMode = "Maybe" }, `spec.activeMode: Unsupported value: "Maybe"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { admit(t, newServer(t, ns, fmt.Sprintf("v%d", i), tt.mut), tt.want) })
	}
}

// admit creates srv on the real API server: want "" means it must be accepted, else refused with a message that
// holds want.
func admit(t *testing.T, srv *ftpv1.FTPServer, want string) {
	t.Helper()
	err := k8s.Create(context.Background(), srv)
	switch {
	case want == "" && err != nil:
		t.Fatalf("valid spec refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("invalid spec accepted")
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("message\n  %v\ndoes not say\n  %s", err, want)
	}
}

// TestTLSSessionReuseDefaultsToEnabled: the API server fills in requireSessionReuse: Enabled, so `kubectl get -o
// yaml` shows the protection that is in force.
func TestTLSSessionReuseDefaultsToEnabled(t *testing.T) {
	ns := newNamespace(t)
	srv := newServer(t, ns, "reuse-default", func(s *ftpv1.FTPServer) {
		s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}}
	})
	if err := k8s.Create(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	if got := srv.Spec.TLS.RequireSessionReuse; got != ftpv1.TLSSessionReuseEnabled {
		t.Fatalf("requireSessionReuse defaulted to %q, want Enabled", got)
	}
}
