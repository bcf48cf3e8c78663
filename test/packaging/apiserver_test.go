package packaging

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestAgainstAPIServer sends what users apply to a real kube-apiserver (envtest): the CRD from config/crd/bases
// installed, every sample must be accepted with its defaults and CEL rules applied, an invalid one refused, and every
// object the chart and config/default render must pass a strict server-side dry run (no unknown field, valid RBAC).
func TestAgainstAPIServer(t *testing.T) {
	requiredEnv(t, "KUBEBUILDER_ASSETS")
	samplesObjs, _ := samples(t)
	chart := helmTemplate(t)
	kust := kustomizeBuild(t, "config/default")
	watching := helmTemplate(t, "--set", "watchNamespaces={samples}")
	install := installYAML(t, "registry.example/ftp-operator:v0.0.0-test")

	env := support.EnvtestFor(t, support.EnvtestOptions{})
	cfg, c := env.Config, env.Client
	ctx := context.Background()
	for _, ns := range []string{"samples", namespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	strict := client.FieldValidation(metav1.FieldValidationStrict)

	t.Run("samples are accepted", func(t *testing.T) {
		for _, m := range samplesObjs {
			o := &unstructured.Unstructured{Object: m}
			o.SetNamespace("samples")
			if err := c.Create(ctx, o, strict); err != nil {
				t.Errorf("%s %s refused: %v", o.GetKind(), o.GetName(), err)
			}
		}
		got := &unstructured.Unstructured{}
		got.SetAPIVersion("ftpoperator.io/v1alpha1")
		got.SetKind("FTPServer")
		if err := c.Get(ctx, client.ObjectKey{Namespace: "samples", Name: "ftp-nodeport"}, got); err != nil {
			t.Fatal(err)
		}
		// Defaults from the schema are applied by the server.
		if mode, _, _ := unstructured.NestedString(got.Object, "spec", "activeMode"); mode != "Disabled" {
			t.Errorf("spec.activeMode defaulted to %q, want Disabled", mode)
		}
	})

	t.Run("an invalid sample is refused", func(t *testing.T) {
		for name, mutate := range map[string]func(map[string]any){
			"count and range": func(spec map[string]any) {
				spec["passivePorts"] = map[string]any{"count": int64(4), "range": map[string]any{"start": int64(30000), "end": int64(30003)}}
			},
			"two storage sources": func(spec map[string]any) {
				spec["storage"] = map[string]any{"emptyDir": map[string]any{}, "persistentVolumeClaim": map[string]any{"claimName": "x"}}
			},
			"unknown field": func(spec map[string]any) { spec["passivePort"] = int64(1) },
		} {
			var srv map[string]any
			for _, m := range samplesObjs {
				if m["kind"] == "FTPServer" {
					srv = deepCopy(m)
					break
				}
			}
			o := &unstructured.Unstructured{Object: srv}
			o.SetNamespace("samples")
			o.SetName("invalid")
			mutate(o.Object["spec"].(map[string]any))
			err := c.Create(ctx, o, strict, client.DryRunAll)
			if err == nil {
				t.Errorf("%s: accepted", name)
			} else if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Errorf("%s: refused for another reason: %v", name, err)
			}
		}
	})

	withOptions := helmTemplate(t, networkPolicyFlags...)
	for name, objs := range map[string][]unstructured.Unstructured{
		"chart": chart, "kustomize": kust, "chart with watchNamespaces": watching, "install.yaml": install, "chart with NetworkPolicy": withOptions,
	} {
		t.Run(name+" objects pass a strict dry run", func(t *testing.T) {
			for _, o := range objs {
				o := o.DeepCopy()
				if o.GetKind() == "CustomResourceDefinition" {
					// Installed already from config/crd/bases; an update dry run checks this copy.
					cur := &unstructured.Unstructured{}
					cur.SetGroupVersionKind(o.GroupVersionKind())
					if err := c.Get(ctx, client.ObjectKey{Name: o.GetName()}, cur); err != nil {
						t.Fatal(err)
					}
					o.SetResourceVersion(cur.GetResourceVersion())
					if err := c.Update(ctx, o, strict, client.DryRunAll); err != nil {
						t.Errorf("CRD %s: %v", o.GetName(), err)
					}
					continue
				}
				if err := c.Create(ctx, o, strict, client.DryRunAll); err != nil && !strings.Contains(err.Error(), "already exists") {
					t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		})
	}

	// After the dry runs: these create the chart's RBAC objects for real.
	t.Run("manager runs with the chart's RBAC", func(t *testing.T) { testManagerRBAC(t, cfg, c, chart) })
	t.Run("view and edit aggregate FTPServer rules", func(t *testing.T) { testAggregatedRoles(t, cfg, c, chart) })
	t.Run("manager with watchNamespaces runs on RoleBindings", func(t *testing.T) { testWatchNamespacesRBAC(t, cfg, c) })
}

func deepCopy(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}
