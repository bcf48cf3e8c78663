package packaging

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// testAggregatedRoles binds a user to the built-in view role and another to edit in the samples namespace and
// checks, through impersonation, that the first can read FTPServers but not create them and the second can create
// them. envtest runs no kube-controller-manager, so the test does what its clusterrole-aggregation controller does:
// it fills view and edit with the rules of every ClusterRole their own aggregationRule selects.
func testAggregatedRoles(t *testing.T, cfg *rest.Config, c client.Client, chart []unstructured.Unstructured) {
	ctx := context.Background()
	for _, o := range chart {
		if o.GetKind() == "ClusterRole" {
			o := o.DeepCopy()
			if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating ClusterRole %s: %v", o.GetName(), err)
			}
		}
	}
	for _, name := range []string{"view", "edit"} {
		aggregate(t, c, name)
	}
	for user, role := range map[string]string{"alice": "view", "bob": "edit"} {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "samples", Name: user},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
		}
		if err := c.Create(ctx, rb); err != nil {
			t.Fatal(err)
		}
	}
	as := func(user string) client.Client {
		t.Helper()
		ucfg := rest.CopyConfig(cfg)
		ucfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
		uc, err := client.New(ucfg, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return uc
	}
	srv := func() *unstructured.Unstructured {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion("ftpoperator.io/v1alpha1")
		o.SetKind("FTPServer")
		return o
	}
	key := client.ObjectKey{Namespace: "samples", Name: "ftp-nodeport"}
	for _, user := range []string{"alice", "bob"} {
		if err := as(user).Get(ctx, key, srv()); err != nil {
			t.Errorf("%s cannot get an FTPServer: %v", user, err)
		}
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("ftpoperator.io/v1alpha1")
		list.SetKind("FTPServerList")
		if err := as(user).List(ctx, list, client.InNamespace("samples")); err != nil {
			t.Errorf("%s cannot list FTPServers: %v", user, err)
		}
	}
	copyOf := func() *unstructured.Unstructured {
		o := srv()
		if err := c.Get(ctx, key, o); err != nil {
			t.Fatal(err)
		}
		n := srv()
		n.SetNamespace("samples")
		n.SetName("created-by-a-user")
		n.Object["spec"] = o.Object["spec"]
		return n
	}
	if err := as("alice").Create(ctx, copyOf(), client.DryRunAll); !apierrors.IsForbidden(err) {
		t.Errorf("a viewer created an FTPServer: %v", err)
	}
	if err := as("bob").Create(ctx, copyOf(), client.DryRunAll); err != nil {
		t.Errorf("an editor cannot create an FTPServer: %v", err)
	}
	if err := as("bob").Get(ctx, client.ObjectKey{Namespace: namespace, Name: "ftp-nodeport"}, srv()); !apierrors.IsForbidden(err) {
		t.Errorf("the editor of samples reads FTPServers of another namespace: %v", err)
	}
}

// aggregate sets the rules of the built-in ClusterRole name to those of the ClusterRoles its aggregationRule
// selects, as kube-controller-manager's clusterrole-aggregation controller does.
func aggregate(t *testing.T, c client.Client, name string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, role); err != nil {
		t.Fatalf("built-in ClusterRole %s: %v", name, err)
	}
	if role.AggregationRule == nil {
		t.Fatalf("ClusterRole %s has no aggregationRule", name)
	}
	var rules []rbacv1.PolicyRule
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			t.Fatal(err)
		}
		var roles rbacv1.ClusterRoleList
		if err := c.List(ctx, &roles, client.MatchingLabelsSelector{Selector: s}); err != nil {
			t.Fatal(err)
		}
		for _, r := range roles.Items {
			if r.Name != name {
				rules = append(rules, r.Rules...)
			}
		}
	}
	role.Rules = rules
	if err := c.Update(ctx, role); err != nil {
		t.Fatalf("aggregating %s: %v", name, err)
	}
}

// testWatchNamespacesRBAC installs a second release, "scoped", that watches only scoped-team: its manager runs on
// RoleBindings there (plus reading nodes), serves the FTPServer of scoped-team and leaves one in scoped-other alone.
func testWatchNamespacesRBAC(t *testing.T, cfg *rest.Config, c client.Client) {
	const rel, relNS = "scoped", "scoped-system"
	for _, n := range []string{relNS, "scoped-team"} {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	helm := tool(t, "HELM", "helm")
	objs := decode(t, run(t, helm, "template", rel, "charts/ftp-operator", "--namespace", relNS,
		"--set", "watchNamespaces={scoped-team}", "--set", "crds.enabled=false", "--set", "aggregateClusterRoles=false"))
	if has(objs, "ClusterRoleBinding", rel+"-ftp-operator-manager-rolebinding") {
		t.Fatal("the scoped release binds the manager role cluster-wide")
	}
	runManagerRBAC(t, cfg, c, objs, rel+"-ftp-operator", relNS, "scoped-team", "scoped-other")
}
