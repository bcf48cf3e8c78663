package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

var (
	testEnv    *envtest.Environment
	metallbDir string // MetalLB controller and CRDs (hack/metallb.sh), when present
	restConfig *rest.Config
	k8s        client.Client
	scheme     *runtime.Scheme
	nsCounter  atomic.Int32
)

// TestMain starts one real kube-apiserver and etcd (envtest) for the package, with MetalLB's CRDs when its
// controller is there. KUBEBUILDER_ASSETS must point at them: `make test` provides them (hack/envtest-assets.sh).
func TestMain(m *testing.M) {
	support.EnvtestMain(m, support.EnvtestOptions{MetalLB: true}, func(e *support.Envtest) {
		testEnv, metallbDir, restConfig, k8s, scheme = e.Env, e.MetalLBDir, e.Config, e.Client, e.Scheme
	}, nil)
}

// operator is one running manager, watching one namespace with its own pool.
type operator struct {
	rec      *FTPServerReconciler
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.TrimRight(name, "-")
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// startOperator runs a manager scoped to ns with pool, until the test ends or stop is called.
func startOperator(t *testing.T, ns string, pool portalloc.Range) *operator {
	t.Helper()
	return startOperatorWith(t, opConfig{namespaces: []string{ns}, pool: pool})
}

// opConfig is a test manager: its namespaces and pool, and optionally a namespace limit, another API server, or a
// client that counts what the operator sends.
type opConfig struct {
	cfg        *rest.Config // default: the package's envtest
	namespaces []string
	pool       portalloc.Range
	nsLimit    int32
	intercept  *interceptor.Funcs // wraps an uncached client
	// allowedAnnotations is the --allowed-service-annotations list; nil is the default list.
	allowedAnnotations *render.AnnotationPolicy
}

func startOperatorWith(t *testing.T, c opConfig) *operator {
	t.Helper()
	if c.cfg == nil {
		c.cfg = restConfig
	}
	opts := support.ManagerOptions(scheme, c.namespaces...)
	if c.intercept != nil {
		opts.NewClient = func(cfg *rest.Config, o client.Options) (client.Client, error) {
			cl, err := client.NewWithWatch(cfg, client.Options{Scheme: o.Scheme, Mapper: o.Mapper})
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(cl, *c.intercept), nil
		}
	}
	mgr, err := ctrl.NewManager(c.cfg, ScopeCache(opts))
	if err != nil {
		t.Fatal(err)
	}
	alloc := portalloc.New(c.pool)
	alloc.SetNamespaceLimit(c.nsLimit)
	rec := &FTPServerReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    scheme,
		Recorder:  mgr.GetEventRecorder("ftp-operator"),
		Allocator: alloc,
		Render:    render.Options{Image: "localhost/ftp-operator:test", AllowedServiceAnnotations: c.allowedAnnotations},
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	op := &operator{rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { op.done <- mgr.Start(ctx) }()
	t.Cleanup(op.stop)
	return op
}

// stop stops the manager and waits for it; a second call (the test's cleanup after an explicit stop) returns at once.
func (o *operator) stop() {
	o.stopOnce.Do(func() {
		o.cancel()
		select {
		case <-o.done:
		case <-time.After(30 * time.Second):
		}
	})
}

// newServer returns an FTPServer with one user whose Secret exists.
func newServer(t *testing.T, ns, name string, mut func(*ftpv1.FTPServer)) *ftpv1.FTPServer {
	t.Helper()
	ensureSecret(t, ns, "users", map[string]string{"password": "s3cret"})
	srv := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: ftpv1.FTPServerSpec{
			Users: []ftpv1.User{{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
		},
	}
	if mut != nil {
		mut(srv)
	}
	return srv
}

func ensureSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if err := k8s.Create(context.Background(), s); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

// setSecretData sets key of the existing Secret ns/name to value, as a user editing it would.
func setSecretData(t *testing.T, ns, name, key, value string) {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[key] = []byte(value)
	if err := k8s.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// eventually polls cond every 50 ms until it returns true, for at most timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	support.Eventually(t, timeout, 50*time.Millisecond, what, cond)
}

// getServer reads an FTPServer from the API server.
func getServer(t *testing.T, ns, name string) *ftpv1.FTPServer {
	t.Helper()
	srv := &ftpv1.FTPServer{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, srv); err != nil {
		t.Fatal(err)
	}
	return srv
}

// waitCondition waits until condition typ of the server has status and reason (reason "" matches any), and
// returns the server as it was then.
func waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string) *ftpv1.FTPServer {
	t.Helper()
	var srv *ftpv1.FTPServer
	eventually(t, 20*time.Second, fmt.Sprintf("%s/%s %s=%s %s", ns, name, typ, status, reason), func() (bool, error) {
		srv = getServer(t, ns, name)
		c := apimeta.FindStatusCondition(srv.Status.Conditions, typ)
		if c == nil {
			return false, fmt.Errorf("no %s condition", typ)
		}
		if c.ObservedGeneration != srv.Generation {
			return false, fmt.Errorf("condition of generation %d, object at %d", c.ObservedGeneration, srv.Generation)
		}
		return c.Status == status && (reason == "" || c.Reason == reason), fmt.Errorf("%s=%s %s: %s", typ, c.Status, c.Reason, c.Message)
	})
	return srv
}

// waitGrant waits for a server's passive ports to be granted and returns them.
func waitGrant(t *testing.T, ns, name string) ftpv1.PortRange {
	t.Helper()
	srv := waitCondition(t, ns, name, ftpv1.ConditionPortsAllocated, metav1.ConditionTrue, ftpv1.ReasonAllocated)
	if srv.Status.PassivePorts == nil {
		t.Fatalf("%s: PortsAllocated but no status.passivePorts", name)
	}
	return *srv.Status.PassivePorts
}
