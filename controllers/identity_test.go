package controllers

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// One engine identity per namespace: its Role names the address ConfigMaps of that namespace's servers and
// nothing else, so an engine reads its own and its neighbours' addresses, never another ConfigMap of the namespace
// nor anything in another namespace. A deleted part is made again; the identity goes with the namespace's last
// server.
func TestEngineIdentityIsSharedAndScoped(t *testing.T) {
	a, b := newNamespace(t), newNamespace(t)
	startOperatorWith(t, opConfig{namespaces: []string{a, b}, pool: bigPool})
	clusterIP := func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }
	for _, s := range []*ftpv1.FTPServer{newServer(t, a, "a1", clusterIP), newServer(t, a, "a2", clusterIP), newServer(t, b, "b1", clusterIP)} {
		create(t, s)
	}
	for _, s := range [][2]string{{a, "a1"}, {a, "a2"}, {b, "b1"}} {
		waitCondition(t, s[0], s[1], ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	}
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: "private"}, Data: map[string]string{"k": "v"}})

	role := &rbacv1.Role{}
	eventually(t, 10*time.Second, "the Role of namespace a names a1's and a2's ConfigMaps", func() (bool, error) {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: a, Name: render.EngineIdentityName}, role); err != nil {
			return false, err
		}
		return slices.Equal(role.Rules[0].ResourceNames, []string{"a1-ftpd", "a2-ftpd"}), fmt.Errorf("names %v", role.Rules[0].ResourceNames)
	})
	if len(role.OwnerReferences) != 0 {
		t.Fatalf("the shared Role has owners %v", role.OwnerReferences)
	}
	var sas corev1.ServiceAccountList
	if err := k8s.List(context.Background(), &sas, client.InNamespace(a), client.MatchingLabels{render.ManagedByLabel: render.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	if len(sas.Items) != 1 {
		t.Fatalf("%d ServiceAccounts of the operator in namespace a, want 1", len(sas.Items))
	}

	engine := engineClient(t, a)
	for _, c := range []struct {
		ns, name string
		allowed  bool
	}{{a, "a1-ftpd", true}, {a, "a2-ftpd", true}, {a, "private", false}, {b, "b1-ftpd", false}} {
		err := engine.Get(context.Background(), types.NamespacedName{Namespace: c.ns, Name: c.name}, &corev1.ConfigMap{})
		if c.allowed && err != nil || !c.allowed && !apierrors.IsForbidden(err) {
			t.Errorf("engine of %s reading ConfigMap %s/%s: %v (allowed: %v)", a, c.ns, c.name, err, c.allowed)
		}
	}

	// A deleted part comes back.
	if err := k8s.Delete(context.Background(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: render.EngineIdentityName}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the RoleBinding made again", func() (bool, error) {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: a, Name: render.EngineIdentityName}, &rbacv1.RoleBinding{})
		return err == nil, err
	})

	// Gone with the namespace's last server; the other namespace keeps its own.
	for _, n := range []string{"a1", "a2"} {
		if err := k8s.Delete(context.Background(), &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the engine identity of namespace a deleted", func() (bool, error) {
		for _, o := range []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}} {
			if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: a, Name: render.EngineIdentityName}, o); !apierrors.IsNotFound(err) {
				return false, fmt.Errorf("%T still there (%v)", o, err)
			}
		}
		return true, nil
	})
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: b, Name: render.EngineIdentityName}, &rbacv1.Role{}); err != nil {
		t.Fatalf("namespace b's Role: %v", err)
	}
}

// engineClient is a client with the identity of ns's engine pods.
func engineClient(t *testing.T, ns string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, render.EngineIdentityName)}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// engineRoleNames is the list of address ConfigMaps that the engine Role of ns names, or nil without that rule.
func engineRoleNames(t *testing.T, ns string) ([]string, error) {
	t.Helper()
	role := &rbacv1.Role{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.EngineIdentityName}, role); err != nil {
		return nil, err
	}
	for _, r := range role.Rules {
		if slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
			return r.ResourceNames, nil
		}
	}
	return nil, nil
}

// A deleted server's ConfigMap leaves the engine Role of its namespace at once, though no other server of the
// namespace has a pass of its own (nothing else changes: no garbage collector runs on envtest).
func TestDeletedServerLeavesTheEngineRole(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	clusterIP := func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }
	for _, n := range []string{"stay", "go"} {
		create(t, newServer(t, ns, n, clusterIP))
	}
	for _, n := range []string{"stay", "go"} {
		waitCondition(t, ns, n, ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	}
	eventually(t, 10*time.Second, "the Role names both servers' ConfigMaps", func() (bool, error) {
		names, err := engineRoleNames(t, ns)
		return slices.Equal(names, []string{"go-ftpd", "stay-ftpd"}), fmt.Errorf("names %v (%v)", names, err)
	})
	if err := k8s.Delete(context.Background(), &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "go"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the Role names only the remaining server's ConfigMap", func() (bool, error) {
		names, err := engineRoleNames(t, ns)
		return slices.Equal(names, []string{"stay-ftpd"}), fmt.Errorf("names %v (%v)", names, err)
	})
}

// Passes that find the engine identity as the operator wrote it skip it; one that finds it edited by someone else
// (a wider rule, a name taken out) writes it back.
func TestEditedEngineRoleIsWrittenBack(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "edited", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }))
	waitCondition(t, ns, "edited", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	eventually(t, 10*time.Second, "the Role names the server's ConfigMap", func() (bool, error) {
		names, err := engineRoleNames(t, ns)
		return slices.Equal(names, []string{"edited-ftpd"}), fmt.Errorf("names %v (%v)", names, err)
	})
	patchAnnotation(t, ns, "edited", "poke", "1") // a pass that finds the identity in place
	role := &rbacv1.Role{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.EngineIdentityName}, role); err != nil {
		t.Fatal(err)
	}
	role.Rules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"get"}}}
	if err := k8s.Update(context.Background(), role); err != nil {
		t.Fatal(err)
	}
	patchAnnotation(t, ns, "edited", "poke", "2")
	eventually(t, 10*time.Second, "the Role written back", func() (bool, error) {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.EngineIdentityName}, role); err != nil {
			return false, err
		}
		want := render.EngineRole(ns, []string{"edited-ftpd"}, nil).Rules
		return equality.Semantic.DeepEqual(role.Rules, want), fmt.Errorf("rules %+v", role.Rules)
	})
}
