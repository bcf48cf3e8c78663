package packaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestChartAsSubchart renders the chart as a dependency of an umbrella chart (which makes Helm inject global),
// lints the umbrella strictly and checks the subchart overrides reach the objects.
func TestChartAsSubchart(t *testing.T) {
	helm := tool(t, "HELM", "helm")
	umbrella := filepath.Join(t.TempDir(), "platform")
	for _, d := range []string{"charts", "templates"} {
		if err := os.MkdirAll(filepath.Join(umbrella, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run(t, helm, "package", "charts/ftp-operator", "--destination", filepath.Join(umbrella, "charts"))
	version := strings.TrimSpace(string(run(t, "sed", "-n", "s/^version: *//p", "charts/ftp-operator/Chart.yaml")))
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(umbrella, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Chart.yaml", `apiVersion: v2
name: platform
version: 1.0.0
dependencies:
  - name: ftp-operator
    version: "`+version+`"
`)
	write("templates/configmap.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: platform
data:
  registry: {{ .Values.global.imageRegistry | quote }}
`)
	write("values.yaml", `global:
  imageRegistry: registry.example
  labels:
    cost-center: platform
ftp-operator:
  fullnameOverride: ftp
  nameOverride: ftpop
  commonLabels:
    team: payments
  image:
    repository: registry.example/ftp-operator
    digest: `+testDigest+`
  podSecurityContext:
    runAsNonRoot: true
    fsGroup: 65532
  securityContext:
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: [ALL]
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
  extraEnv:
    - name: GOMEMLIMIT
      value: 200MiB
  podDisruptionBudget:
    enabled: true
`)
	run(t, helm, "lint", "--strict", umbrella)
	objs := decode(t, run(t, helm, "template", "platform", umbrella, "--namespace", namespace))

	dep := find(t, objs, "Deployment", "ftp-controller-manager")
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || o.GetName() == "platform" {
			continue // cluster-wide name; the umbrella's own ConfigMap
		}
		if !strings.HasPrefix(o.GetName(), "ftp-") {
			t.Errorf("%s %s: fullnameOverride not applied", o.GetKind(), o.GetName())
		}
		if l := o.GetLabels(); l["team"] != "payments" || l["app.kubernetes.io/name"] != "ftpop" {
			t.Errorf("%s %s: labels %v lack commonLabels or nameOverride", o.GetKind(), o.GetName(), l)
		}
	}
	if got := string(field(t, dep, "spec", "selector", "matchLabels")); strings.Contains(got, "team") {
		t.Errorf("commonLabels leaked into the selector: %s", got)
	}
	pod := func(path ...string) string {
		return string(field(t, dep, append([]string{"spec", "template", "spec"}, path...)...))
	}
	c := container(t, dep)
	want := "registry.example/ftp-operator@" + testDigest
	if c["image"] != want {
		t.Errorf("image %v, want %s", c["image"], want)
	}
	env, _ := c["env"].([]any)
	var names []string
	for _, e := range env {
		m := e.(map[string]any)
		names = append(names, m["name"].(string))
		if m["name"] == "FTPD_IMAGE" && m["value"] != want {
			t.Errorf("FTPD_IMAGE %v, want the digest too: %s", m["value"], want)
		}
	}
	if !slices.Contains(names, "GOMEMLIMIT") || !slices.Contains(names, "FTPD_IMAGE") {
		t.Errorf("env %v: want FTPD_IMAGE and extraEnv's GOMEMLIMIT", names)
	}
	if got := pod("securityContext"); !strings.Contains(got, `"fsGroup":65532`) {
		t.Errorf("podSecurityContext not applied: %s", got)
	}
	if got := pod("topologySpreadConstraints"); !strings.Contains(got, `"topologyKey":"topology.kubernetes.io/zone"`) ||
		!strings.Contains(got, `"app.kubernetes.io/name":"ftpop"`) {
		t.Errorf("topologySpreadConstraints without the zone key or the default labelSelector: %s", got)
	}
	pdb := find(t, objs, "PodDisruptionBudget", "ftp-controller-manager")
	if got, want := string(field(t, pdb, "spec", "selector")), string(field(t, dep, "spec", "selector")); got != want {
		t.Errorf("PodDisruptionBudget selects %s, the Deployment %s", got, want)
	}
}

// container returns the manager container of a Deployment.
func container(t *testing.T, dep *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m := c.(map[string]any); m["name"] == "manager" {
			return m
		}
	}
	t.Fatalf("no manager container in %s", dep.GetName())
	return nil
}

// TestChartDefaultsUnchanged: without the new values the manager pod is what it was (no PDB, no extra env, the
// tag, the fixed security contexts).
func TestChartDefaultsUnchanged(t *testing.T) {
	objs := helmTemplate(t)
	if has(objs, "PodDisruptionBudget", "") {
		t.Errorf("a PodDisruptionBudget without podDisruptionBudget.enabled")
	}
	dep := find(t, objs, "Deployment", release+"-controller-manager")
	c := container(t, dep)
	if img, _ := c["image"].(string); !strings.HasPrefix(img, "localhost/ftp-operator:") {
		t.Errorf("default image %q", img)
	}
	want := `{"runAsGroup":65532,"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}}`
	if got := string(field(t, dep, "spec", "template", "spec", "securityContext")); got != want {
		t.Errorf("pod securityContext %s, want %s", got, want)
	}
	// minAvailable empty: maxUnavailable instead.
	objs = helmTemplate(t, "--set", "podDisruptionBudget.enabled=true", "--set", "podDisruptionBudget.minAvailable=", "--set", "podDisruptionBudget.maxUnavailable=1")
	if got := string(field(t, find(t, objs, "PodDisruptionBudget", release+"-controller-manager"), "spec", "maxUnavailable")); got != "1" {
		t.Errorf("maxUnavailable %s", got)
	}
}

// TestWatchNamespacesRendering: watchNamespaces passes the flag and grants the manager's rules by a RoleBinding
// in each watched namespace; only reading nodes stays cluster-wide.
func TestWatchNamespacesRendering(t *testing.T) {
	objs := helmTemplate(t, "--set", "watchNamespaces={team-a,team-b}")
	c := container(t, find(t, objs, "Deployment", release+"-controller-manager"))
	args, _ := c["args"].([]any)
	if !slices.Contains(args, any("--watch-namespaces=team-a,team-b")) {
		t.Errorf("manager args %v lack --watch-namespaces=team-a,team-b", args)
	}
	if has(objs, "ClusterRoleBinding", release+"-manager-rolebinding") {
		t.Errorf("a ClusterRoleBinding to the manager role with watchNamespaces")
	}
	for _, ns := range []string{"team-a", "team-b"} {
		var rb *unstructured.Unstructured
		for i := range objs {
			if objs[i].GetKind() == "RoleBinding" && objs[i].GetNamespace() == ns {
				rb = &objs[i]
			}
		}
		if rb == nil {
			t.Errorf("no RoleBinding in %s", ns)
			continue
		}
		if got := string(field(t, rb, "roleRef", "name")); got != `"`+release+`-manager-role"` {
			t.Errorf("RoleBinding in %s refers to %s", ns, got)
		}
	}
	nodes := find(t, objs, "ClusterRole", release+"-manager-nodes")
	if got := string(field(t, nodes, "rules")); got != `[{"apiGroups":[""],"resources":["nodes"],"verbs":["get","list"]}]` {
		t.Errorf("nodes ClusterRole rules %s", got)
	}
	find(t, objs, "ClusterRoleBinding", release+"-manager-nodes")
}

// TestAggregatedRolesRender: chart and config/ ship FTPServer roles labelled for the built-in view/edit/admin.
func TestAggregatedRolesRender(t *testing.T) {
	for name, objs := range map[string][]unstructured.Unstructured{"chart": helmTemplate(t), "kustomize": kustomizeBuild(t, "config/default")} {
		view := find(t, objs, "ClusterRole", release+"-ftpserver-view")
		edit := find(t, objs, "ClusterRole", release+"-ftpserver-edit")
		for role, want := range map[*unstructured.Unstructured][]string{view: {"view", "edit", "admin"}, edit: {"edit", "admin"}} {
			for _, w := range want {
				if role.GetLabels()["rbac.authorization.k8s.io/aggregate-to-"+w] != "true" {
					t.Errorf("%s: %s lacks aggregate-to-%s", name, role.GetName(), w)
				}
			}
		}
		if view.GetLabels()["rbac.authorization.k8s.io/aggregate-to-view"] != "true" || edit.GetLabels()["rbac.authorization.k8s.io/aggregate-to-view"] == "true" {
			t.Errorf("%s: only the read role may aggregate into view", name)
		}
	}
	if has(helmTemplate(t, "--set", "aggregateClusterRoles=false"), "ClusterRole", release+"-ftpserver-view") {
		t.Errorf("aggregateClusterRoles=false still renders the roles")
	}
}
