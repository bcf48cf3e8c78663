package controllers

import (
	"bytes"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// TestPasswordSecretIsReadOncePerVersion (issue 14): servers that name the same password Secret do not read it
// again on every pass while the namespace's Secret watch shows it unchanged; a changed Secret is read again and its
// new password reaches every server's users Secret.
func TestPasswordSecretIsReadOncePerVersion(t *testing.T) {
	ns := newNamespace(t)
	log := startLoggedOperator(t, ns)
	names := []string{"one", "two", "three"}
	for _, name := range names {
		create(t, newServer(t, ns, name, func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }))
	}
	for _, name := range names {
		waitCondition(t, ns, name, ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	}
	time.Sleep(2 * time.Second) // the passes that the new children's own events bring, and the watch's first list
	_, mark := log.since(0)
	secretPath := "GET /api/v1/namespaces/" + ns + "/secrets/users"
	for _, name := range names {
		patchAnnotation(t, ns, name, "poke", "1") // one more pass each, with every child in place
		patchAnnotation(t, ns, name, "poke", "2")
	}
	time.Sleep(2 * time.Second)
	reqs, mark := log.since(mark)
	if n := len(slices.DeleteFunc(reqs, func(r string) bool { return r != secretPath })); n != 0 {
		t.Errorf("six passes over an unchanged password Secret read it %d times, want 0", n)
	}

	// A new password: read again, and in every server's users Secret.
	setSecretData(t, ns, "users", "password", "n3w-password")
	for _, name := range names {
		eventually(t, 10*time.Second, name+"'s users Secret holding the new password", func() (bool, error) {
			return bytes.Equal(getUsersSecret(t, ns, name).Data["acme.password"], []byte("n3w-password")), nil
		})
	}
	reqs, _ = log.since(mark)
	if n := len(slices.DeleteFunc(reqs, func(r string) bool { return r != secretPath })); n == 0 {
		t.Error("the changed password Secret was not read")
	}
}
