package packaging

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// TestEnginePodMonitor: ftpd.podMonitor.enabled renders a PodMonitor that selects the FTP server pods the operator
// renders (in any namespace) and scrapes the container port that serves the engine's /metrics.
func TestEnginePodMonitor(t *testing.T) {
	if has(helmTemplate(t), "PodMonitor", "") {
		t.Fatalf("PodMonitor rendered by default (it needs the prometheus-operator CRD)")
	}
	objs := helmTemplate(t, "--set", "ftpd.podMonitor.enabled=true", "--set", "ftpd.podMonitor.labels.release=prom")
	pm := find(t, objs, "PodMonitor", release+"-ftp-servers")
	if pm.GetLabels()["release"] != "prom" {
		t.Errorf("extra labels missing: %v", pm.GetLabels())
	}
	if anyNS, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !anyNS {
		t.Errorf("namespaceSelector %s, want any: true", field(t, pm, "spec", "namespaceSelector"))
	}

	srv := &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Name: "files", Namespace: "team-a"}}
	d := render.Deployment(srv, ftpv1.PortRange{Start: 30000, End: 30001}, render.Options{Image: "ftpd:test"})
	podLabels := d.Spec.Template.Labels
	sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	if sel[render.ManagedByLabel] != render.ManagedBy {
		t.Errorf("PodMonitor selector %v lacks %s=%s", sel, render.ManagedByLabel, render.ManagedBy)
	}
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("PodMonitor selects %s=%s, the FTP server pods have %v", k, v, podLabels)
		}
	}
	if _, ok := sel[render.InstanceLabel]; ok {
		t.Errorf("PodMonitor selects one FTPServer (%s): %v", render.InstanceLabel, sel)
	}

	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 {
		t.Fatalf("podMetricsEndpoints %s", field(t, pm, "spec", "podMetricsEndpoints"))
	}
	ep := eps[0].(map[string]any)
	var healthPort string
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.ContainerPort == render.ContainerHealthPort {
			healthPort = p.Name
		}
	}
	if healthPort == "" || ep["port"] != healthPort || ep["path"] != "/metrics" || ep["scheme"] != "http" {
		t.Errorf("endpoint %v, want port %q (the engine's health/metrics port) path /metrics scheme http", ep, healthPort)
	}
	// The engine serves /metrics on its health listener, which render puts on that port.
	if cfg := render.EngineConfig(srv, ftpv1.PortRange{Start: 30000, End: 30001}); cfg.HealthListen != fmt.Sprintf(":%d", render.ContainerHealthPort) {
		t.Errorf("engine health listener %q, container health port %d", cfg.HealthListen, render.ContainerHealthPort)
	}
}
