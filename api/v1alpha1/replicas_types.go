package v1alpha1

import corev1 "k8s.io/api/core/v1"

// High availability (issue 11): an FTPServer with several replicas, each pod owning an equal, contiguous slice of
// the server's passive range. See docs/high-availability.md.

// MaxReplicas is the largest spec.replicas.
const MaxReplicas int32 = 16

// ReplicasOrDefault is spec.replicas, 1 when unset.
func (s FTPServerSpec) ReplicasOrDefault() int32 {
	if s.Replicas == nil || *s.Replicas < 1 {
		return 1
	}
	return *s.Replicas
}

// HighlyAvailable reports whether the server runs more than one replica (a StatefulSet with a slice of the passive
// range per pod) rather than the single pod of a Deployment.
func (s FTPServerSpec) HighlyAvailable() bool { return s.ReplicasOrDefault() > 1 }

// ServiceRouting is how the passive ports of a server with several replicas reach the pod that owns them (see
// docs/high-availability.md). With one replica it has no effect: the one pod owns every port.
// +kubebuilder:validation:Enum=SharedAddress;Relay
type ServiceRouting string

// Routing strategies.
const (
	// RoutingSharedAddress: one Service for the control port selecting every ready pod, plus one Service per pod
	// carrying only that pod's slice of the passive range, all on the same load-balancer address.
	RoutingSharedAddress ServiceRouting = "SharedAddress"
	// RoutingRelay: one Service carrying the control port and every passive port, selecting every pod; a data
	// connection that reaches a pod that does not own its port is relayed to the owner pod (by its stable name under
	// the headless Service), with a PROXY v2 header carrying the client's address. For load balancers that cannot
	// share one address between Services.
	RoutingRelay ServiceRouting = "Relay"
)

// Relayed reports whether the server runs several replicas with Relay routing.
func (s FTPServerSpec) Relayed() bool {
	return s.HighlyAvailable() && s.Service.RoutingOrDefault() == RoutingRelay
}

// RoutingOrDefault is routing, SharedAddress when unset.
func (s ServiceSpec) RoutingOrDefault() ServiceRouting {
	return orDefault(s.Routing, RoutingSharedAddress)
}

// ExternalTrafficPolicyFor is the external traffic policy of the server's Services. Unset, it is Local for a
// LoadBalancer with one replica or with Relay routing (the client's address reaches the engine, which checks it on
// every data connection, also a relayed one) and Cluster with SharedAddress routing: there the per-pod Services
// select different pods, and load balancers that share one address between Services (MetalLB) share it only between
// Cluster Services or Local Services with the same selector.
func (s FTPServerSpec) ExternalTrafficPolicyFor() corev1.ServiceExternalTrafficPolicy {
	if s.Service.ExternalTrafficPolicy == "" && s.HighlyAvailable() && !s.Relayed() {
		return corev1.ServiceExternalTrafficPolicyCluster
	}
	return s.Service.ExternalTrafficPolicyOrDefault()
}

// Conditions and reasons of several replicas.
const (
	// ConditionSharedAddress is False when the Services of a server with several replicas (SharedAddress routing)
	// did not all get the same load-balancer address, so data connections to some slices fail. It does not affect
	// Ready (the control port works); only set while replicas > 1.
	ConditionSharedAddress = "SharedAddress"
	// ReasonSameAddress: every Service of the server holds the same address.
	ReasonSameAddress = "SameAddress"
	// ReasonAddressesDiffer: the Services hold different addresses (or some none yet); the message names them.
	ReasonAddressesDiffer = "AddressesDiffer"
	// ReasonStorageNotShared (WorkloadReady): the existing claim named by spec.storage.persistentVolumeClaim is not
	// ReadWriteMany, so more than one replica cannot mount it; the workload is not applied until it is.
	ReasonStorageNotShared = "StorageNotShared"
	// ReasonGrantMoved (PortsAllocated, True): spec.passivePorts.count changed and the ports after the grant were
	// taken, so the grant could not grow (or shrink) in place and the server got a new range; every pod's slice moved.
	ReasonGrantMoved = "GrantMoved"
)
