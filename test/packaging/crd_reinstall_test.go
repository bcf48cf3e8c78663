package packaging

import (
	"context"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestCRDReinstallStory follows README's "Reinstalling and the CRD" with real helm install/uninstall on a real API
// server: a CRD applied with kubectl blocks helm install for want of ownership metadata; the README's label and
// annotations let the release take it over; helm uninstall keeps it (crds.keep); another release name is refused
// until re-annotated; with crds.keep=false helm uninstall deletes it.
func TestCRDReinstallStory(t *testing.T) {
	requiredEnv(t, "KUBEBUILDER_ASSETS")
	helm := tool(t, "HELM", "helm")
	// As kubectl apply -f install.yaml would leave it: the CRD without Helm's metadata.
	env := support.EnvtestFor(t, support.EnvtestOptions{})
	scheme := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(scheme)
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

	adopt("ftp-operator")
	if err := install("ftp-operator"); err != nil {
		t.Fatalf("install after the README's label and annotations: %v", err)
	}
	if _, err := h("uninstall", "ftp-operator", "--namespace", namespace); err != nil {
		t.Fatal(err)
	}
	if _, err := crd(); err != nil {
		t.Fatalf("crds.keep=true: the CRD is gone after helm uninstall: %v", err)
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
		t.Errorf("crds.keep=false: helm uninstall left the CRD")
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
