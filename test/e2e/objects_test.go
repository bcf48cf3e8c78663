//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ftp-operator/ftp-operator/internal/testcert"
)

func metaIn(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// persistentVolume is a static hostPath volume of class, bound only by a claim of that class.
func persistentVolume(name, class, dir string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptrTo(corev1.HostPathDirectory)},
			},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// certificate returns a CA and a server certificate (with its key) for ip, all PEM.
func certificate(t *testing.T, ip string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	ca := testcert.New(t, testcert.Options{CommonName: "ftp-operator e2e CA", CA: true, ValidFor: 24 * time.Hour})
	leaf := testcert.New(t, testcert.Options{Hosts: []string{ip}, Parent: ca, ValidFor: 24 * time.Hour})
	return ca.CertPEM, leaf.CertPEM, leaf.KeyPEM
}

// tlsSecretFor creates a TLS Secret name in ns with a certificate for ip (certificate) and returns it with the path
// of its CA's PEM file.
func tlsSecretFor(t *testing.T, ns, name, ip string) (*corev1.Secret, string) {
	t.Helper()
	caPEM, certPEM, keyPEM := certificate(t, ip)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metaIn(ns, name),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	return secret, ca
}
