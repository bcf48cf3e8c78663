package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// testManagerRBAC installs the chart's ServiceAccount, ClusterRole and leader-election Role for real, then runs the
// real manager binary as that ServiceAccount (a token, no admin rights) with the chart's flags. The manager must
// win the leader election and reconcile an FTPServer into its Service, Deployment and engine RBAC without a single
// "forbidden": proof that the generated rules are enough (a missing +kubebuilder:rbac marker fails here).
func testManagerRBAC(t *testing.T, cfg *rest.Config, c client.Client, chart []unstructured.Unstructured) {
	runManagerRBAC(t, cfg, c, chart, release, namespace, "rbac-check", "")
}

// runManagerRBAC runs the manager of release rel (installed in relNS) as its ServiceAccount and checks it serves an
// FTPServer in ns; when other is set, it must leave an FTPServer in namespace other alone (watchNamespaces).
func runManagerRBAC(t *testing.T, cfg *rest.Config, c client.Client, chart []unstructured.Unstructured, rel, relNS, ns, other string) {
	bin := requiredEnv(t, "FTP_OPERATOR_BIN") // make test-packaging builds the binary
	ctx := context.Background()
	var sa string
	for _, o := range chart {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			o := o.DeepCopy()
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
			}
			if o.GetKind() == "ServiceAccount" {
				sa = o.GetName()
			}
		}
	}

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(relNS).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s: %v", sa, err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := support.WriteTokenKubeconfig(cfg, tok.Status.Token, relNS, kubeconfig); err != nil {
		t.Fatal(err)
	}

	// The chart's manager arguments, with the pod-only parts replaced: no listening ports, the namespace given
	// instead of read from the pod's service account mount.
	d := find(t, chart, "Deployment", rel+"-controller-manager")
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	var run []string
	var metricsAddr string // with --metrics-secure=true: scraped below, with the chart's metrics RBAC
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="):
			a = "--metrics-bind-address=0"
			if slices.Contains(args, "--metrics-secure=true") {
				metricsAddr = fmt.Sprintf("127.0.0.1:%d", support.FreePort(t))
				a = "--metrics-bind-address=" + metricsAddr
			}
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=0"
		case a == "--ftpd-image=$(FTPD_IMAGE)":
			a = "--ftpd-image=localhost/ftp-operator:test"
		}
		run = append(run, a)
	}
	run = append(run, "--leader-election-namespace="+relNS)
	var logs support.SyncBuffer
	cmd := exec.Command(bin, run...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	exited := support.StartProcess(t, cmd, func() string { return "manager log:\n" + logs.String() })

	for _, n := range []string{ns, other} {
		if n == "" {
			continue
		}
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: "users"},
			StringData: map[string]string{"password": "s3cret"}}); err != nil {
			t.Fatal(err)
		}
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = ftpv1.AddToScheme(scheme)
	tc, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	srv := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec: ftpv1.FTPServerSpec{
			Users:        []ftpv1.User{{Name: "demo", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
			Service:      ftpv1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
			PassivePorts: ftpv1.PassivePorts{Count: ptr.To[int32](4)},
		},
	}
	if err := tc.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	// A server on S3: the manager creates its health ConfigMap and grants the engines patch on it (RBAC lets it
	// grant only what it holds itself).
	store := &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "store"}, Spec: *srv.Spec.DeepCopy()}
	store.Spec.Storage.S3 = &ftpv1.S3Storage{Endpoint: "http://127.0.0.1:9", Bucket: "ftp-files",
		CredentialsSecretRef: ftpv1.LocalObjectReference{Name: "users"}}
	if err := tc.Create(ctx, store); err != nil {
		t.Fatal(err)
	}
	var outside *ftpv1.FTPServer
	if other != "" {
		outside = &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: srv.Name}, Spec: *srv.Spec.DeepCopy()}
		if err := tc.Create(ctx, outside); err != nil {
			t.Fatal(err)
		}
	}

	// No kubelet runs in envtest, so the workload never becomes available: wait for everything up to that.
	deadline := time.Now().Add(60 * time.Second)
	var missing string
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("the manager exited: %v\n%s", err, logs.String())
		default:
		}
		missing = ""
		var lease coordinationv1.Lease
		if err := tc.Get(ctx, client.ObjectKey{Namespace: relNS, Name: "ftp-operator.ftpoperator.io"}, &lease); err != nil {
			missing = "leader-election Lease: " + err.Error()
		}
		var got ftpv1.FTPServer
		if err := tc.Get(ctx, client.ObjectKeyFromObject(srv), &got); err != nil {
			t.Fatal(err)
		}
		for _, cond := range []string{ftpv1.ConditionPortsAllocated, ftpv1.ConditionServiceReady, ftpv1.ConditionAddress} {
			if !apimeta.IsStatusConditionTrue(got.Status.Conditions, cond) {
				missing += fmt.Sprintf(" condition %s not True (%v);", cond, apimeta.FindStatusCondition(got.Status.Conditions, cond))
			}
		}
		var list unstructured.UnstructuredList
		for _, gvk := range []string{"apps/v1/Deployment", "v1/Service", "rbac.authorization.k8s.io/v1/RoleBinding"} {
			i := strings.LastIndex(gvk, "/")
			list.SetAPIVersion(gvk[:i])
			list.SetKind(gvk[i+1:] + "List")
			if err := tc.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) == 0 {
				missing += fmt.Sprintf(" no %s (%v);", gvk[i+1:], err)
			}
		}
		if err := tc.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.HealthConfigMapName(store)}, &corev1.ConfigMap{}); err != nil {
			missing += " health ConfigMap: " + err.Error() + ";"
		}
		var role rbacv1.Role
		if err := tc.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.EngineIdentityName}, &role); err != nil ||
			!slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Equal(r.Verbs, []string{"patch"}) && slices.Equal(r.ResourceNames, []string{render.HealthConfigMapName(store)})
			}) {
			missing += fmt.Sprintf(" engine Role without patch on %s (%v %v);", render.HealthConfigMapName(store), role.Rules, err)
		}
		if missing == "" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if missing != "" {
		t.Fatalf("after 60s:%s", missing)
	}
	if outside != nil {
		// The watched server is done; one not watched must have no status and no Service.
		time.Sleep(2 * time.Second)
		var got ftpv1.FTPServer
		if err := tc.Get(ctx, client.ObjectKeyFromObject(outside), &got); err != nil {
			t.Fatal(err)
		}
		var svcs corev1.ServiceList
		if err := tc.List(ctx, &svcs, client.InNamespace(other)); err != nil {
			t.Fatal(err)
		}
		if len(got.Status.Conditions) > 0 || len(svcs.Items) > 0 {
			t.Errorf("the manager watching %s served an FTPServer in %s: %d conditions, %d Services", ns, other, len(got.Status.Conditions), len(svcs.Items))
		}
	}
	if metricsAddr != "" {
		checkSecureMetrics(t, cs, chart, rel, relNS, metricsAddr)
	}
	if l := logs.String(); strings.Contains(l, "forbidden") {
		t.Errorf("the manager was refused something; the ClusterRole lacks a rule:\n%s", l)
	}
}
