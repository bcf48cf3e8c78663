package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestPodTemplateReachesTheDeployment: every field of spec.podTemplate, as the API server stores it, lands on the
// Deployment's pod template, and the engine container stays the operator's.
func TestPodTemplateReachesTheDeployment(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	pt := &ftpv1.PodTemplate{
		Metadata: ftpv1.PodTemplateMetadata{
			Labels:      map[string]string{"team": "billing"},
			Annotations: map[string]string{"example.com/owner": "ops"},
		},
		NodeSelector: map[string]string{"disk": "ssd"},
		Tolerations:  []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ftp", Effect: corev1.TaintEffectNoSchedule}},
		Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 50,
			PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{render.NameLabel: render.AppName}}},
		}}}},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
			WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{render.InstanceLabel: "placed"}}}},
		PriorityClassName: "ftp-critical",
		SecurityContext:   &ftpv1.PodSecurityContext{FSGroup: ptr.To[int64](2000), SupplementalGroups: []int64{3000, 3001}},
		ImagePullSecrets:  []ftpv1.LocalObjectReference{{Name: "registry"}},
	}
	create(t, newServer(t, ns, "placed", func(s *ftpv1.FTPServer) { s.Spec.PodTemplate = pt }))
	waitCondition(t, ns, "placed", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	tpl := getDeployment(t, ns, "placed").Spec.Template

	checks := []struct {
		field string
		ok    bool
	}{
		{"metadata.labels", tpl.Labels["team"] == "billing" && tpl.Labels[render.InstanceLabel] == "placed"},
		{"metadata.annotations", tpl.Annotations["example.com/owner"] == "ops"},
		{"nodeSelector", reflect.DeepEqual(tpl.Spec.NodeSelector, pt.NodeSelector)},
		{"tolerations", equality.Semantic.DeepEqual(tpl.Spec.Tolerations, pt.Tolerations)},
		{"affinity", equality.Semantic.DeepEqual(tpl.Spec.Affinity, pt.Affinity)},
		{"topologySpreadConstraints", equality.Semantic.DeepEqual(tpl.Spec.TopologySpreadConstraints, pt.TopologySpreadConstraints)},
		{"priorityClassName", tpl.Spec.PriorityClassName == "ftp-critical"},
		{"securityContext.fsGroup", ptr.Deref(tpl.Spec.SecurityContext.FSGroup, 0) == 2000},
		{"securityContext.supplementalGroups", reflect.DeepEqual(tpl.Spec.SecurityContext.SupplementalGroups, []int64{3000, 3001})},
		{"imagePullSecrets", reflect.DeepEqual(tpl.Spec.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "registry"}})},
		{"the operator's user", ptr.Deref(tpl.Spec.SecurityContext.RunAsUser, 0) == 65532},
		{"the engine container", len(tpl.Spec.Containers) == 1 && tpl.Spec.Containers[0].Args[0] == "ftpd" && tpl.Spec.Containers[0].ReadinessProbe != nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s not as asked on the Deployment's pod template", c.field)
		}
	}
	if t.Failed() {
		t.Logf("pod template: %+v", tpl)
	}
}

// getUsersSecret reads the operator's users Secret of server name.
func getUsersSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.UsersSecretName(&ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Name: name}})}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// hashOf is a bcrypt hash of pw at the minimum cost (the engine accepts any cost; tests need speed).
func hashOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestUsersFromReachTheEngine drives spec.usersFrom on a real API server: the users of a Secret reach the operator's
// users Secret and, mounted as the kubelet mounts it, a real engine; a name that spec.users (or an earlier Secret)
// defines is reported in UsersAccepted with the user and both sources, and the first source wins; a line that does
// not parse is named too; a changed password reaches the users Secret through the Secret watch, and the engine at
// its next login, without a change to the pod template; a missing Secret is reported like a missing password
// Secret.
func TestUsersFromReachTheEngine(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	ensureSecret(t, ns, "bulk", map[string]string{"htpasswd": strings.Join([]string{
		"acme:" + hashOf(t, "not-acme"), // spec.users has acme
		"bulk1:" + hashOf(t, "one"),
		"bulk2:" + hashOf(t, "two") + ":/drop:WriteOnly",
		"bulk3:plain-text",
	}, "\n")})
	ensureSecret(t, ns, "more", map[string]string{"list": "bulk1:" + hashOf(t, "again") + "\nbulk4:" + hashOf(t, "four") + "\n"})
	create(t, newServer(t, ns, "many", func(s *ftpv1.FTPServer) {
		s.Spec.UsersFrom = []ftpv1.UsersFrom{
			{SecretRef: ftpv1.LocalObjectReference{Name: "bulk"}},
			{SecretRef: ftpv1.LocalObjectReference{Name: "more"}, Key: "list"},
		}
	}))
	got := waitCondition(t, ns, "many", ftpv1.ConditionUsersAccepted, metav1.ConditionFalse, ftpv1.ReasonDuplicateUsers)
	msg := findCondition(got, ftpv1.ConditionUsersAccepted).Message
	for _, want := range []string{
		`user "acme" of Secret "bulk" key "htpasswd" is already defined by spec.users, which wins`,
		`user "bulk1" of Secret "more" key "list" is already defined by Secret "bulk" key "htpasswd", which wins`,
		`Secret "bulk" key "htpasswd" line 4: user "bulk3": the password is not a bcrypt hash`,
		"3 users from usersFrom served, 3 left out",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("UsersAccepted message\n  %s\ndoes not say\n  %s", msg, want)
		}
	}
	if strings.Contains(msg, "plain-text") {
		t.Errorf("the message shows a password: %s", msg)
	}
	waitEvent(t, ns, "many", ftpv1.ReasonDuplicateUsers)
	// A warning: the server is not held back by it.
	waitCondition(t, ns, "many", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	template := templateHash(getDeployment(t, ns, "many").Spec.Template)

	usersSecret := func() *corev1.Secret { return getUsersSecret(t, ns, "many") }
	mount := filepath.Join(t.TempDir(), "users")
	addr := support.ServeUsersSecret(t, mount, usersSecret())
	for _, c := range []struct {
		user, pass, want string
	}{
		{"acme", "s3cret", "230"}, {"acme", "not-acme", "530"},
		{"bulk1", "one", "230"}, {"bulk1", "again", "530"},
		{"bulk2", "two", "230"}, {"bulk4", "four", "230"}, {"bulk3", "plain-text", "530"},
	} {
		if code, err := login(addr, c.user, c.pass); code != c.want {
			t.Errorf("login %s/%s: %s %v, want %s", c.user, c.pass, code, err, c.want)
		}
	}

	// A changed password: Secret → operator's users Secret (measured) → the mounted volume → the next login.
	bulk := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "bulk"}, bulk); err != nil {
		t.Fatal(err)
	}
	bulk.Data["htpasswd"] = []byte("bulk1:" + hashOf(t, "rotated") + "\nbulk2:" + hashOf(t, "two") + ":/drop:WriteOnly\n")
	start := time.Now()
	if err := k8s.Update(context.Background(), bulk); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the rotated password in the users Secret", func() (bool, error) {
		list, _ := ftpd.ParseUserList(usersSecret().Data[render.UserListFileName])
		for _, u := range list {
			if u.Name == "bulk1" {
				return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("rotated")) == nil, nil
			}
		}
		return false, fmt.Errorf("no bulk1 in %d users", len(list))
	})
	t.Logf("usersFrom Secret update to the operator's users Secret: %s", time.Since(start).Round(time.Millisecond))
	if _, err := support.MountUsersSecret(mount, usersSecret()); err != nil {
		t.Fatal(err)
	}
	if code, err := login(addr, "bulk1", "rotated"); code != "230" {
		t.Fatalf("bulk1 with the rotated password: %s %v", code, err)
	}
	if code, _ := login(addr, "bulk1", "one"); code == "230" {
		t.Fatal("the old password still works")
	}
	if code, _ := login(addr, "bulk4", "four"); code != "230" {
		t.Fatal("bulk4 of the other Secret lost its login")
	}
	waitCondition(t, ns, "many", ftpv1.ConditionUsersAccepted, metav1.ConditionFalse, ftpv1.ReasonDuplicateUsers)
	if now := templateHash(getDeployment(t, ns, "many").Spec.Template); now != template {
		t.Fatal("the pod template changed with the users: the pod would restart")
	}

	// Without the duplicates, every user is accepted.
	srv := getServer(t, ns, "many")
	orig := srv.DeepCopy()
	srv.Spec.UsersFrom = srv.Spec.UsersFrom[1:]
	if err := k8s.Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	got = waitCondition(t, ns, "many", ftpv1.ConditionUsersAccepted, metav1.ConditionTrue, ftpv1.ReasonAllUsersAccepted)
	if msg := findCondition(got, ftpv1.ConditionUsersAccepted).Message; msg != "2 users from usersFrom, beside 1 in spec.users" {
		t.Errorf("UsersAccepted: %s", msg)
	}

	// A missing Secret is a missing Secret.
	srv = getServer(t, ns, "many")
	orig = srv.DeepCopy()
	srv.Spec.UsersFrom = append(srv.Spec.UsersFrom, ftpv1.UsersFrom{SecretRef: ftpv1.LocalObjectReference{Name: "later"}})
	if err := k8s.Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	got = waitCondition(t, ns, "many", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonSecretMissing)
	if msg := findCondition(got, ftpv1.ConditionWorkloadReady).Message; !strings.Contains(msg, `Secret "later" not found`) {
		t.Errorf("WorkloadReady: %s", msg)
	}
	ensureSecret(t, ns, "later", map[string]string{"htpasswd": "late:" + hashOf(t, "late")})
	waitCondition(t, ns, "many", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	eventually(t, 10*time.Second, "the late user in the users Secret", func() (bool, error) {
		return strings.Contains(string(usersSecret().Data[render.UserListFileName]), "late:"), nil
	})
}

// TestTenThousandUsersFromOneSecret: a Secret of 10,000 users needs no change to the CRD; the operator reads it,
// and writes them into its users Secret within a few seconds. The numbers are in docs/benchmarks.md.
func TestTenThousandUsersFromOneSecret(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	const n = 10000
	hash := hashOf(t, "shared")
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "user%05d:%s\n", i, hash)
	}
	ensureSecret(t, ns, "bulk", map[string]string{"htpasswd": b.String()})
	start := time.Now()
	create(t, newServer(t, ns, "big", func(s *ftpv1.FTPServer) {
		s.Spec.UsersFrom = []ftpv1.UsersFrom{{SecretRef: ftpv1.LocalObjectReference{Name: "bulk"}}}
	}))
	got := waitCondition(t, ns, "big", ftpv1.ConditionUsersAccepted, metav1.ConditionTrue, ftpv1.ReasonAllUsersAccepted)
	if msg := findCondition(got, ftpv1.ConditionUsersAccepted).Message; msg != fmt.Sprintf("%d users from usersFrom, beside 1 in spec.users", n) {
		t.Fatalf("UsersAccepted: %s", msg)
	}
	s := getUsersSecret(t, ns, "big")
	list, bad := ftpd.ParseUserList(s.Data[render.UserListFileName])
	if len(list) != n || len(bad) > 0 {
		t.Fatalf("users Secret holds %d users (%d bad lines)", len(list), len(bad))
	}
	t.Logf("%d users: source Secret %d bytes, users Secret %d bytes; FTPServer created to users accepted in %s",
		n, b.Len(), len(s.Data[render.UserListFileName])+len(s.Data[render.UsersFileName]), time.Since(start).Round(time.Millisecond))

	// One changed password among the 10,000.
	src := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "bulk"}, src); err != nil {
		t.Fatal(err)
	}
	rotated := hashOf(t, "rotated")
	src.Data["htpasswd"] = []byte(strings.Replace(b.String(), "user04242:"+hash, "user04242:"+rotated, 1))
	start = time.Now()
	if err := k8s.Update(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the rotated password in the users Secret", func() (bool, error) {
		return strings.Contains(string(getUsersSecret(t, ns, "big").Data[render.UserListFileName]), "user04242:"+rotated), nil
	})
	t.Logf("one password changed among %d: source Secret update to the users Secret in %s", n, time.Since(start).Round(time.Millisecond))
}
