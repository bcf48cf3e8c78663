package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// TestWarningsOnlyWhereTheyApply (issue 14): ServiceAnnotationsAllowed is written only while spec.service.annotations
// holds keys, LoadBalancerCompatible only for a LoadBalancer Service. A ClusterIP server without annotations has
// neither (they said nothing, and every condition is paid for on each status write); adding annotations brings
// the first, dropping them takes it away again.
func TestWarningsOnlyWhereTheyApply(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "cip", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }))
	create(t, newServer(t, ns, "lb", nil)) // LoadBalancer, the default type
	absent := func(srv *ftpv1.FTPServer, types ...string) bool {
		for _, typ := range types {
			if meta.FindStatusCondition(srv.Status.Conditions, typ) != nil {
				return false
			}
		}
		return true
	}
	srv := waitCondition(t, ns, "cip", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	if !absent(srv, ftpv1.ConditionLoadBalancerCompatible, ftpv1.ConditionServiceAnnotationsAllowed) {
		t.Fatalf("a ClusterIP server without service annotations has conditions %+v", srv.Status.Conditions)
	}
	srv = waitCondition(t, ns, "lb", ftpv1.ConditionLoadBalancerCompatible, metav1.ConditionTrue, ftpv1.ReasonWithinLimits)
	if !absent(srv, ftpv1.ConditionServiceAnnotationsAllowed) {
		t.Fatalf("a server without service annotations has ServiceAnnotationsAllowed: %+v", srv.Status.Conditions)
	}

	setAnnotations := func(a map[string]string) {
		eventually(t, 10*time.Second, "updating spec.service.annotations", func() (bool, error) {
			var cur ftpv1.FTPServer
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "cip"}, &cur); err != nil {
				return false, err
			}
			cur.Spec.Service.Annotations = a
			return k8s.Update(context.Background(), &cur) == nil, nil
		})
	}
	setAnnotations(map[string]string{"service.beta.kubernetes.io/example": "yes"}) // allowed by the default list
	srv = waitCondition(t, ns, "cip", ftpv1.ConditionServiceAnnotationsAllowed, metav1.ConditionTrue, ftpv1.ReasonAnnotationsAllowed)
	if !absent(srv, ftpv1.ConditionLoadBalancerCompatible) {
		t.Fatalf("a ClusterIP server has LoadBalancerCompatible: %+v", srv.Status.Conditions)
	}
	setAnnotations(nil)
	eventually(t, 20*time.Second, "ServiceAnnotationsAllowed gone with the annotations", func() (bool, error) {
		return absent(getServer(t, ns, "cip"), ftpv1.ConditionServiceAnnotationsAllowed), nil
	})
}
