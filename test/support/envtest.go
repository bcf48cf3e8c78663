package support

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// EnvtestOptions say what StartEnvtest starts besides the API server with the FTPServer CRD.
type EnvtestOptions struct {
	// MetalLB adds MetalLB's CRDs when FindMetalLB finds its controller (Envtest.MetalLBDir says whether it did).
	MetalLB bool
	// CertDir keeps the API server's certificates in this folder, so that an API server stopped and started again
	// serves the same CA on the same port and every client reconnects ("" = envtest's own temporary folder).
	CertDir string
	// APIServerFlags are more kube-apiserver flags (such as service-node-port-range), set after the defaults.
	APIServerFlags map[string]string
}

// Envtest is a real kube-apiserver and etcd (controller-runtime's envtest) with the FTPServer CRD, and a client.
type Envtest struct {
	Env        *envtest.Environment
	Config     *rest.Config
	Client     client.Client
	Scheme     *runtime.Scheme // client-go's types and the FTPServer API
	MetalLBDir string          // MetalLB's controller and CRDs, when EnvtestOptions.MetalLB found them
}

// StartEnvtest starts kube-apiserver and etcd (KUBEBUILDER_ASSETS, or the ones make caches in bin/k8s) with the
// FTPServer CRD and a Service range of 65,534 ClusterIPs (envtest's default /24 holds 254; suites and benchmarks
// create more Services). Call Stop when done; from TestMain, before os.Exit.
func StartEnvtest(o EnvtestOptions) (*Envtest, error) {
	if err := UseEnvtestAssets(); err != nil {
		return nil, err
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	e := &Envtest{Scheme: NewScheme()}
	crds := []string{filepath.Join(root, "config", "crd", "bases")}
	if o.MetalLB {
		if e.MetalLBDir = FindMetalLB(); e.MetalLBDir != "" {
			crds = append(crds, filepath.Join(e.MetalLBDir, "crds"))
		}
	}
	e.Env = &envtest.Environment{CRDDirectoryPaths: crds, ErrorIfCRDPathMissing: true}
	api := e.Env.ControlPlane.GetAPIServer()
	if o.CertDir != "" {
		api.CertDir = o.CertDir
	}
	api.Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	for k, v := range o.APIServerFlags {
		api.Configure().Set(k, v)
	}
	// envtest's config allows 1,000 requests/s (burst 2,000) on the client side; the real manager's
	// (ctrl.GetConfig) leaves rate limiting to the API server's priority and fairness.
	if e.Config, err = e.Env.Start(); err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		_ = e.Env.Stop()
		return nil, err
	}
	return e, nil
}

// EnvtestFor is StartEnvtest for one test: it fails t when the API server does not start, and stops it when t
// ends.
func EnvtestFor(t testing.TB, o EnvtestOptions) *Envtest {
	t.Helper()
	e, err := StartEnvtest(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Log(err)
		}
	})
	return e
}

// EnvtestMain is the TestMain of a package whose tests share one API server: it sets the operator's logger, starts
// envtest as o says, hands it to setup (which keeps what the tests use), runs the tests, then calls done (when not
// nil; an error fails the run), stops envtest and exits.
func EnvtestMain(m *testing.M, o EnvtestOptions, setup func(*Envtest), done func() error) {
	SetOperatorLogger()
	e, err := StartEnvtest(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	setup(e)
	code := m.Run()
	if done != nil {
		if err := done(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// Stop stops the API server and etcd.
func (e *Envtest) Stop() error {
	if err := e.Env.Stop(); err != nil {
		return fmt.Errorf("stopping envtest: %w", err)
	}
	return nil
}

// NewScheme holds client-go's types and the FTPServer API.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = ftpv1.AddToScheme(s)
	return s
}

// FindMetalLB returns $METALLB_DIR, or the folder hack/metallb.sh caches MetalLB's controller in (bin/metallb/v*),
// or "" when there is none.
func FindMetalLB() string {
	if d := os.Getenv("METALLB_DIR"); d != "" {
		return d
	}
	root, err := moduleRoot()
	if err != nil {
		return ""
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin", "metallb", "v*", "controller"))
	if len(matches) == 0 {
		return ""
	}
	return filepath.Dir(matches[len(matches)-1])
}

// SetOperatorLogger sends controller-runtime's log to stderr, errors only, or everything with
// $TEST_VERBOSE_OPERATOR set.
func SetOperatorLogger() {
	level := zapcore.ErrorLevel
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		level = zapcore.DebugLevel
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
}

// ManagerOptions are the options of a manager a test starts next to others in one process: scheme, no metrics or
// probe listeners, the cache scoped to namespaces (every namespace when none), and controller names that may repeat
// (each test's manager registers the same controller).
func ManagerOptions(scheme *runtime.Scheme, namespaces ...string) ctrl.Options {
	var nss map[string]cache.Config
	if len(namespaces) > 0 {
		nss = map[string]cache.Config{}
		for _, ns := range namespaces {
			nss[ns] = cache.Config{}
		}
	}
	return ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: nss},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	}
}
