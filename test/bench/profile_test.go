//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	return saveProfile(t, dir, name, func() ([]byte, error) {
		cs, err := kubernetes.NewForConfig(restConfig)
		if err != nil {
			return nil, err
		}
		return cs.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", secs).DoRaw(context.Background())
	})
}

// operatorProfile is apiServerProfile for the operator's manager process, started by startOperator with a
// --pprof-bind-address when $BENCH_PROFILE_DIR is set.
func operatorProfile(t *testing.T, args []string, name string, secs string) (wait func()) {
	dir := os.Getenv("BENCH_PROFILE_DIR")
	var addr string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--pprof-bind-address="); ok {
			addr = v
		}
	}
	if dir == "" || addr == "" {
		return func() {}
	}
	return saveProfile(t, dir, name, func() ([]byte, error) {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%s", addr, secs))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET /debug/pprof/profile: %s", resp.Status)
		}
		return io.ReadAll(resp.Body)
	})
}

// saveProfile runs get in the background and writes what it returns to dir/name.pprof; wait waits for it.
func saveProfile(t *testing.T, dir, name string, get func() ([]byte, error)) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := get()
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+".pprof"), raw, 0o644)
		}
		if err != nil {
			t.Errorf("profiling %s: %v", name, err)
		}
	}()
	return func() { <-done }
}
