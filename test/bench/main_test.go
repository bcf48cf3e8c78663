//go:build bench

// Package bench holds the operator benchmarks of `make bench` (issue 6), on envtest: a real kube-apiserver and
// etcd, with MetalLB's controller as the load balancer. They are tests, not testing.B benchmarks, because each
// measures one large scenario once; results go to $BENCH_OPERATOR_OUT as JSON for docs/benchmarks.md.
package bench

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ftp-operator/ftp-operator/controllers"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/bench/benchresult"
	"github.com/ftp-operator/ftp-operator/test/support"
)

var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	k8s        client.Client
	metallbDir string
	scheme     *runtime.Scheme

	resultsMu sync.Mutex
	results   []result
)

// result is one line of the operator section of docs/benchmarks.md (read by test/bench/harness).
type result = benchresult.Row

func record(t *testing.T, r result) {
	t.Helper()
	verdict := ""
	if r.Pass != nil {
		verdict = map[bool]string{true: " — pass", false: " — FAIL"}[*r.Pass]
	}
	t.Logf("RESULT %s: %.3f %s (%s)%s", r.Name, r.Value, r.Unit, r.Note, verdict)
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
}

// TestMain shares one API server (with MetalLB's CRDs) among the benchmarks and writes their results to
// $BENCH_OPERATOR_OUT, when set, at the end.
func TestMain(m *testing.M) {
	support.EnvtestMain(m, support.EnvtestOptions{MetalLB: true}, func(e *support.Envtest) {
		testEnv, metallbDir, restConfig, k8s, scheme = e.Env, e.MetalLBDir, e.Config, e.Client, e.Scheme
	}, func() error {
		out := os.Getenv("BENCH_OPERATOR_OUT")
		if out == "" {
			return nil
		}
		b, _ := json.MarshalIndent(results, "", "  ")
		return os.WriteFile(out, b, 0o644)
	})
}

// startOperator runs the real reconciler in a manager scoped to ns, with pool, until the test ends.
func startOperator(t *testing.T, ns string, pool portalloc.Range) {
	t.Helper()
	mgr, err := ctrl.NewManager(restConfig, controllers.ScopeCache(support.ManagerOptions(scheme, ns)))
	if err != nil {
		t.Fatal(err)
	}
	rec := &controllers.FTPServerReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    scheme,
		Recorder:  mgr.GetEventRecorder("ftp-operator"),
		Allocator: portalloc.New(pool),
		Render:    render.Options{Image: "localhost/ftp-operator:bench"},
		// The manager's --max-concurrent-reconciles; 0 is its default (4).
		MaxConcurrentReconciles: workers(),
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	})
}
