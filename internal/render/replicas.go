package render

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portrange"
)

// A server with several replicas (issue 11, docs/high-availability.md) runs a StatefulSet: stable ordinals, so
// stable slices of the passive range. Routing SharedAddress: the control Service (Service) carries port 21 and
// selects every ready pod; one Service per pod (PodService) carries only that pod's slice, selected by the pod
// name label the StatefulSet controller sets; all of them ask the load balancer for one address.

// Annotations of the Services of a server with several replicas.
const (
	// GrantAnnotation records, on the control Service, the whole passive range granted to a server with several
	// replicas, whose control Service carries no passive port. It is the grant's record in the API that the
	// operator reads back on restart (with the passive ports of a single replica's Service), never the Services
	// of the pods, which are views of slices of it.
	GrantAnnotation = "ftpoperator.io/passive-ports"
	// MetalLBSharedIP makes MetalLB put Services with the same value on one address (they must not share a port).
	MetalLBSharedIP = "metallb.io/allow-shared-ip"
	// MetalLBIPs asks MetalLB for given addresses. The Services of the pods ask for the control Service's address
	// once it has one.
	MetalLBIPs = "metallb.io/loadBalancerIPs"
	// PodNameLabel is the label the StatefulSet controller sets on each pod with the pod's name.
	PodNameLabel = appsv1.StatefulSetPodNameLabel
)

// StatefulSetName is the name of the StatefulSet of a server with several replicas; its pods are <name>-<ordinal>.
func StatefulSetName(srv *ftpv1.FTPServer) string { return srv.Name }

// PodServiceName is the name of the Service of pod ordinal i.
func PodServiceName(srv *ftpv1.FTPServer, i int32) string {
	return srv.Name + "-pasv-" + strconv.Itoa(int(i))
}

// PodName is the name of the StatefulSet's pod of ordinal i.
func PodName(srv *ftpv1.FTPServer, i int32) string {
	return StatefulSetName(srv) + "-" + strconv.Itoa(int(i))
}

// DisruptionBudgetName is the name of the PodDisruptionBudget of a server with several replicas.
func DisruptionBudgetName(srv *ftpv1.FTPServer) string { return srv.Name }

// SharingKey is the MetalLB sharing key of a server's Services: one per server.
func SharingKey(srv *ftpv1.FTPServer) string { return "ftp-operator." + srv.Namespace + "." + srv.Name }

// Slice is the part of grant that pod ordinal i of the server owns: the i-th of spec.replicas equal, contiguous
// slices (portrange.Range.Slice, the same arithmetic the engine applies to its ordinal).
func Slice(srv *ftpv1.FTPServer, grant ftpv1.PortRange, i int32) (ftpv1.PortRange, error) {
	s, err := PortRange(grant).Slice(i, srv.Spec.ReplicasOrDefault())
	if err != nil {
		return ftpv1.PortRange{}, err
	}
	return APIPortRange(s), nil
}

// StatefulSet runs the server's replicas: Parallel pod management (a pod does not wait for its lower ordinals),
// rolling updates one pod at a time, each pod from PodTemplate with the slice of its ordinal.
func StatefulSet(srv *ftpv1.FTPServer, grant ftpv1.PortRange, opts Options) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: meta(srv, StatefulSetName(srv)),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(srv.Spec.ReplicasOrDefault()),
			Selector:            &metav1.LabelSelector{MatchLabels: Labels(srv)},
			ServiceName:         HeadlessServiceName(srv),
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Template:            PodTemplate(srv, grant, opts),
		},
	}
}

// PodDisruptionBudget lets a drain or an eviction take one pod of a server with several replicas at a time.
func PodDisruptionBudget(srv *ftpv1.FTPServer) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: meta(srv, DisruptionBudgetName(srv)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: Labels(srv)},
		},
	}
}

// spreadAcrossNodes prefers to put the server's pods on different nodes (a preference: a one-node cluster still
// runs every replica).
func spreadAcrossNodes(srv *ftpv1.FTPServer) *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: Labels(srv)},
				TopologyKey:   corev1.LabelHostname,
			},
		}},
	}}
}

// PodService is the Service of pod ordinal i: only that pod's slice of grant, selected by the pod's name, of the
// control Service's type and load-balancer settings. address is the control Service's load-balancer address once
// it has one: the Service then asks for it (MetalLBIPs), unless spec.service.annotations asks for an address itself.
func PodService(srv *ftpv1.FTPServer, grant ftpv1.PortRange, i int32, address string, o Options) (*corev1.Service, error) {
	slice, err := Slice(srv, grant, i)
	if err != nil {
		return nil, err
	}
	svc := Service(srv, grant, o)
	svc.Name = PodServiceName(srv, i)
	svc.Spec.Selector = Labels(srv)
	svc.Spec.Selector[PodNameLabel] = PodName(srv, i)
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone // one pod
	svc.Spec.Ports = passivePorts(svc.Spec.Type, slice)
	delete(svc.Annotations, GrantAnnotation)
	shareAddress(svc, srv, grant, address)
	return svc, nil
}

// shareAddress puts the annotations that make a load balancer give every Service of srv one address: MetalLB's
// sharing key (one per server) on each, and on the Services of the pods the control Service's address once known.
// The control Service also records the whole grant (GrantAnnotation).
func shareAddress(svc *corev1.Service, srv *ftpv1.FTPServer, grant ftpv1.PortRange, address string) {
	if svc.Annotations == nil {
		svc.Annotations = map[string]string{}
	}
	if svc.Name == ServiceName(srv) {
		svc.Annotations[GrantAnnotation] = grant.String()
		// The data connections go through the pods' Services, so the control connections need no affinity: without
		// it kube-proxy spreads them over the ready pods, also the sessions of clients behind one NAT address.
		svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return
	}
	svc.Annotations[MetalLBSharedIP] = SharingKey(srv)
	if _, pinned := svc.Annotations[MetalLBIPs]; !pinned && address != "" && svc.Name != ServiceName(srv) {
		svc.Annotations[MetalLBIPs] = address
	}
}

// ParseGrantAnnotation reads GrantAnnotation.
func ParseGrantAnnotation(s string) (portrange.Range, error) {
	r, err := portrange.Parse(s)
	if err != nil || r.AdvertisedStart != 0 {
		return portrange.Range{}, fmt.Errorf("%s %q: want START-END", GrantAnnotation, s)
	}
	return r, nil
}
