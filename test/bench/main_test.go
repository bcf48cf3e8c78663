//go:build bench

// Package bench holds the operator benchmarks of `make bench` (issue 6), on envtest: a real kube-apiserver and
// etcd, with MetalLB's controller as the load balancer. They are tests, not testing.B benchmarks, because each
// measures one large scenario once; results go to $BENCH_OPERATOR_OUT as JSON for docs/benchmarks.md.
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/test/support"
)

var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	k8s        client.Client
	metallbDir string
	scheme     = runtime.NewScheme()

	resultsMu sync.Mutex
	results   []result
)

// result is one line of the operator section of docs/benchmarks.md (read by hack/bench).
type result struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Pass   *bool   `json:"pass,omitempty"`
	Note   string  `json:"note,omitempty"`
}

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

func TestMain(m *testing.M) {
	if err := support.UseEnvtestAssets(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.Level(2))))
	_ = clientgoscheme.AddToScheme(scheme)
	_ = ftpv1.AddToScheme(scheme)
	crds := []string{filepath.Join("..", "..", "config", "crd", "bases")}
	metallbDir = os.Getenv("METALLB_DIR")
	if metallbDir == "" {
		if matches, _ := filepath.Glob(filepath.Join("..", "..", "bin", "metallb", "v*", "controller")); len(matches) > 0 {
			metallbDir, _ = filepath.Abs(filepath.Dir(matches[len(matches)-1]))
		}
	}
	if metallbDir != "" {
		crds = append(crds, filepath.Join(metallbDir, "crds"))
	}
	testEnv = &envtest.Environment{CRDDirectoryPaths: crds, ErrorIfCRDPathMissing: true}
	// envtest's default Service range (10.0.0.0/24) holds 254 ClusterIPs; 1,000 FTPServers need one each.
	testEnv.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	var err error
	if restConfig, err = testEnv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		os.Exit(1)
	}
	// envtest's config allows 1,000 requests/s (burst 2,000) on the client side; the real manager's
	// (ctrl.GetConfig) leaves rate limiting to the API server's priority and fairness.
	if k8s, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if out := os.Getenv("BENCH_OPERATOR_OUT"); out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if err := testEnv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

// startOperator runs `ftp-operator manager`, the binary users deploy (built once by test/support), as a process
// of its own that serves only ns with pool, until the test ends. Its CPU time is counted by cpuSeconds.
func startOperator(t *testing.T, ns string, pool portalloc.Range) {
	t.Helper()
	flags := []string{"--leader-elect=false", "--watch-namespaces=" + ns, fmt.Sprintf("--passive-port-pool=%d-%d", pool.Start, pool.End)}
	if w := workers(); w > 0 { // else the manager's default (4)
		flags = append(flags, fmt.Sprintf("--max-concurrent-reconciles=%d", w))
	}
	support.StartOperatorProcess(t, support.OperatorBinary(t), support.Kubeconfig(t, testEnv, "operator-"+ns), "operator-"+ns, flags...)
}
