package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// TestServiceAnnotationsAllowList: of spec.service.annotations only the keys on the operator's allow-list reach the
// Service; the others are named in ServiceAnnotationsAllowed=False with a Warning event, while the Service is
// still applied. Once the tenant drops them the condition turns True.
func TestServiceAnnotationsAllowList(t *testing.T) {
	ns := newNamespace(t)
	policy := render.MustParseAnnotationPolicy("example.com/allowed,lb.example.com/*")
	startOperatorWith(t, opConfig{namespaces: []string{ns}, pool: bigPool, allowedAnnotations: &policy})
	create(t, newServer(t, ns, "annot", func(s *ftpv1.FTPServer) {
		s.Spec.Service.Annotations = map[string]string{
			"example.com/allowed":        "yes",
			"lb.example.com/scheme":      "internal",
			"metallb.io/allow-shared-ip": "other-tenant",
			"example.com/refused":        "no",
		}
	}))
	srv := waitCondition(t, ns, "annot", ftpv1.ConditionServiceAnnotationsAllowed, metav1.ConditionFalse, ftpv1.ReasonAnnotationsRefused)
	if msg := findCondition(srv, ftpv1.ConditionServiceAnnotationsAllowed).Message; !strings.Contains(msg, "example.com/refused, metallb.io/allow-shared-ip") {
		t.Errorf("condition message does not name the refused keys: %q", msg)
	}
	waitEvent(t, ns, "annot", ftpv1.ReasonAnnotationsRefused)
	waitCondition(t, ns, "annot", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	svc := getService(t, ns, "annot")
	if svc.Annotations["example.com/allowed"] != "yes" || svc.Annotations["lb.example.com/scheme"] != "internal" {
		t.Errorf("allowed annotations missing from the Service: %v", svc.Annotations)
	}
	for _, k := range []string{"metallb.io/allow-shared-ip", "example.com/refused"} {
		if _, ok := svc.Annotations[k]; ok {
			t.Errorf("refused annotation %s reached the Service: %v", k, svc.Annotations)
		}
	}

	// The tenant drops the refused keys: the condition clears, no second warning.
	eventually(t, 10*time.Second, "dropping the refused keys", func() (bool, error) {
		var cur ftpv1.FTPServer
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "annot"}, &cur); err != nil {
			return false, err
		}
		cur.Spec.Service.Annotations = map[string]string{"example.com/allowed": "still"}
		return k8s.Update(context.Background(), &cur) == nil, nil
	})
	waitCondition(t, ns, "annot", ftpv1.ConditionServiceAnnotationsAllowed, metav1.ConditionTrue, ftpv1.ReasonAnnotationsAllowed)
	// Keys the operator applied and the spec no longer holds leave the Service (server-side apply).
	eventually(t, 10*time.Second, "the Service carrying exactly the new annotations", func() (bool, error) {
		a := getService(t, ns, "annot").Annotations
		_, stale := a["lb.example.com/scheme"]
		return a["example.com/allowed"] == "still" && !stale, nil
	})
	if n := countEvents(t, ns, "annot", ftpv1.ReasonAnnotationsRefused); n != 1 {
		t.Errorf("%d AnnotationsRefused events, want 1", n)
	}
}
