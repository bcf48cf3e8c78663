package render

import (
	"io"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// TestRelayServices: with Relay routing the server's one Service carries port 21 and every port of the grant (no
// MetalLB sharing key, no pods' Services needed), keeps the client's address (Local), and the engine gets the
// relay settings; the headless Service that names the pods governs the StatefulSet.
func TestRelayServices(t *testing.T) {
	srv := haServer(3, func(s *ftpv1.FTPServer) { s.Spec.Service.Routing = ftpv1.RoutingRelay })
	svc := Service(srv, haGrant, Options{})
	var ports []int32
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Port)
	}
	want := []int32{21}
	for p := haGrant.Start; p <= haGrant.End; p++ {
		want = append(want, p)
	}
	if !slices.Equal(ports, want) {
		t.Fatalf("Service ports %v, want %v", ports, want)
	}
	if _, ok := svc.Spec.Selector[PodNameLabel]; ok || svc.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		t.Fatalf("selector %v affinity %s: want every pod, no affinity", svc.Spec.Selector, svc.Spec.SessionAffinity)
	}
	if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Fatalf("externalTrafficPolicy %s, want Local (the relay passes on the client's address)", svc.Spec.ExternalTrafficPolicy)
	}
	if _, ok := svc.Annotations[MetalLBSharedIP]; ok {
		t.Fatalf("annotations %v: one Service shares no address", svc.Annotations)
	}
	h := HeadlessService(srv)
	if h.Name != "invoices-pods" || h.Spec.ClusterIP != corev1.ClusterIPNone || !h.Spec.PublishNotReadyAddresses {
		t.Fatalf("headless Service %+v", h)
	}
	sts := StatefulSet(srv, haGrant, Options{Image: "img"})
	if sts.Spec.ServiceName != h.Name {
		t.Fatalf("StatefulSet serviceName %q, want %q", sts.Spec.ServiceName, h.Name)
	}
	c, err := engineconfig.Parse(sts.Spec.Template.Spec.Containers[0].Args[1:], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Relay != (engineconfig.Relay{Replicas: 3, PeerDomain: "invoices-pods"}) || c.Relay.Grant(c.Passive.Ports) != PortRange(haGrant) {
		t.Fatalf("engine relay %+v over %s, want 3 slices of %s", c.Relay, c.Passive.Ports, haGrant)
	}
	if got := c.Relay.PeerHost("invoices-0", 2); got != PodName(srv, 2)+"."+h.Name {
		t.Fatalf("peer of ordinal 2: %q", got)
	}
	// SharedAddress keeps its engine without relay; one replica with Relay is one replica.
	if c := EngineConfig(haServer(3, nil), haGrant); c.Relay.Enabled() {
		t.Fatal("SharedAddress relays")
	}
	one := haServer(1, func(s *ftpv1.FTPServer) { s.Spec.Service.Routing = ftpv1.RoutingRelay })
	if c := EngineConfig(one, haGrant); c.Relay.Enabled() || c.Passive.SliceByOrdinal {
		t.Fatal("one replica with Relay routing relays")
	}
	if len(Service(one, haGrant, Options{}).Spec.Ports) != len(want) || Service(one, haGrant, Options{}).Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		t.Fatal("one replica with Relay routing does not get the single replica's Service")
	}
}
