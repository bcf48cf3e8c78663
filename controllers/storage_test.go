package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

func withClaim(retention ftpv1.ClaimRetention) func(*ftpv1.FTPServer) {
	return func(s *ftpv1.FTPServer) {
		s.Spec.Storage.VolumeClaimTemplate = &ftpv1.VolumeClaimTemplate{Size: resource.MustParse("1Gi"), Retention: retention}
	}
}

func getClaim(ns, name string) (*corev1.PersistentVolumeClaim, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	return pvc, k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, pvc)
}

// deleteAsGarbageCollector deletes srv and then, standing in for kube-controller-manager's garbage collector
// (envtest runs none), every object in its namespace whose owner references all point at srv: exactly what
// Kubernetes deletes after an FTPServer, whether removed by kubectl, a GitOps prune, or the CRD's deletion. Like
// the real collector it keeps sweeping (a reconcile that was under way may write a child once more) until two
// sweeps half a second apart find nothing.
func deleteAsGarbageCollector(t *testing.T, srv *ftpv1.FTPServer) {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Delete(ctx, srv); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the FTPServer to be gone", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(srv), &ftpv1.FTPServer{})
		return apierrors.IsNotFound(err), err
	})
	quiet := 0
	eventually(t, 15*time.Second, "the garbage to be collected", func() (bool, error) {
		if sweep(t, srv) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(500 * time.Millisecond)
		return quiet >= 2, nil
	})
}

// sweep deletes the dependents of srv once and returns how many it deleted.
func sweep(t *testing.T, srv *ftpv1.FTPServer) int {
	t.Helper()
	ctx := context.Background()
	deleted := 0
	lists := []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.SecretList{}, &corev1.ConfigMapList{},
		&corev1.ServiceAccountList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{}, &corev1.PersistentVolumeClaimList{}}
	for _, l := range lists {
		if err := k8s.List(ctx, l, client.InNamespace(srv.Namespace)); err != nil {
			t.Fatal(err)
		}
		objs, err := metaItems(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			refs := o.GetOwnerReferences()
			dependent := len(refs) > 0
			for _, r := range refs {
				dependent = dependent && r.UID == srv.UID
			}
			if dependent && o.GetDeletionTimestamp().IsZero() {
				if err := k8s.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
					t.Fatal(err)
				}
				deleted++
			}
		}
	}
	return deleted
}

// metaItems returns the items of a typed list as client.Objects.
func metaItems(l client.ObjectList) ([]client.Object, error) {
	items, err := apimeta.ExtractList(l)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(items))
	for _, it := range items {
		o, ok := it.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%T in %T is not an object", it, l)
		}
		out = append(out, o)
	}
	return out, nil
}

// TestRetainedClaimSurvivesDeletionAndIsReattached: with the default retention the claim carries no owner
// reference, so deleting the FTPServer leaves it (and the files) in place, and a server of the same name mounts
// the same claim again. A claim of that name that is not ours is never adopted; retention Delete keeps the owner
// reference.
func TestRetainedClaimSurvivesDeletionAndIsReattached(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "files", withClaim("")))

	var first *corev1.PersistentVolumeClaim
	eventually(t, 20*time.Second, "claim files-data", func() (bool, error) {
		var err error
		first, err = getClaim(ns, "files-data")
		return err == nil, err
	})
	srv := getServer(t, ns, "files")
	if got := srv.Spec.Storage.VolumeClaimTemplate.Retention; got != ftpv1.ClaimRetain {
		t.Fatalf("retention defaulted to %q, want Retain", got)
	}
	if len(first.OwnerReferences) != 0 || first.Labels[render.ClaimLabel] != "files" {
		t.Fatalf("retained claim: ownerReferences %v, labels %v", first.OwnerReferences, first.Labels)
	}

	deleteAsGarbageCollector(t, srv)
	kept, err := getClaim(ns, "files-data")
	if err != nil || !kept.DeletionTimestamp.IsZero() || kept.UID != first.UID {
		t.Fatalf("the claim did not survive the FTPServer's deletion: %v (deleting: %v)", err, kept.DeletionTimestamp)
	}

	create(t, newServer(t, ns, "files", withClaim("")))
	eventually(t, 20*time.Second, "the new server's pod to mount the retained claim", func() (bool, error) {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "files"}, d); err != nil {
			return false, err
		}
		if !metav1.IsControlledBy(d, getServer(t, ns, "files")) {
			return false, fmt.Errorf("Deployment still of the old server")
		}
		v := d.Spec.Template.Spec.Volumes[0]
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "files-data", fmt.Errorf("data volume %+v", v)
	})
	waitCondition(t, ns, "files", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	if again, err := getClaim(ns, "files-data"); err != nil || again.UID != first.UID || len(again.OwnerReferences) != 0 {
		t.Fatalf("claim after re-creation: %v %+v", err, again.ObjectMeta)
	}
	waitCondition(t, ns, "files", ftpv1.ConditionStoragePersistent, metav1.ConditionTrue, ftpv1.ReasonPersistent)

	// Claims that are not ours: one without the label, one labelled for another server.
	create(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "foreign-data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	})
	create(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "spoof-data", Labels: map[string]string{render.ClaimLabel: "files"}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	})
	create(t, newServer(t, ns, "foreign", withClaim("")))
	create(t, newServer(t, ns, "spoof", withClaim("")))
	for _, name := range []string{"foreign", "spoof"} {
		waitCondition(t, ns, name, ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonNotOwned)
		if c, _ := getClaim(ns, name+"-data"); c.Labels[render.ClaimLabel] == name {
			t.Fatalf("claim %s-data was adopted: %v", name, c.Labels)
		}
	}

	// Retention Delete: the claim goes with the server.
	create(t, newServer(t, ns, "scratch", withClaim(ftpv1.ClaimDelete)))
	eventually(t, 20*time.Second, "claim scratch-data owned by its server", func() (bool, error) {
		c, err := getClaim(ns, "scratch-data")
		if err != nil {
			return false, err
		}
		return metav1.IsControlledBy(c, getServer(t, ns, "scratch")), fmt.Errorf("ownerReferences %v", c.OwnerReferences)
	})
	// Switching to Retain (as happens to every claim of an older operator, whose servers read back with the new
	// default) drops the owner reference.
	scratch := getServer(t, ns, "scratch")
	orig := scratch.DeepCopy()
	scratch.Spec.Storage.VolumeClaimTemplate.Retention = ftpv1.ClaimRetain
	if err := k8s.Patch(context.Background(), scratch, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "claim scratch-data released by its server", func() (bool, error) {
		c, err := getClaim(ns, "scratch-data")
		if err != nil {
			return false, err
		}
		return len(c.OwnerReferences) == 0, fmt.Errorf("ownerReferences %v", c.OwnerReferences)
	})
}

// templateHash is a digest of a pod template, for the notes: the same digest means the pod keeps running.
func templateHash(tpl corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(tpl)
	return fmt.Sprintf("%x", sha256.Sum256(b))[:12]
}

// login tries USER/PASS on a real engine and returns the reply code to PASS.
func login(addr, user, pass string) (string, error) {
	replies, err := support.ControlDialog(addr, "USER "+user, "PASS "+pass)
	if err != nil {
		return "", err
	}
	return replies[1][:3], nil
}

// TestAddingUserKeepsThePodRunning: adding a user (with a Secret of its own) changes the users Secret, not the
// pod template, so the Deployment keeps its generation and no pod restarts; a real engine reading the users Secret
// as the kubelet mounts it lets the new user in without a restart.
func TestAddingUserKeepsThePodRunning(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "team", nil))
	waitCondition(t, ns, "team", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	dep := getDeployment(t, ns, "team")
	gen, hash := dep.Generation, templateHash(dep.Spec.Template)

	usersSecret := func() *corev1.Secret { return getUsersSecret(t, ns, "team") }
	mount := filepath.Join(t.TempDir(), "users")
	addr := support.ServeUsersSecret(t, mount, usersSecret())
	if code, err := login(addr, "acme", "s3cret"); code != "230" {
		t.Fatalf("acme before: %s %v", code, err)
	}
	if code, _ := login(addr, "carol@example.com", "c4rol"); code == "230" {
		t.Fatal("carol logged in before she was added")
	}

	ensureSecret(t, ns, "carol-ftp", map[string]string{"pw": "c4rol"})
	srv := getServer(t, ns, "team")
	orig := srv.DeepCopy()
	srv.Spec.Users = append(srv.Spec.Users, ftpv1.User{Name: "carol@example.com", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "carol-ftp", Key: "pw"}})
	if err := k8s.Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "carol in the users Secret", func() (bool, error) {
		s := usersSecret()
		return strings.Contains(string(s.Data[render.UsersFileName]), "carol@example.com") && string(s.Data["carol_example.com.password"]) == "c4rol", nil
	})
	waitCondition(t, ns, "team", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	if _, err := support.MountUsersSecret(mount, usersSecret()); err != nil {
		t.Fatal(err)
	}
	if code, err := login(addr, "carol@example.com", "c4rol"); code != "230" {
		t.Fatalf("carol after she was added: %s %v", code, err)
	}
	if code, err := login(addr, "acme", "s3cret"); code != "230" {
		t.Fatalf("acme after: %s %v", code, err)
	}

	// Rotating a password in the user's own Secret reaches the copy (through the Secret watch) and the engine.
	setSecretData(t, ns, "users", "password", "r0tated")
	eventually(t, 10*time.Second, "the rotated password in the users Secret", func() (bool, error) {
		return string(usersSecret().Data["acme.password"]) == "r0tated", nil
	})
	if _, err := support.MountUsersSecret(mount, usersSecret()); err != nil {
		t.Fatal(err)
	}
	if code, err := login(addr, "acme", "r0tated"); code != "230" {
		t.Fatalf("acme with the rotated password: %s %v", code, err)
	}
	if code, _ := login(addr, "acme", "s3cret"); code == "230" {
		t.Fatal("the old password still works after the rotation")
	}

	dep = getDeployment(t, ns, "team")
	t.Logf("pod template %s at generation %d before adding a user, %s at generation %d after", hash, gen, templateHash(dep.Spec.Template), dep.Generation)
	if dep.Generation != gen || templateHash(dep.Spec.Template) != hash {
		t.Fatalf("adding a user changed the Deployment (generation %d -> %d): the pod would restart", gen, dep.Generation)
	}
}

// TestEmptyDirWarnsWithoutBlockingReady: the default emptyDir storage is reported (a Warning event and
// StoragePersistent=False) but is not a reason for Ready to be False.
func TestEmptyDirWarnsWithoutBlockingReady(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "tmp", nil))
	srv := waitCondition(t, ns, "tmp", ftpv1.ConditionStoragePersistent, metav1.ConditionFalse, ftpv1.ReasonEmptyDir)
	if msg := findCondition(srv, ftpv1.ConditionStoragePersistent).Message; !strings.Contains(msg, "lost") || !strings.Contains(msg, "1Gi") {
		t.Fatalf("message %q", msg)
	}
	waitEvent(t, ns, "tmp", "EphemeralStorage")
	if ready := findCondition(getServer(t, ns, "tmp"), ftpv1.ConditionReady); ready.Reason == ftpv1.ReasonEmptyDir {
		t.Fatalf("Ready blocked by the emptyDir warning: %+v", ready)
	}
	if ed := getDeployment(t, ns, "tmp").Spec.Template.Spec.Volumes[0].EmptyDir; ed == nil || ed.SizeLimit == nil || ed.SizeLimit.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Fatalf("emptyDir %+v", ed)
	}
	// A LoadBalancer Service keeps client addresses by default.
	if p := getService(t, ns, "tmp").Spec.ExternalTrafficPolicy; p != corev1.ServiceExternalTrafficPolicyLocal {
		t.Fatalf("externalTrafficPolicy %q, want Local", p)
	}
}

// TestSchemaDefaults: the API server fills in the safe defaults — FTPS required when tls is set, claims retained.
func TestSchemaDefaults(t *testing.T) {
	ns := newNamespace(t)
	create(t, newServer(t, ns, "defaults", func(s *ftpv1.FTPServer) {
		s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}}
		withClaim("")(s)
	}))
	srv := getServer(t, ns, "defaults")
	if srv.Spec.TLS.Mode != ftpv1.TLSRequired || srv.Spec.Storage.VolumeClaimTemplate.Retention != ftpv1.ClaimRetain {
		t.Fatalf("tls.mode %q, retention %q; want Required, Retain", srv.Spec.TLS.Mode, srv.Spec.Storage.VolumeClaimTemplate.Retention)
	}
}
