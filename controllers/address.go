package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// reconcileAddress publishes the address that clients reach in status.address and status.endpoint, and for the
// engine in its operator-owned ConfigMap, which it follows live (addressfollow.Follow): an address change never touches
// the pod, and an address written into status by hand never reaches the engine.
//
// The address is, in order: spec.publicAddress; for LoadBalancer, the first ingress of the Service's
// load-balancer status (an IP or a DNS name, which the engine resolves); for NodePort, the node of the server's
// pod (ExternalIP, else InternalIP); for ClusterIP, the cluster IP.
func (r *FTPServerReconciler) reconcileAddress(ctx context.Context, p *pass) error {
	srv, svc := p.srv, p.service
	address, port, waiting, err := r.address(ctx, srv, svc)
	if err != nil {
		return err
	}
	if err := r.publishAddress(ctx, p, address); err != nil {
		return err
	}
	if address == "" {
		srv.Status.Address, srv.Status.Endpoint = "", ""
		setCondition(srv, ftpv1.ConditionAddress, false, ftpv1.ReasonWaitingForAddress, "%s", waiting)
		return nil
	}
	srv.Status.Address = address
	srv.Status.Endpoint = render.Endpoint(srv, address, port)
	setCondition(srv, ftpv1.ConditionAddress, true, ftpv1.ReasonAddressAssigned, "passive replies advertise %s", address)
	return nil
}

// publishAddress writes address into the engine's ConfigMap when it differs from what is there.
func (r *FTPServerReconciler) publishAddress(ctx context.Context, p *pass, address string) error {
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, types.NamespacedName{Namespace: p.srv.Namespace, Name: render.ConfigMapName(p.srv)}, cm)
	if cur, ok := cm.Data[render.AddressKey]; err == nil && ok && cur == address && metav1.IsControlledBy(cm, p.srv) {
		return nil
	}
	if err := r.apply(ctx, p.srv, render.AddressConfigMap(p.srv, address)); err != nil {
		return r.applyFailed(p.srv, ftpv1.ConditionAddress, err)
	}
	return nil
}

// address returns the advertised address and the client-facing control port, or why there is none yet.
func (r *FTPServerReconciler) address(ctx context.Context, srv *ftpv1.FTPServer, svc *corev1.Service) (string, int32, string, error) {
	port := controlPort(srv, svc)
	if a := srv.Spec.PublicAddress; a != "" {
		return a, port, "", nil
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				return in.IP, port, "", nil
			}
			if in.Hostname != "" {
				return in.Hostname, port, "", nil
			}
		}
		return "", 0, fmt.Sprintf("waiting for a load balancer to assign an address to Service %s", svc.Name), nil
	case corev1.ServiceTypeNodePort:
		addr, err := r.nodeAddress(ctx, srv)
		if err != nil || addr == "" {
			return "", 0, "waiting for the FTP server pod to be scheduled on a node with an address", err
		}
		return addr, port, "", nil
	default:
		if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
			return ip, port, "", nil
		}
		return "", 0, "waiting for a cluster IP", nil
	}
}

// controlPort is the port clients dial for the control connection: the Service port, or its nodePort.
func controlPort(srv *ftpv1.FTPServer, svc *corev1.Service) int32 {
	name := "ftp"
	if srv.Spec.TLS != nil && srv.Spec.TLS.Mode == ftpv1.TLSImplicit {
		name = "ftps"
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Name != name {
			continue
		}
		if svc.Spec.Type == corev1.ServiceTypeNodePort && srv.Spec.PublicAddress == "" {
			return sp.NodePort
		}
		return sp.Port
	}
	return render.ServiceControlPort
}

// nodeAddress is the address of the node that runs the server's pod: ExternalIP first, then InternalIP.
// Pods and nodes are read uncached; the Deployment watch brings us back when the pod comes up.
func (r *FTPServerReconciler) nodeAddress(ctx context.Context, srv *ftpv1.FTPServer) (string, error) {
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(srv.Namespace), client.MatchingLabels(render.Labels(srv))); err != nil {
		return "", fmt.Errorf("listing the pods of %s: %w", srv.Name, err)
	}
	for _, pod := range pods.Items {
		if pod.Spec.NodeName == "" || !pod.DeletionTimestamp.IsZero() {
			continue
		}
		var node corev1.Node
		if err := r.APIReader.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node); err != nil {
			return "", fmt.Errorf("reading node %s: %w", pod.Spec.NodeName, err)
		}
		for _, want := range []corev1.NodeAddressType{corev1.NodeExternalIP, corev1.NodeInternalIP} {
			for _, a := range node.Status.Addresses {
				if a.Type == want && a.Address != "" {
					return a.Address, nil
				}
			}
		}
	}
	return "", nil
}
