//go:build !ftpdonly

package main

import (
	"context"
	"strings"
	"testing"
)

// TestManagerRefusesPoolWithReservedPorts: the manager refuses, before it talks to any API server, a pool that
// holds a port with another use, and says which and why.
func TestManagerRefusesPoolWithReservedPorts(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string // "" : the pool passes (the manager then fails later, for want of a cluster)
	}{
		{"port 21", []string{"--passive-port-pool=1-1000"}, "--passive-port-pool 1-1000 holds port 21, the FTP control port"},
		{"port 990", []string{"--passive-port-pool=900-1000"}, "holds port 990, the implicit-FTPS port"},
		{"engine control port", []string{"--passive-port-pool=2000-3000"}, "holds port 2121, the engine's control port"},
		{"engine health port", []string{"--passive-port-pool=8000-8070", "--metrics-bind-address=0"}, ""},
		{"engine health port 8080", []string{"--passive-port-pool=8000-8090", "--metrics-bind-address=0"}, "holds port 8080, the engine's health port"},
		{"operator metrics port", []string{"--passive-port-pool=9000-9100", "--metrics-bind-address=:9050"}, "holds port 9050, the operator's metrics-bind-address"},
		{"operator health port", []string{"--passive-port-pool=40000-40100", "--health-probe-bind-address=127.0.0.1:40001"}, "holds port 40001, the operator's health-probe-bind-address"},
		{"negative namespace limit", []string{"--max-ports-per-namespace=-1"}, "--max-ports-per-namespace -1"},
		{"default pool", nil, ""},
		{"bad annotation pattern", []string{"--allowed-service-annotations=metallb.io/*,example.com/a*b"}, `--allowed-service-annotations: pattern "example.com/a*b"`},
		{"annotation patterns", []string{"--allowed-service-annotations=metallb.io/*, example.com/key,*"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", "/nonexistent")
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // nothing may start
			err := runManager(ctx, append([]string{"--ftpd-image=x"}, tt.args...))
			switch {
			case err == nil:
				t.Fatal("manager ran without a cluster")
			case tt.want == "" && (strings.Contains(err.Error(), "passive-port-pool") || strings.Contains(err.Error(), "allowed-service-annotations")):
				t.Fatalf("pool refused: %v", err)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}
