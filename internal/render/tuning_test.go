package render

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// TestAPIDefaultsAreTheEngineDefaults: the defaults the API applies are the ones the engine has on its own, so a
// server with no limits or lockout behaves like the engine started without flags, and its pod carries no flag for
// them.
func TestAPIDefaultsAreTheEngineDefaults(t *testing.T) {
	for _, tt := range []struct {
		name      string
		api, want any
	}{
		{"maxSessions", int(ftpv1.DefaultMaxSessions), ftpd.DefaultMaxSessions},
		{"maxSessionsPerIP", int(ftpv1.DefaultMaxSessionsPerIP), ftpd.DefaultMaxSessionsPerIP},
		{"idleTimeout", ftpv1.DefaultIdleTimeout, ftpd.DefaultIdleTimeout},
		{"dataTimeout", ftpv1.DefaultDataTimeout, ftpd.DefaultDataTimeout},
		{"lockout.threshold", int(ftpv1.DefaultLockoutThreshold), ftpd.DefaultLockoutThreshold},
		{"lockout.backoff", ftpv1.DefaultLockoutBackoff, ftpd.DefaultLockoutBackoff},
		{"transferLog.format", string(ftpv1.TransferLog{}.FormatOrDefault()), string(ftpd.XferLogWuFTPD)},
	} {
		if tt.api != tt.want {
			t.Errorf("%s: API default %v, engine default %v", tt.name, tt.api, tt.want)
		}
	}
	c := EngineConfig(server(nil), grant)
	if def := engineconfig.Default(); !reflect.DeepEqual(c.Limits, def.Limits) || c.Passive.Mux != def.Passive.Mux ||
		c.Address.Overrides != nil || c.XferLog != "" || c.XferLogFormat != def.XferLogFormat {
		t.Errorf("a server without settings renders\n%+v\nthe engine's defaults are\n%+v", c, def)
	}
	for _, a := range EngineArgs(server(nil), grant) {
		for _, f := range []string{"--max-sessions", "--idle-timeout", "--data-timeout", "--bandwidth-limit", "--lockout", "--xferlog", "--passive-mux", "--address-overrides"} {
			if len(a) >= len(f) && a[:len(f)] == f {
				t.Errorf("default server's arguments carry %s", a)
			}
		}
	}
}

// TestTuningRendersEverySpecField: each field reaches the engine's configuration with its meaning.
func TestTuningRendersEverySpecField(t *testing.T) {
	srv := server(func(s *ftpv1.FTPServer) {
		s.Spec.Limits = ftpv1.Limits{
			MaxSessions: ptr.To[int32](100), MaxSessionsPerIP: ptr.To[int32](3),
			IdleTimeout: &metav1.Duration{Duration: 90 * time.Second}, DataTimeout: &metav1.Duration{Duration: 10 * time.Second},
			BandwidthPerConnection: ptr.To(resource.MustParse("10Mi")),
		}
		s.Spec.Lockout = ftpv1.Lockout{Threshold: ptr.To[int32](3), Backoff: &metav1.Duration{Duration: 2 * time.Minute}}
		s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
		s.Spec.TransferLog = &ftpv1.TransferLog{Format: ftpv1.TransferLogJSON}
		s.Spec.ShutdownGracePeriod = &metav1.Duration{Duration: 2 * time.Minute}
		s.Spec.AddressOverrides = []ftpv1.AddressOverride{
			{CIDR: "10.0.0.0/8", Address: "10.96.0.10"},
			{CIDR: "10.1.2.3/16", Address: "ftp.internal.example.com"},
		}
	})
	c := EngineConfig(srv, grant)
	want := engineconfig.Limits{
		IdleTimeout: 90 * time.Second, LoginTimeout: ftpd.DefaultLoginTimeout, DataTimeout: 10 * time.Second,
		MaxSessions: 100, MaxSessionsPerIP: 3, BandwidthLimit: 10 << 20, LockoutThreshold: 3, LockoutBackoff: 2 * time.Minute,
	}
	if c.Limits != want {
		t.Errorf("limits %+v, want %+v", c.Limits, want)
	}
	if !c.Passive.Mux || c.XferLog != "-" || c.XferLogFormat != ftpd.XferLogJSON || c.ShutdownTimeout != 115*time.Second {
		t.Errorf("mux %v, transfer log %q %q, shutdown %s", c.Passive.Mux, c.XferLog, c.XferLogFormat, c.ShutdownTimeout)
	}
	// Most specific first (the engine takes the first that holds the client), host bits masked.
	wantOverrides := []ftpd.AddressOverride{
		{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Address: "ftp.internal.example.com"},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Address: "10.96.0.10"},
	}
	if !reflect.DeepEqual(c.Address.Overrides, wantOverrides) {
		t.Errorf("overrides %v, want %v", c.Address.Overrides, wantOverrides)
	}
	if g := Deployment(srv, grant, Options{}).Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 120 {
		t.Errorf("terminationGracePeriodSeconds %v, want 120", g)
	}
	srv.Spec.TransferLog.Format = ""
	if c := EngineConfig(srv, grant); c.XferLog != "-" || c.XferLogFormat != ftpd.XferLogWuFTPD {
		t.Errorf("transfer log without a format: %q %q, want xferlog lines on stdout", c.XferLog, c.XferLogFormat)
	}
}

// TestMaxSessionsPerIPFollowsALowMaxSessions: unset, the per-address cap is 64, or maxSessions when that is lower
// (the schema gives it no default, so that setting maxSessions alone below 64 is valid).
func TestMaxSessionsPerIPFollowsALowMaxSessions(t *testing.T) {
	c := EngineConfig(server(func(s *ftpv1.FTPServer) { s.Spec.Limits.MaxSessions = ptr.To[int32](10) }), grant)
	if c.Limits.MaxSessions != 10 || c.Limits.MaxSessionsPerIP != 10 {
		t.Fatalf("maxSessions 10 renders %d/%d", c.Limits.MaxSessions, c.Limits.MaxSessionsPerIP)
	}
}

// TestShutdownGracePeriod: the pod's grace period is the spec's (whole seconds, rounded up) and the engine stops
// draining shortly before it ends.
func TestShutdownGracePeriod(t *testing.T) {
	for _, tt := range []struct {
		grace  *metav1.Duration
		pod    int64
		engine time.Duration
	}{
		{nil, 60, 55 * time.Second},
		{&metav1.Duration{Duration: 10 * time.Second}, 10, 5 * time.Second},
		{&metav1.Duration{Duration: 4 * time.Second}, 4, 2 * time.Second},
		{&metav1.Duration{Duration: 1500 * time.Millisecond}, 2, 750 * time.Millisecond},
		{&metav1.Duration{Duration: time.Hour}, 3600, time.Hour - 5*time.Second},
	} {
		srv := server(func(s *ftpv1.FTPServer) { s.Spec.ShutdownGracePeriod = tt.grace })
		pod := *Deployment(srv, grant, Options{}).Spec.Template.Spec.TerminationGracePeriodSeconds
		if engine := EngineConfig(srv, grant).ShutdownTimeout; pod != tt.pod || engine != tt.engine {
			t.Errorf("%v: pod %ds engine %s, want %ds %s", tt.grace, pod, engine, tt.pod, tt.engine)
		}
	}
}
