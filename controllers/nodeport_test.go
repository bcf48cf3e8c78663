package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// squatNodePort creates name, a NodePort Service the operator does not own, on the first free node port of from,
// from+step, … up to last, and returns that port. The package's tests share one API server, whose namespaces are
// never deleted: earlier tests (random node ports of their Services, grants of NodePort servers) and earlier
// runs with -count hold theirs, so no fixed port can be assumed free.
func squatNodePort(t *testing.T, ns, name string, from, step, last int32) int32 {
	t.Helper()
	for p := from; p <= last; p += step {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "other"},
				Ports: []corev1.ServicePort{{Name: "x", Port: 80, NodePort: p}}},
		}
		err := k8s.Create(context.Background(), svc)
		if err == nil {
			return p
		}
		if !strings.Contains(err.Error(), "already allocated") {
			t.Fatal(err)
		}
	}
	t.Fatalf("no free node port in %d, %d, … %d for %s", from, from+step, last, name)
	return 0
}
