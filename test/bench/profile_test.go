//go:build bench

package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/kubernetes"
)

// apiServerProfile starts a CPU profile of kube-apiserver (its /debug/pprof/profile, which envtest's API server
// serves to its system:masters user) for secs seconds when $BENCH_PROFILE_DIR is set, and returns a function that
// waits for it and writes it to $BENCH_PROFILE_DIR/name.pprof (read it with `go tool pprof -top -cum`).
func apiServerProfile(t *testing.T, name string, secs string) (wait func()) {
	dir := os.Getenv("BENCH_PROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cs, err := kubernetes.NewForConfig(restConfig)
		if err != nil {
			t.Errorf("profiling kube-apiserver: %v", err)
			return
		}
		raw, err := cs.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", secs).DoRaw(context.Background())
		if err != nil {
			t.Errorf("profiling kube-apiserver: %v", err)
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name+".pprof"), raw, 0o644); err != nil {
			t.Errorf("profiling kube-apiserver: %v", err)
		}
	}()
	return func() { <-done }
}
