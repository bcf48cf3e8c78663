//go:build bench

// Package bench holds the operator benchmarks of `make bench` (issue 6), on envtest: a real kube-apiserver and
// etcd, with MetalLB's controller as the load balancer. They are tests, not testing.B benchmarks, because each
// measures one large scenario once; results go to $BENCH_OPERATOR_OUT as JSON for docs/benchmarks.md.
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ftp-operator/ftp-operator/internal/portalloc"
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

// startOperator runs `ftp-operator manager`, the binary users deploy (built once by test/support), as a process
// of its own that serves only ns with pool, until the test ends. Its CPU time is counted by cpuSeconds. It runs as
// in a cluster: as a ServiceAccount with the generated ClusterRole (support.ManagerKubeconfig), so the API server
// authenticates its requests by a cached token and authorises them by RBAC.
func startOperator(t *testing.T, ns string, pool portalloc.Range) *support.OperatorProcess {
	t.Helper()
	flags := []string{"--leader-elect=false", "--watch-namespaces=" + ns, fmt.Sprintf("--passive-port-pool=%d-%d", pool.Start, pool.End)}
	if w := workers(); w > 0 { // else the manager's default (controllers.DefaultMaxConcurrentReconciles)
		flags = append(flags, fmt.Sprintf("--max-concurrent-reconciles=%d", w))
	}
	if os.Getenv("BENCH_PROFILE_DIR") != "" { // for operatorProfile; the manager refuses a port inside its pool
		port := support.FreePort(t)
		for i := 0; i < 100 && port >= int(pool.Start) && port <= int(pool.End); i++ {
			port = support.FreePort(t)
		}
		flags = append(flags, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", port))
	}
	kc := support.ManagerKubeconfig(t, restConfig, "ftp-operator-system", "operator-"+ns)
	return support.StartOperatorProcess(t, support.OperatorBinary(t), kc, "operator-"+ns, flags...)
}
