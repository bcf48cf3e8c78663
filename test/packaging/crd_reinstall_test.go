package packaging

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestCRDReinstallStory follows README's "Reinstalling and the CRD" with real helm install/uninstall on a real API
// server: a CRD applied with kubectl blocks helm install for want of ownership metadata; the README's label and
// annotations let the release take it over and mark it helm.sh/resource-policy: keep; helm uninstall keeps it and
// every FTPServer (crds.keep), and a new install under the same release name takes it over again; another
// release name is refused until re-annotated; with crds.keep=false helm uninstall deletes it, and with it the
// FTPServers of every namespace, while the users' Secrets stay. (What the garbage collector then deletes through
// owner references is the controllers' tests' part: envtest runs no garbage collector.)
func TestCRDReinstallStory(t *testing.T) {
	requiredEnv(t, "KUBEBUILDER_ASSETS")
	helm := tool(t, "HELM", "helm")
	// As kubectl apply -f install.yaml would leave it: the CRD without Helm's metadata.
	env := support.EnvtestFor(t, support.EnvtestOptions{})
	scheme := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(scheme)
	_ = corev1.AddToScheme(scheme)
	_ = ftpv1.AddToScheme(scheme)
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := support.Kubeconfig(t, env.Env, "admin")
	h := func(args ...string) (string, error) {
		t.Helper()
		out, err := runErr(t, helm, append(args, "--kubeconfig", kubeconfig)...)
		if err != nil {
			return string(out), err
		}
		return string(out), nil
	}
	install := func(rel string, flags ...string) error {
		_, err := h(append([]string{"install", rel, "charts/ftp-operator", "--namespace", namespace, "--create-namespace"}, flags...)...)
		return err
	}
	ctx := context.Background()
	crd := func() (*apiextensionsv1.CustomResourceDefinition, error) {
		o := &apiextensionsv1.CustomResourceDefinition{}
		return o, c.Get(ctx, client.ObjectKey{Name: crdName}, o)
	}
	// The README's commands, as a merge patch.
	adopt := func(rel string) {
		t.Helper()
		o, err := crd()
		if err != nil {
			t.Fatal(err)
		}
		patch := `{"metadata":{"labels":{"app.kubernetes.io/managed-by":"Helm"},"annotations":{"meta.helm.sh/release-name":"` + rel +
			`","meta.helm.sh/release-namespace":"` + namespace + `"}}}`
		if err := c.Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
	}

	err = install("ftp-operator")
	if err == nil || !strings.Contains(err.Error(), "invalid ownership metadata") {
		t.Fatalf("helm install over a kubectl-applied CRD: %v, want invalid ownership metadata", err)
	}
	if err := install("ftp-operator", "--set", "crds.enabled=false"); err != nil {
		t.Fatalf("install leaving the CRD to kubectl: %v", err)
	}
	if _, err := h("uninstall", "ftp-operator", "--namespace", namespace, "--wait=false"); err != nil {
		t.Fatal(err)
	}

	// Servers in two namespaces, each with its users' Secret, as tenants would have them.
	tenants := []string{"team-a", "team-b"}
	for _, ns := range tenants {
		for _, o := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"}, StringData: map[string]string{"password": "s3cret"}},
			&ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ftp"}, Spec: ftpv1.FTPServerSpec{
				Users: []ftpv1.User{{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
			}},
		} {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	servers := func() []string {
		var have []string
		for _, ns := range tenants {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ftp"}, &ftpv1.FTPServer{}); err == nil {
				have = append(have, ns+"/ftp")
			}
		}
		return have
	}

	adopt("ftp-operator")
	if err := install("ftp-operator"); err != nil {
		t.Fatalf("install after the README's label and annotations: %v", err)
	}
	if o, err := crd(); err != nil || o.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("crds.keep=true (the default): the CRD's annotations %v (%v), want helm.sh/resource-policy: keep", o.Annotations, err)
	}
	if _, err := h("uninstall", "ftp-operator", "--namespace", namespace); err != nil {
		t.Fatal(err)
	}
	if _, err := crd(); err != nil {
		t.Fatalf("crds.keep=true: the CRD is gone after helm uninstall: %v", err)
	}
	if have := servers(); len(have) != len(tenants) {
		t.Fatalf("crds.keep=true: after helm uninstall the FTPServers left are %v, want one in each of %v", have, tenants)
	}
	// Still annotated with the old release's name: the same name and namespace take it over without kubectl.
	if err := install("ftp-operator"); err != nil {
		t.Fatalf("a new install under the same release name over the kept CRD: %v", err)
	}
	if _, err := h("uninstall", "ftp-operator", "--namespace", namespace); err != nil {
		t.Fatal(err)
	}

	if err := install("other"); err == nil || !strings.Contains(err.Error(), "invalid ownership metadata") {
		t.Fatalf("another release name took the kept CRD over: %v", err)
	}
	adopt("other")
	if err := install("other", "--set", "crds.keep=false"); err != nil {
		t.Fatalf("install after re-annotating: %v", err)
	}
	if _, err := h("uninstall", "other", "--namespace", namespace); err != nil {
		t.Fatal(err)
	}
	o, err := crd()
	if err == nil && o.DeletionTimestamp == nil {
		t.Fatalf("crds.keep=false: helm uninstall left the CRD")
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	// The API server deletes every FTPServer before it lets the CRD go (its cleanup finalizer).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if _, err := crd(); apierrors.IsNotFound(err) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("crds.keep=false: the CRD is still there a minute after helm uninstall (%v); FTPServers left: %v", err, servers())
		}
	}
	for _, ns := range tenants {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "users"}, &corev1.Secret{}); err != nil {
			t.Errorf("crds.keep=false: the users' Secret of %s: %v, want it kept", ns, err)
		}
	}
}
