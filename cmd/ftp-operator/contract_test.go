package main

import (
	"io"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// TestRenderedArgsParse: every argument list the operator renders into a Deployment is accepted by the engine's
// own flag parser, with the meaning the operator intended.
func TestRenderedArgsParse(t *testing.T) {
	grant := ftpv1.PortRange{Start: 31000, End: 31015}
	tests := []struct {
		name  string
		mut   func(*ftpv1.FTPServer)
		check func(*testing.T, *ftpdConfig)
	}{
		{"defaults", nil, func(t *testing.T, c *ftpdConfig) {
			if c.activeMode != "Disabled" || c.tlsCert != "" || c.proxyProtocol {
				t.Fatalf("%+v", c)
			}
		}},
		{"implicit TLS, active mode, PROXY protocol", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, Mode: ftpv1.TLSImplicit}
			s.Spec.ActiveMode = ftpv1.ActiveModeEnabled
			s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{TrustedCIDRs: []string{"10.0.0.0/8"}}
		}, func(t *testing.T, c *ftpdConfig) {
			if c.tlsMode != "Implicit" || c.implicitListen != ":9990" || c.tlsCert != "/etc/ftpd/tls/tls.crt" ||
				c.activeMode != "Enabled" || !c.proxyProtocol || c.proxyTrusted != "10.0.0.0/8" || !c.tlsRequireSessionReuse {
				t.Fatalf("%+v", c)
			}
		}},
		{"TLS session reuse Disabled", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, RequireSessionReuse: ftpv1.TLSSessionReuseDisabled}
		}, func(t *testing.T, c *ftpdConfig) {
			if c.tlsMode != "Required" || c.tlsRequireSessionReuse {
				t.Fatalf("%+v", c)
			}
		}},
		{"TLS session reuse Enabled", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, RequireSessionReuse: ftpv1.TLSSessionReuseEnabled}
		}, func(t *testing.T, c *ftpdConfig) {
			if !c.tlsRequireSessionReuse {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &ftpv1.FTPServer{
				ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"},
				Spec: ftpv1.FTPServerSpec{
					Users:        []ftpv1.User{{Name: "acme"}},
					Service:      ftpv1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
					PassivePorts: ftpv1.PassivePorts{Count: ptr.To[int32](16)},
				},
			}
			if tt.mut != nil {
				tt.mut(srv)
			}
			args := render.EngineArgs(srv, grant)
			if args[0] != "ftpd" {
				t.Fatalf("subcommand %q", args[0])
			}
			c, err := parseFTPDFlags(args[1:], io.Discard)
			if err != nil {
				t.Fatalf("engine refuses the rendered arguments %v: %v", args, err)
			}
			if c.passivePorts != "31000-31015" || c.listen != ":2121" || c.kubernetesFTPServer != "ns/s" ||
				c.root != "/data" || c.users != "/etc/ftpd/users/users.yaml" || c.healthListen != ":8080" {
				t.Fatalf("parsed %+v", c)
			}
			tt.check(t, c)
		})
	}
}
