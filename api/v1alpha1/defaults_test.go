package v1alpha1

import (
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// TestDefaultsMatchTheSchema: each OrDefault method returns the default the CRD's schema applies (the marker), so
// an object read before admission defaulted it behaves like one read after.
func TestDefaultsMatchTheSchema(t *testing.T) {
	spec := specSchema(t)
	schemaDefault := func(path ...string) string {
		t.Helper()
		s := spec
		for _, p := range path {
			if p == "[]" {
				s = *s.Items.Schema
				continue
			}
			s = s.Properties[p]
		}
		if s.Default == nil {
			t.Fatalf("%v: no default in the schema", path)
		}
		return string(s.Default.Raw)
	}
	var empty FTPServerSpec
	for _, tt := range []struct {
		path []string
		want string // JSON, as the schema holds it
		got  string
	}{
		{[]string{"passivePorts"}, `{"count":16}`, `{"count":` + itoa(empty.PassivePorts.SizeOrDefault()) + `}`},
		{[]string{"activeMode"}, `"Disabled"`, `"` + string(empty.ActiveModeOrDefault()) + `"`},
		{[]string{"service", "type"}, `"LoadBalancer"`, `"` + string(empty.Service.TypeOrDefault()) + `"`},
		{[]string{"tls", "mode"}, `"Required"`, `"` + string(TLSSpec{}.ModeOrDefault()) + `"`},
		{[]string{"tls", "requireSessionReuse"}, `"Enabled"`, `"` + string((&TLSSpec{}).RequireSessionReuseOrDefault()) + `"`},
		{[]string{"users", "[]", "access"}, `"ReadWrite"`, `"` + string(User{}.AccessOrDefault()) + `"`},
		{[]string{"users", "[]", "passwordSecretRef", "key"}, `"password"`, `"` + SecretKeySelector{}.KeyOrDefault() + `"`},
		{[]string{"storage", "volumeClaimTemplate", "retention"}, `"Retain"`, `"` + string(VolumeClaimTemplate{}.RetentionOrDefault()) + `"`},
		{[]string{"limits"}, `{}`, `{}`},
		{[]string{"limits", "maxSessions"}, `1024`, itoa(Limits{}.MaxSessionsOrDefault())},
		{[]string{"lockout"}, `{}`, `{}`},
		{[]string{"lockout", "threshold"}, `5`, itoa(Lockout{}.ThresholdOrDefault())},
		{[]string{"passivePorts", "multiplexing"}, `"Disabled"`, `"` + string(PassivePorts{}.MultiplexingOrDefault()) + `"`},
		{[]string{"transferLog", "format"}, `"xferlog"`, `"` + string(TransferLog{}.FormatOrDefault()) + `"`},
	} {
		if got := schemaDefault(tt.path...); got != tt.want || tt.got != tt.want {
			t.Errorf("%v: schema default %s, Go default %s, want %s", tt.path, got, tt.got, tt.want)
		}
	}
	// Durations: the schema holds them as text, the Go default as a time.Duration.
	for _, tt := range []struct {
		path []string
		want string
		got  time.Duration
	}{
		{[]string{"limits", "idleTimeout"}, `"5m"`, Limits{}.IdleTimeoutOrDefault()},
		{[]string{"limits", "dataTimeout"}, `"30s"`, Limits{}.DataTimeoutOrDefault()},
		{[]string{"lockout", "backoff"}, `"30s"`, Lockout{}.BackoffOrDefault()},
		{[]string{"shutdownGracePeriod"}, `"60s"`, empty.ShutdownGracePeriodOrDefault()},
	} {
		got := schemaDefault(tt.path...)
		var text string
		d, err := time.Duration(0), yaml.Unmarshal([]byte(got), &text)
		if err == nil {
			d, err = time.ParseDuration(text)
		}
		if got != tt.want || err != nil || d != tt.got {
			t.Errorf("%v: schema default %s (%v), Go default %s, want %s", tt.path, got, err, tt.got, tt.want)
		}
	}
	// maxSessionsPerIP has no marker: its default depends on maxSessions.
	if s := spec.Properties["limits"].Properties["maxSessionsPerIP"]; s.Default != nil {
		t.Errorf("limits.maxSessionsPerIP has a schema default %s", s.Default.Raw)
	}
	if n := (Limits{}).MaxSessionsPerIPOrDefault(); n != DefaultMaxSessionsPerIP {
		t.Errorf("maxSessionsPerIP default %d", n)
	}
}

func itoa(n int32) string { b, _ := yaml.Marshal(n); return string(b[:len(b)-1]) }

// TestOrDefaultKeepsSetValues: a set field is returned as it is.
func TestOrDefaultKeepsSetValues(t *testing.T) {
	if n := (PassivePorts{Count: ptr.To[int32](3)}).SizeOrDefault(); n != 3 {
		t.Errorf("count: %d", n)
	}
	if n := (PassivePorts{Range: &PortRange{Start: 30000, End: 30009}}).SizeOrDefault(); n != 10 {
		t.Errorf("range: %d", n)
	}
	if m := (FTPServerSpec{ActiveMode: ActiveModeEnabled}).ActiveModeOrDefault(); m != ActiveModeEnabled {
		t.Errorf("activeMode: %s", m)
	}
	if ty := (ServiceSpec{Type: corev1.ServiceTypeNodePort}).TypeOrDefault(); ty != corev1.ServiceTypeNodePort {
		t.Errorf("service type: %s", ty)
	}
	if a := (User{Access: AccessReadOnly}).AccessOrDefault(); a != AccessReadOnly {
		t.Errorf("access: %s", a)
	}
	if k := (SecretKeySelector{Key: "pw"}).KeyOrDefault(); k != "pw" {
		t.Errorf("key: %s", k)
	}
	modes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	if m := (VolumeClaimTemplate{AccessModes: modes}).AccessModesOrDefault(); len(m) != 1 || m[0] != corev1.ReadWriteMany {
		t.Errorf("access modes: %v", m)
	}
	if m := (VolumeClaimTemplate{}).AccessModesOrDefault(); len(m) != 1 || m[0] != corev1.ReadWriteOnce {
		t.Errorf("default access modes: %v", m)
	}
	sec := &metav1.Duration{Duration: time.Second}
	l := Limits{MaxSessions: ptr.To[int32](2), MaxSessionsPerIP: ptr.To[int32](1), IdleTimeout: sec, DataTimeout: sec}
	if l.MaxSessionsOrDefault() != 2 || l.MaxSessionsPerIPOrDefault() != 1 || l.IdleTimeoutOrDefault() != time.Second ||
		l.DataTimeoutOrDefault() != time.Second {
		t.Errorf("limits: %+v", l)
	}
	if lo := (Lockout{Threshold: ptr.To[int32](9), Backoff: sec}); lo.ThresholdOrDefault() != 9 || lo.BackoffOrDefault() != time.Second {
		t.Errorf("lockout: %+v", lo)
	}
	if f := (TransferLog{Format: TransferLogJSON}).FormatOrDefault(); f != TransferLogJSON {
		t.Errorf("transfer log format: %s", f)
	}
	if m := (PassivePorts{Multiplexing: PassiveMultiplexingEnabled}).MultiplexingOrDefault(); m != PassiveMultiplexingEnabled {
		t.Errorf("multiplexing: %s", m)
	}
	if g := (FTPServerSpec{ShutdownGracePeriod: sec}).ShutdownGracePeriodOrDefault(); g != time.Second {
		t.Errorf("shutdownGracePeriod: %s", g)
	}
}

// TestDefaultsAreDescribed: kubectl explain prints a field's description but not the schema's default, so every
// field with a default names it in its description.
func TestDefaultsAreDescribed(t *testing.T) {
	var walk func(path string, s apiextensionsv1.JSONSchemaProps)
	walk = func(path string, s apiextensionsv1.JSONSchemaProps) {
		if s.Default != nil && string(s.Default.Raw) != "{}" && !strings.Contains(strings.ToLower(s.Description), "default") {
			t.Errorf("%s has the default %s but its description does not say so", path, s.Default.Raw)
		}
		for name, p := range s.Properties {
			walk(path+"."+name, p)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(path+"[]", *s.Items.Schema)
		}
	}
	walk("spec", specSchema(t))
}

// specSchema is the schema of spec in the generated CRD.
func specSchema(t *testing.T) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	data, err := os.ReadFile("../../config/crd/bases/ftpoperator.io_ftpservers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
}
