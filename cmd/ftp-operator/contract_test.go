package main

import (
	"io"
	"net/netip"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// TestRenderedArgsParse: every argument list the operator renders into a Deployment is accepted by the engine's
// own parser, with the meaning the operator intended: the whole parsed configuration equals what render built
// (engineconfig's fuzzed round trip covers every field), and the settings that matter are what the spec says.
func TestRenderedArgsParse(t *testing.T) {
	grant := ftpv1.PortRange{Start: 31000, End: 31015}
	tests := []struct {
		name  string
		mut   func(*ftpv1.FTPServer)
		check func(*testing.T, engineconfig.Config)
	}{
		{"defaults", nil, func(t *testing.T, c engineconfig.Config) {
			if c.ActiveMode || c.TLS.Cert != "" || c.TLS.Mode != ftpd.TLSExplicit || c.ProxyProtocol.Enabled {
				t.Fatalf("%+v", c)
			}
		}},
		{"implicit TLS, active mode, PROXY protocol", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, Mode: ftpv1.TLSImplicit}
			s.Spec.ActiveMode = ftpv1.ActiveModeEnabled
			s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{TrustedCIDRs: []string{"10.0.0.0/8"}}
		}, func(t *testing.T, c engineconfig.Config) {
			if c.TLS.Mode != ftpd.TLSImplicit || c.ImplicitListen != ":9990" || c.TLS.Cert != "/etc/ftpd/tls/tls.crt" ||
				c.TLS.Key != "/etc/ftpd/tls/tls.key" || !c.ActiveMode || !c.ProxyProtocol.Enabled ||
				!reflect.DeepEqual(c.ProxyProtocol.Trusted, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) ||
				!c.TLS.RequireSessionReuse {
				t.Fatalf("%+v", c)
			}
		}},
		{"TLS session reuse Disabled", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, RequireSessionReuse: ftpv1.TLSSessionReuseDisabled}
		}, func(t *testing.T, c engineconfig.Config) {
			if c.TLS.Mode != ftpd.TLSRequired || c.TLS.RequireSessionReuse {
				t.Fatalf("%+v", c)
			}
		}},
		{"TLS session reuse Enabled", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, RequireSessionReuse: ftpv1.TLSSessionReuseEnabled}
		}, func(t *testing.T, c engineconfig.Config) {
			if !c.TLS.RequireSessionReuse {
				t.Fatalf("%+v", c)
			}
		}},
		{"limits, lockout, overrides, multiplexing, JSON transfer log, grace period", func(s *ftpv1.FTPServer) {
			s.Spec.Limits = ftpv1.Limits{MaxSessions: ptr.To[int32](20), MaxSessionsPerIP: ptr.To[int32](4),
				IdleTimeout: &metav1.Duration{Duration: 45 * time.Second}, DataTimeout: &metav1.Duration{Duration: 7 * time.Second},
				BandwidthPerConnection: ptr.To(resource.MustParse("512Ki"))}
			s.Spec.Lockout = ftpv1.Lockout{Threshold: ptr.To[int32](2), Backoff: &metav1.Duration{Duration: 10 * time.Second}}
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/8", Address: "10.96.0.10"}, {CIDR: "127.0.0.2/32", Address: "ftp.example.com"}}
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.TransferLog = &ftpv1.TransferLog{Format: ftpv1.TransferLogJSON}
			s.Spec.ShutdownGracePeriod = &metav1.Duration{Duration: 30 * time.Second}
		}, func(t *testing.T, c engineconfig.Config) {
			l := c.Limits
			if l.MaxSessions != 20 || l.MaxSessionsPerIP != 4 || l.IdleTimeout != 45*time.Second || l.DataTimeout != 7*time.Second ||
				l.BandwidthLimit != 512<<10 || l.LockoutThreshold != 2 || l.LockoutBackoff != 10*time.Second ||
				!c.Passive.Mux || c.XferLog != "-" || c.XferLogFormat != ftpd.XferLogJSON || c.ShutdownTimeout != 25*time.Second ||
				!reflect.DeepEqual(c.Address.Overrides, []ftpd.AddressOverride{
					{Prefix: netip.MustParsePrefix("127.0.0.2/32"), Address: "ftp.example.com"},
					{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Address: "10.96.0.10"}}) {
				t.Fatalf("%+v", c)
			}
		}},
		{"xferlog transfer log", func(s *ftpv1.FTPServer) { s.Spec.TransferLog = &ftpv1.TransferLog{} }, func(t *testing.T, c engineconfig.Config) {
			if c.XferLog != "-" || c.XferLogFormat != ftpd.XferLogWuFTPD {
				t.Fatalf("%+v", c)
			}
		}},
		{"PROXY protocol trusting every peer's header", func(s *ftpv1.FTPServer) {
			s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{}
		}, func(t *testing.T, c engineconfig.Config) {
			if !c.ProxyProtocol.Enabled || c.ProxyProtocol.Trusted != nil {
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
			c, err := engineconfig.Parse(args[1:], io.Discard)
			if err != nil {
				t.Fatalf("engine refuses the rendered arguments %v: %v", args, err)
			}
			if want := render.EngineConfig(srv, grant); !reflect.DeepEqual(c, want) {
				t.Fatalf("parsed %+v\nrendered %+v", c, want)
			}
			if c.Passive.Ports != (ftpd.PortRange{Start: 31000, End: 31015}) || c.Listen != ":2121" ||
				c.Address.Follow != (engineconfig.FollowTarget{Namespace: "ns", Name: "s"}) ||
				c.Root != "/data" || c.Users != "/etc/ftpd/users/users.yaml" || c.HealthListen != ":8080" {
				t.Fatalf("parsed %+v", c)
			}
			// The engine follows the very ConfigMap, and key, the operator writes the address to.
			if cm := render.AddressConfigMap(srv, "192.0.2.1"); c.Address.Follow.ConfigMapName() != cm.Name ||
				cm.Namespace != c.Address.Follow.Namespace || cm.Data[engineconfig.AddressKey] != "192.0.2.1" {
				t.Fatalf("engine follows ConfigMap %s/%s key %s; the operator writes %s/%s %v", c.Address.Follow.Namespace,
					c.Address.Follow.ConfigMapName(), engineconfig.AddressKey, cm.Namespace, cm.Name, cm.Data)
			}
			tt.check(t, c)
		})
	}
}

// TestRenderedArgsBelow1024Parse: the operator's pool may hold ports below 1024 (the pod then gets the
// unprivileged-port sysctl); the engine accepts such a grant instead of refusing to start.
func TestRenderedArgsBelow1024Parse(t *testing.T) {
	srv := &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}
	grant := ftpv1.PortRange{Start: 900, End: 903}
	c, err := engineconfig.Parse(render.EngineArgs(srv, grant)[1:], io.Discard)
	if err != nil {
		t.Fatalf("engine refuses the grant %s: %v", grant, err)
	}
	if c.Passive.Ports != render.PortRange(grant) {
		t.Fatalf("passive ports %s, want %s", c.Passive.Ports, grant)
	}
}
