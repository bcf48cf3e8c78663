package render

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// Relay routing (docs/high-availability.md): the server's one Service carries port 21 and every passive port and
// selects every pod; a pod that receives a data connection for a port of another pod's slice relays it to that pod
// by its stable name <set>-<k>.<headless>, which the headless Service gives every pod of the StatefulSet.

// HeadlessServiceName is the name of the headless Service that governs the StatefulSet of a server with several
// replicas, so that pod <set>-<k> is reachable as <set>-<k>.<HeadlessServiceName>.
func HeadlessServiceName(srv *ftpv1.FTPServer) string { return srv.Name + "-pods" }

// HeadlessService gives each pod of a server with several replicas a stable DNS name (the StatefulSet's
// serviceName). It lists the pods that are not ready too (publishNotReadyAddresses): a draining pod stays reachable
// for the relayed data connections of the sessions it finishes.
func HeadlessService(srv *ftpv1.FTPServer) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(srv, HeadlessServiceName(srv)),
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeClusterIP,
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 Labels(srv),
			PublishNotReadyAddresses: true,
		},
	}
}

// relayService makes svc (the server's Service) the one Service of Relay routing: the control port and every port
// of grant, selecting every pod. A data connection may land on any pod, so the control connections need no affinity.
func relayService(svc *corev1.Service, grant ftpv1.PortRange) {
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	svc.Spec.Ports = append(svc.Spec.Ports, passivePorts(svc.Spec.Type, grant)...)
}

// RelayPods are the names of the pods of srv that relay (every pod of a server with Relay routing; none otherwise).
func RelayPods(srv *ftpv1.FTPServer) []string {
	if !srv.Spec.Relayed() {
		return nil
	}
	var pods []string
	for i := range srv.Spec.ReplicasOrDefault() {
		pods = append(pods, PodName(srv, i))
	}
	return pods
}

// EnginePeerRules extend EngineRole for the relaying pods of the namespace (pods, from RelayPods): the engine may
// read those pods, by name, to find a peer's IP where no cluster DNS answers for the headless Service (a cluster
// without DNS); none without relaying pods (an empty resourceNames would be every pod).
func EnginePeerRules(pods []string) []rbacv1.PolicyRule {
	if len(pods) == 0 {
		return nil
	}
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: pods, Verbs: []string{"get"}}}
}
