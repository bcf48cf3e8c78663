package controllers

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// TestAdmissionRefusesBadTuning: the real API server refuses bad limits, lockout, overrides, transfer log,
// multiplexing and grace period settings with a message that says what is allowed.
func TestAdmissionRefusesBadTuning(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name string
		mut  func(*ftpv1.FTPServer)
		want string // "" means: accepted
	}{
		{"every field set is accepted", func(s *ftpv1.FTPServer) {
			s.Spec.Limits = ftpv1.Limits{MaxSessions: ptr.To[int32](10), MaxSessionsPerIP: ptr.To[int32](10), IdleTimeout: dur(time.Minute),
				DataTimeout: dur(time.Second), BandwidthPerConnection: ptr.To(resource.MustParse("10Mi"))}
			s.Spec.Lockout = ftpv1.Lockout{Threshold: ptr.To[int32](1), Backoff: dur(15 * time.Minute)}
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/8", Address: "10.96.0.1"}, {CIDR: "fd00::/8", Address: "ftp.example.com"}}
			s.Spec.TransferLog = &ftpv1.TransferLog{Format: ftpv1.TransferLogJSON}
			s.Spec.ShutdownGracePeriod = dur(time.Hour)
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
		}, ""},
		{"maxSessions alone below the per-address default is accepted", func(s *ftpv1.FTPServer) {
			s.Spec.Limits.MaxSessions = ptr.To[int32](10)
		}, ""},
		{"maxSessionsPerIP above maxSessions", func(s *ftpv1.FTPServer) {
			s.Spec.Limits = ftpv1.Limits{MaxSessions: ptr.To[int32](10), MaxSessionsPerIP: ptr.To[int32](11)}
		}, "limits.maxSessionsPerIP must not be greater than limits.maxSessions"},
		{"maxSessionsPerIP above the default maxSessions", func(s *ftpv1.FTPServer) {
			s.Spec.Limits.MaxSessionsPerIP = ptr.To[int32](2000)
		}, "limits.maxSessionsPerIP must not be greater than limits.maxSessions (1024 unless set)"},
		{"maxSessions zero", func(s *ftpv1.FTPServer) { s.Spec.Limits.MaxSessions = ptr.To[int32](0) },
			"spec.limits.maxSessions in body should be greater than or equal to 1"},
		{"maxSessionsPerIP zero", func(s *ftpv1.FTPServer) { s.Spec.Limits.MaxSessionsPerIP = ptr.To[int32](0) },
			"spec.limits.maxSessionsPerIP in body should be greater than or equal to 1"},
		{"idle timeout zero", func(s *ftpv1.FTPServer) { s.Spec.Limits.IdleTimeout = dur(0) },
			"idleTimeout must be a duration from 1s to 24h, such as 5m"},
		{"idle timeout negative", func(s *ftpv1.FTPServer) { s.Spec.Limits.IdleTimeout = dur(-time.Minute) },
			"idleTimeout must be a duration from 1s to 24h"},
		{"idle timeout above a day", func(s *ftpv1.FTPServer) { s.Spec.Limits.IdleTimeout = dur(25 * time.Hour) },
			"idleTimeout must be a duration from 1s to 24h"},
		{"data timeout below a second", func(s *ftpv1.FTPServer) { s.Spec.Limits.DataTimeout = dur(time.Millisecond) },
			"dataTimeout must be a duration from 1s to 1h, such as 30s"},
		{"bandwidth zero", func(s *ftpv1.FTPServer) { s.Spec.Limits.BandwidthPerConnection = ptr.To(resource.MustParse("0")) },
			"bandwidthPerConnection must be more than 0 bytes per second"},
		{"bandwidth negative", func(s *ftpv1.FTPServer) { s.Spec.Limits.BandwidthPerConnection = ptr.To(resource.MustParse("-1Mi")) },
			"bandwidthPerConnection must be more than 0 bytes per second"},
		{"bandwidth absurd", func(s *ftpv1.FTPServer) { s.Spec.Limits.BandwidthPerConnection = ptr.To(resource.MustParse("2Ti")) },
			"bandwidthPerConnection must be less than 1Ti bytes per second"},
		{"lockout threshold zero", func(s *ftpv1.FTPServer) { s.Spec.Lockout.Threshold = ptr.To[int32](0) },
			"spec.lockout.threshold in body should be greater than or equal to 1"},
		{"lockout backoff above 15m", func(s *ftpv1.FTPServer) { s.Spec.Lockout.Backoff = dur(time.Hour) },
			"backoff must be a duration from 1s to 15m, such as 30s"},
		{"override with a bad CIDR", func(s *ftpv1.FTPServer) {
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/33", Address: "10.0.0.1"}}
		}, "cidr must be a CIDR such as 10.0.0.0/8"},
		{"override with an address, not a CIDR", func(s *ftpv1.FTPServer) {
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.1", Address: "10.0.0.1"}}
		}, "cidr must be a CIDR such as 10.0.0.0/8"},
		{"override with a bad address", func(s *ftpv1.FTPServer) {
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/8", Address: "ftp example!"}}
		}, "address must be an IPv4 address or a DNS name"},
		{"override with an IPv6 address", func(s *ftpv1.FTPServer) {
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/8", Address: "fd00::1"}}
		}, "address must be an IPv4 address or a DNS name"},
		{"override without an address", func(s *ftpv1.FTPServer) {
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/8"}}
		}, "address must be an IPv4 address or a DNS name"},
		{"two overrides for one CIDR", func(s *ftpv1.FTPServer) {
			s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/8", Address: "10.0.0.1"}, {CIDR: "10.0.0.0/8", Address: "10.0.0.2"}}
		}, `spec.addressOverrides[1]: Duplicate value: {"cidr":"10.0.0.0/8"}`},
		{"unknown transfer log format", func(s *ftpv1.FTPServer) { s.Spec.TransferLog = &ftpv1.TransferLog{Format: "csv"} },
			`spec.transferLog.format: Unsupported value: "csv": supported values: "xferlog", "json"`},
		{"grace period zero", func(s *ftpv1.FTPServer) { s.Spec.ShutdownGracePeriod = dur(0) },
			"shutdownGracePeriod must be a duration from 1s to 1h, such as 60s"},
		{"grace period above an hour", func(s *ftpv1.FTPServer) { s.Spec.ShutdownGracePeriod = dur(2 * time.Hour) },
			"shutdownGracePeriod must be a duration from 1s to 1h"},
		{"unknown multiplexing", func(s *ftpv1.FTPServer) { s.Spec.PassivePorts.Multiplexing = "Sometimes" },
			`spec.passivePorts.multiplexing: Unsupported value: "Sometimes": supported values: "Disabled", "Enabled"`},
		{"multiplexing behind a source-NATing load balancer", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, "passivePorts.multiplexing Enabled needs the real client addresses: set proxyProtocol, or service.externalTrafficPolicy Local"},
		{"multiplexing on a NodePort (Cluster by default)", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.Service.Type = corev1.ServiceTypeNodePort
		}, "passivePorts.multiplexing Enabled needs the real client addresses"},
		{"multiplexing on a NodePort with Local", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.Service = ftpv1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}
		}, ""},
		{"multiplexing behind Cluster with PROXY protocol", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{TrustedCIDRs: []string{"10.0.0.0/8"}}
		}, ""},
		{"multiplexing on a ClusterIP Service", func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.Service.Type = corev1.ServiceTypeClusterIP
		}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admit(t, newServer(t, ns, fmt.Sprintf("t%d", i), tt.mut), tt.want)
		})
	}
}

// TestTuningDefaultsShown: the API server fills in every default, so `kubectl get -o yaml` shows the limits in force
// (kubectl explain shows the same defaults from the schema).
func TestTuningDefaultsShown(t *testing.T) {
	ns := newNamespace(t)
	srv := newServer(t, ns, "defaults", func(s *ftpv1.FTPServer) { s.Spec.TransferLog = &ftpv1.TransferLog{} })
	create(t, srv)
	got := &ftpv1.FTPServer{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "defaults"}, got); err != nil {
		t.Fatal(err)
	}
	s := got.Spec
	if s.Limits.MaxSessions == nil || *s.Limits.MaxSessions != ftpv1.DefaultMaxSessions || s.Limits.MaxSessionsPerIP != nil ||
		s.Limits.IdleTimeout == nil || s.Limits.IdleTimeout.Duration != ftpv1.DefaultIdleTimeout ||
		s.Limits.DataTimeout == nil || s.Limits.DataTimeout.Duration != ftpv1.DefaultDataTimeout ||
		s.Limits.BandwidthPerConnection != nil {
		t.Errorf("limits %+v", s.Limits)
	}
	if s.Lockout.Threshold == nil || *s.Lockout.Threshold != ftpv1.DefaultLockoutThreshold ||
		s.Lockout.Backoff == nil || s.Lockout.Backoff.Duration != ftpv1.DefaultLockoutBackoff {
		t.Errorf("lockout %+v", s.Lockout)
	}
	if s.ShutdownGracePeriod == nil || s.ShutdownGracePeriod.Duration != ftpv1.DefaultShutdownGracePeriod ||
		s.PassivePorts.Multiplexing != ftpv1.PassiveMultiplexingDisabled || s.TransferLog.Format != ftpv1.TransferLogXferlog {
		t.Errorf("shutdownGracePeriod %v, multiplexing %q, transfer log %+v", s.ShutdownGracePeriod, s.PassivePorts.Multiplexing, s.TransferLog)
	}
}

// TestTuningReachesThePod: a server with every setting, through admission and the operator, runs a pod whose
// arguments the engine parses into exactly those settings, with the pod's grace period from the spec.
func TestTuningReachesThePod(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "tuned", func(s *ftpv1.FTPServer) {
		s.Spec.Service.Type = corev1.ServiceTypeClusterIP
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](2), Multiplexing: ftpv1.PassiveMultiplexingEnabled}
		s.Spec.Limits = ftpv1.Limits{MaxSessions: ptr.To[int32](50), MaxSessionsPerIP: ptr.To[int32](2), IdleTimeout: dur(90 * time.Second),
			DataTimeout: dur(5 * time.Second), BandwidthPerConnection: ptr.To(resource.MustParse("1Mi"))}
		s.Spec.Lockout = ftpv1.Lockout{Threshold: ptr.To[int32](3), Backoff: dur(time.Minute)}
		s.Spec.AddressOverrides = []ftpv1.AddressOverride{{CIDR: "10.0.0.0/8", Address: "10.96.0.10"}, {CIDR: "10.244.0.0/16", Address: "10.244.0.1"}}
		s.Spec.TransferLog = &ftpv1.TransferLog{Format: ftpv1.TransferLogJSON}
		s.Spec.ShutdownGracePeriod = dur(2 * time.Minute)
	}))
	var d *appsv1.Deployment
	eventually(t, 30*time.Second, "the Deployment", func() (bool, error) {
		d = &appsv1.Deployment{}
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "tuned"}, d)
		return err == nil, nil
	})
	pod := d.Spec.Template.Spec
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g != 120 {
		t.Errorf("terminationGracePeriodSeconds %v, want 120", g)
	}
	args := pod.Containers[0].Args
	c, err := engineconfig.Parse(args[1:], io.Discard)
	if err != nil {
		t.Fatalf("engine refuses %v: %v", args, err)
	}
	want := engineconfig.Limits{IdleTimeout: 90 * time.Second, LoginTimeout: ftpd.DefaultLoginTimeout, DataTimeout: 5 * time.Second,
		MaxSessions: 50, MaxSessionsPerIP: 2, BandwidthLimit: 1 << 20, LockoutThreshold: 3, LockoutBackoff: time.Minute}
	if c.Limits != want {
		t.Errorf("limits %+v, want %+v", c.Limits, want)
	}
	overrides := []ftpd.AddressOverride{{Prefix: netip.MustParsePrefix("10.244.0.0/16"), Address: "10.244.0.1"},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Address: "10.96.0.10"}}
	if !c.Passive.Mux || c.XferLog != "-" || c.XferLogFormat != ftpd.XferLogJSON || c.ShutdownTimeout != 115*time.Second ||
		!reflect.DeepEqual(c.Address.Overrides, overrides) {
		t.Errorf("parsed %+v from %v", c, args)
	}
}
