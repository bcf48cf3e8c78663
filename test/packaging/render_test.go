package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestChartAndKustomizeAgree renders both install paths and checks they create the same objects: the same CRD spec
// (byte for byte, and equal to config/crd/bases), the same ClusterRole rules (equal to config/rbac/role.yaml), the
// same bindings and the same manager pod.
func TestChartAndKustomizeAgree(t *testing.T) {
	chart := helmTemplate(t)
	kust := kustomizeBuild(t, "config/default")

	t.Run("same objects", func(t *testing.T) {
		var k []string
		for _, id := range ids(kust) {
			if !strings.HasPrefix(id, "Namespace/") { // helm install --create-namespace makes it
				k = append(k, id)
			}
		}
		c := ids(chart)
		slices.Sort(c)
		slices.Sort(k)
		if !slices.Equal(c, k) {
			t.Errorf("chart renders\n  %v\nkustomize renders\n  %v", c, k)
		}
	})

	t.Run("CRD", func(t *testing.T) {
		src := find(t, readYAML(t, "config/crd/bases/ftpoperator.io_ftpservers.yaml"), "CustomResourceDefinition", crdName)
		want := field(t, src, "spec")
		for name, objs := range map[string][]unstructured.Unstructured{"chart": chart, "kustomize": kust} {
			if got := field(t, find(t, objs, "CustomResourceDefinition", crdName), "spec"); !bytes.Equal(got, want) {
				t.Errorf("%s: CRD spec differs from config/crd/bases (run make manifests chart)", name)
			}
		}
		ann := find(t, chart, "CustomResourceDefinition", crdName).GetAnnotations()
		if ann["helm.sh/resource-policy"] != "keep" {
			t.Errorf("chart CRD lacks helm.sh/resource-policy: keep by default: %v", ann)
		}
	})

	t.Run("ClusterRole rules", func(t *testing.T) {
		src := find(t, readYAML(t, "config/rbac/role.yaml"), "ClusterRole", "manager-role")
		want := field(t, src, "rules")
		if string(want) == "null" || string(want) == "[]" {
			t.Fatalf("config/rbac/role.yaml has no rules")
		}
		for name, objs := range map[string][]unstructured.Unstructured{"chart": chart, "kustomize": kust} {
			if got := field(t, find(t, objs, "ClusterRole", release+"-manager-role"), "rules"); !bytes.Equal(got, want) {
				t.Errorf("%s: ClusterRole rules differ from config/rbac/role.yaml (run make manifests chart)\n got %s\nwant %s", name, got, want)
			}
		}
	})

	t.Run("bindings and leader election", func(t *testing.T) {
		for name, objs := range map[string][]unstructured.Unstructured{"chart": chart, "kustomize": kust} {
			sa := find(t, objs, "ServiceAccount", release+"-controller-manager")
			if sa.GetNamespace() != namespace {
				t.Errorf("%s: ServiceAccount in %q", name, sa.GetNamespace())
			}
			for _, b := range []struct{ kind, name, roleKind, role string }{
				{"ClusterRoleBinding", release + "-manager-rolebinding", "ClusterRole", release + "-manager-role"},
				{"RoleBinding", release + "-leader-election-rolebinding", "Role", release + "-leader-election-role"},
			} {
				o := find(t, objs, b.kind, b.name)
				want := `{"apiGroup":"rbac.authorization.k8s.io","kind":"` + b.roleKind + `","name":"` + b.role + `"}`
				if got := string(field(t, o, "roleRef")); got != want {
					t.Errorf("%s %s: roleRef %s, want %s", name, b.name, got, want)
				}
				wantSub := `[{"kind":"ServiceAccount","name":"` + sa.GetName() + `","namespace":"` + namespace + `"}]`
				if got := string(field(t, o, "subjects")); got != wantSub {
					t.Errorf("%s %s: subjects %s, want %s", name, b.name, got, wantSub)
				}
				find(t, objs, b.roleKind, b.role)
			}
			if rules := string(field(t, find(t, objs, "Role", release+"-leader-election-role"), "rules")); !strings.Contains(rules, `"leases"`) {
				t.Errorf("%s: leader election Role cannot use Leases: %s", name, rules)
			}
		}
		if a, b := field(t, find(t, chart, "Role", release+"-leader-election-role"), "rules"),
			field(t, find(t, kust, "Role", release+"-leader-election-role"), "rules"); !bytes.Equal(a, b) {
			t.Errorf("leader election rules differ:\n chart %s\n kustomize %s", a, b)
		}
	})

	t.Run("manager pod", func(t *testing.T) {
		c := find(t, chart, "Deployment", release+"-controller-manager")
		k := find(t, kust, "Deployment", release+"-controller-manager")
		if a, b := field(t, c, "spec", "template", "spec"), field(t, k, "spec", "template", "spec"); !bytes.Equal(a, b) {
			t.Errorf("manager pod specs differ:\n chart     %s\n kustomize %s", a, b)
		}
		// Both select their own pods and the metrics Service selects the same pods.
		for name, objs := range map[string][]unstructured.Unstructured{"chart": chart, "kustomize": kust} {
			d := find(t, objs, "Deployment", release+"-controller-manager")
			sel, _, _ := unstructured.NestedStringMap(d.Object, "spec", "selector", "matchLabels")
			podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
			svc := find(t, objs, "Service", release+"-controller-manager-metrics-service")
			svcSel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
			for what, s := range map[string]map[string]string{"Deployment selector": sel, "metrics Service selector": svcSel} {
				if len(s) == 0 {
					t.Errorf("%s: empty %s", name, what)
				}
				for k, v := range s {
					if podLabels[k] != v {
						t.Errorf("%s: %s %s=%s does not match the pod labels %v", name, what, k, v, podLabels)
					}
				}
			}
			if s := string(field(t, svc, "spec", "ports")); !strings.Contains(s, `"targetPort":"metrics"`) {
				t.Errorf("%s: metrics Service ports %s", name, s)
			}
		}
	})
}

// TestManagerContract checks the flags, ports and image that the manager's command line promises.
func TestManagerContract(t *testing.T) {
	d := find(t, helmTemplate(t), "Deployment", release+"-controller-manager")
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers", len(containers))
	}
	c := &unstructured.Unstructured{Object: containers[0].(map[string]any)}
	args, _, _ := unstructured.NestedStringSlice(c.Object, "args")
	want := []string{
		"manager",
		"--passive-port-pool=30000-32767",
		"--ftpd-image=$(FTPD_IMAGE)",
		"--ftpd-image-pull-policy=IfNotPresent",
		"--leader-elect=true",
		"--metrics-bind-address=:8080",
		"--metrics-secure=true",
		"--health-probe-bind-address=:8081",
	}
	if !slices.Equal(args, want) {
		t.Errorf("args\n got %q\nwant %q", args, want)
	}
	chartYAML, err := os.ReadFile(filepath.Join(root(t), "charts/ftp-operator/Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var appVersion string
	for _, l := range strings.Split(string(chartYAML), "\n") {
		if v, ok := strings.CutPrefix(l, "appVersion: "); ok {
			appVersion = strings.Trim(v, `"`)
		}
	}
	image := "localhost/ftp-operator:" + appVersion
	if got := c.Object["image"]; got != image {
		t.Errorf("image %v, want %s", got, image)
	}
	if got := string(field(t, c, "env")); got != `[{"name":"FTPD_IMAGE","value":"`+image+`"}]` {
		t.Errorf("env %s: the FTP servers must run the manager's image", got)
	}
	for path, want := range map[string]string{
		"livenessProbe":  `{"httpGet":{"path":"/healthz","port":"health"}`,
		"readinessProbe": `{"httpGet":{"path":"/readyz","port":"health"}`,
		"ports":          `[{"containerPort":8080,"name":"metrics","protocol":"TCP"},{"containerPort":8081,"name":"health","protocol":"TCP"}]`,
	} {
		if got := string(field(t, c, path)); !strings.HasPrefix(got, strings.TrimSuffix(want, "}")) {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	pod := find(t, helmTemplate(t), "Deployment", release+"-controller-manager")
	if got := string(field(t, pod, "spec", "template", "spec", "securityContext")); got != `{"runAsGroup":65532,"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}}` {
		t.Errorf("pod securityContext %s", got)
	}
}

// TestChartValues renders the chart with non-default values.
func TestChartValues(t *testing.T) {
	t.Run("no CRDs", func(t *testing.T) {
		if objs := helmTemplate(t, "--set", "crds.enabled=false"); has(objs, "CustomResourceDefinition", "") {
			t.Errorf("crds.enabled=false still renders a CRD")
		}
	})
	t.Run("CRDs not kept", func(t *testing.T) {
		crd := find(t, helmTemplate(t, "--set", "crds.keep=false"), "CustomResourceDefinition", crdName)
		if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("crds.keep=false still annotates the CRD")
		}
	})
	t.Run("pool, engine image, no leader election", func(t *testing.T) {
		objs := helmTemplate(t, "--set", "passivePortPool=40000-40999", "--set", "ftpd.image.repository=registry.example/ftpd",
			"--set", "ftpd.image.tag=v9", "--set", "ftpd.image.pullPolicy=Always", "--set", "leaderElection.enabled=false", "--set", "maxPortsPerNamespace=64",
			"--set", "serviceAnnotations.allowed={metallb.io/*,example.com/key}")
		d := find(t, objs, "Deployment", release+"-controller-manager")
		spec := string(field(t, d, "spec", "template", "spec", "containers"))
		for _, want := range []string{`"--passive-port-pool=40000-40999"`, `"--leader-elect=false"`, `"--max-ports-per-namespace=64"`,
			`"--allowed-service-annotations=metallb.io/*,example.com/key"`,
			`"--ftpd-image-pull-policy=Always"`, `{"name":"FTPD_IMAGE","value":"registry.example/ftpd:v9"}`,
			`"image":"localhost/ftp-operator:`} {
			if !strings.Contains(spec, want) {
				t.Errorf("containers lack %s: %s", want, spec)
			}
		}
		if has(objs, "Role", release+"-leader-election-role") {
			t.Errorf("leaderElection.enabled=false still renders the leader election Role")
		}
	})
	t.Run("ServiceMonitor", func(t *testing.T) {
		objs := helmTemplate(t)
		if has(objs, "ServiceMonitor", "") {
			t.Errorf("ServiceMonitor rendered by default (it needs the prometheus-operator CRD)")
		}
		objs = helmTemplate(t, "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom")
		sm := find(t, objs, "ServiceMonitor", release+"-controller-manager-metrics-monitor")
		svc := find(t, objs, "Service", release+"-controller-manager-metrics-service")
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		for k, v := range sel {
			if svc.GetLabels()[k] != v {
				t.Errorf("ServiceMonitor selects %s=%s, the metrics Service has %v", k, v, svc.GetLabels())
			}
		}
		// metrics.secure (the default): HTTPS with Prometheus's own token.
		if got := string(field(t, sm, "spec", "endpoints")); !strings.Contains(got, `"port":"metrics"`) || !strings.Contains(got, `"scheme":"https"`) ||
			!strings.Contains(got, `"bearerTokenFile":"/var/run/secrets/kubernetes.io/serviceaccount/token"`) || !strings.Contains(got, `"tlsConfig":{"insecureSkipVerify":true}`) {
			t.Errorf("endpoints %s", got)
		}
		if sm.GetLabels()["release"] != "prom" {
			t.Errorf("extra labels missing: %v", sm.GetLabels())
		}
		// config/prometheus, the kustomize counterpart, scrapes the same way.
		k := find(t, kustomizeBuild(t, "config/prometheus"), "ServiceMonitor", "controller-manager-metrics-monitor")
		if a, b := field(t, sm, "spec", "endpoints"), field(t, k, "spec", "endpoints"); !bytes.Equal(a, b) {
			t.Errorf("ServiceMonitor endpoints differ:\n chart     %s\n kustomize %s", a, b)
		}
	})
	t.Run("RBAC off, existing ServiceAccount", func(t *testing.T) {
		objs := helmTemplate(t, "--set", "rbac.create=false", "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=mine")
		for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"} {
			if has(objs, kind, "") {
				t.Errorf("%s rendered with rbac.create=false serviceAccount.create=false", kind)
			}
		}
		d := find(t, objs, "Deployment", release+"-controller-manager")
		if got := string(field(t, d, "spec", "template", "spec", "serviceAccountName")); got != `"mine"` {
			t.Errorf("serviceAccountName %s", got)
		}
	})
	t.Run("invalid values are refused", func(t *testing.T) {
		helm := tool(t, "HELM", "helm")
		for _, set := range []string{"passivePortPool=30000", "passivePortPool=32767-30000", "passivePortPool=1-70000",
			"image.pullPolicy=Sometimes", "replicaCount=-1", "unknownKey=1", "metrics.port=0", "maxPortsPerNamespace=-1",
			"serviceAnnotations.allowed={a*b}"} {
			if _, err := runErr(t, helm, "template", release, "charts/ftp-operator", "--set", set); err == nil {
				t.Errorf("--set %s was accepted", set)
			}
		}
	})
	t.Run("more than one replica needs leader election", func(t *testing.T) {
		helm := tool(t, "HELM", "helm")
		_, err := runErr(t, helm, "template", release, "charts/ftp-operator", "--set", "replicaCount=2", "--set", "leaderElection.enabled=false")
		if err == nil {
			t.Fatal("replicaCount=2 without leader election was accepted: two managers would hand out the same ports")
		}
		if !strings.Contains(err.Error(), "leaderElection") {
			t.Errorf("the refusal does not name leaderElection: %v", err)
		}
		if d := find(t, helmTemplate(t, "--set", "replicaCount=2"), "Deployment", release+"-controller-manager"); string(field(t, d, "spec", "replicas")) != "2" {
			t.Errorf("replicaCount=2 with leader election: replicas %s", field(t, d, "spec", "replicas"))
		}
		helmTemplate(t, "--set", "replicaCount=1", "--set", "leaderElection.enabled=false")
	})
	t.Run("NetworkPolicy", func(t *testing.T) {
		if has(helmTemplate(t), "NetworkPolicy", "") {
			t.Fatal("NetworkPolicy rendered by default")
		}
		objs := helmTemplate(t, networkPolicyFlags...)
		np := find(t, objs, "NetworkPolicy", release+"-controller-manager")
		d := find(t, objs, "Deployment", release+"-controller-manager")
		podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
		sel, _, _ := unstructured.NestedStringMap(np.Object, "spec", "podSelector", "matchLabels")
		if len(sel) == 0 {
			t.Fatal("empty podSelector: the policy would cover every pod of the namespace")
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("podSelector %s=%s does not select the manager pod %v", k, v, podLabels)
			}
		}
		for path, want := range map[string]string{
			"ingress": `[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}],"ports":[{"port":8080,"protocol":"TCP"}]},{"ports":[{"port":8081,"protocol":"TCP"}]}]`,
			"egress":  `[{"ports":[{"port":443,"protocol":"TCP"},{"port":6443,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.96.0.1/32"}}]},{"ports":[{"port":53,"protocol":"UDP"},{"port":53,"protocol":"TCP"}]}]`,
		} {
			if got := string(field(t, np, "spec", path)); got != want {
				t.Errorf("%s\n got %s\nwant %s", path, got, want)
			}
		}
	})
	t.Run("NOTES", func(t *testing.T) {
		helm := tool(t, "HELM", "helm")
		out := string(run(t, helm, "install", release, "charts/ftp-operator", "--namespace", namespace, "--dry-run=client"))
		for _, want := range []string{"kind: FTPServer", "kubectl get ftpsrv demo", "{.status.endpoint}",
			"rollout status deployment/" + release + "-controller-manager"} {
			if !strings.Contains(out, want) {
				t.Errorf("NOTES lack %q:\n%s", want, out)
			}
		}
	})
}

// TestKustomizeImageFollows checks that setting the manager's image in config/manager also sets the FTP servers'
// image (the replacement in config/default).
func TestKustomizeImageFollows(t *testing.T) {
	kustomize := tool(t, "KUSTOMIZE", "kustomize")
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(root(t), "config"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	edit := exec.Command(kustomize, "edit", "set", "image", "localhost/ftp-operator=registry.example/ftp-operator:v9.9.9")
	edit.Dir = filepath.Join(dir, "config", "manager")
	if out, err := edit.CombinedOutput(); err != nil {
		t.Fatalf("kustomize edit: %v %s", err, out)
	}
	objs := decode(t, run(t, kustomize, "build", filepath.Join(dir, "config", "default")))
	d := find(t, objs, "Deployment", release+"-controller-manager")
	got := string(field(t, d, "spec", "template", "spec", "containers"))
	for _, want := range []string{`"image":"registry.example/ftp-operator:v9.9.9"`, `{"name":"FTPD_IMAGE","value":"registry.example/ftp-operator:v9.9.9"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("containers lack %s: %s", want, got)
		}
	}
	for _, o := range objs {
		if o.GetKind() != "Namespace" && o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "ClusterRole" &&
			o.GetKind() != "ClusterRoleBinding" && o.GetNamespace() != namespace {
			t.Errorf("%s %s in namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), namespace)
		}
	}
}

// networkPolicyFlags turn on the chart's NetworkPolicy with a metrics peer and an API server address.
var networkPolicyFlags = []string{"--set", "networkPolicy.enabled=true", "--set", "networkPolicy.apiServer.cidrs={10.96.0.1/32}",
	"--set-json", `networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]`}

// TestManagerRoleHoldsOnlyUsedVerbs: the manager writes children only by server-side apply (create, patch) and lets
// owner references delete them; it never updates anything and only patches FTPServer status. The one exception is
// delete on the kinds that a change of spec.replicas leaves behind (controllers/replicas.go: the Deployment or the
// StatefulSet and PodDisruptionBudget of the other replica count, the Services of pods no longer run), and only
// there; and delete on the namespace's shared engine identity (ServiceAccount, Role, RoleBinding ftp-operator-ftpd),
// which the last server of a namespace takes with it (it has no single owner to garbage-collect it). A verb it does
// not use is a permission an attacker who takes over the manager gets for free. (testManagerRBAC proves the rules
// suffice.)
func TestManagerRoleHoldsOnlyUsedVerbs(t *testing.T) {
	deletable := []string{"services", "deployments", "statefulsets", "poddisruptionbudgets", // replica leftovers
		"serviceaccounts", "roles", "rolebindings"} // the engine identity of a namespace

	role := find(t, readYAML(t, "config/rbac/role.yaml"), "ClusterRole", "manager-role")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		r := r.(map[string]any)
		resources, _, _ := unstructured.NestedStringSlice(r, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(r, "verbs")
		for _, v := range verbs {
			if v == "delete" && !slices.ContainsFunc(resources, func(r string) bool { return !slices.Contains(deletable, r) }) {
				continue
			}
			if v == "update" || v == "delete" || v == "deletecollection" || v == "*" {
				t.Errorf("%v: verb %s is never used", resources, v)
			}
			if slices.Contains(resources, "ftpservers") && v != "get" && v != "list" && v != "watch" {
				t.Errorf("ftpservers: verb %s (the manager only reads FTPServers)", v)
			}
			if slices.Contains(resources, "ftpservers/status") && v != "patch" {
				t.Errorf("ftpservers/status: verb %s (the status is written by one patch per pass)", v)
			}
		}
	}
}
