package controllers

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// rwxClaim is shared storage, as more than one replica needs.
func rwxClaim(s *ftpv1.FTPServer) {
	s.Spec.Storage = ftpv1.Storage{VolumeClaimTemplate: &ftpv1.VolumeClaimTemplate{
		Size: resource.MustParse("1Gi"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
	}}
}

// TestAdmissionRefusesBadReplicas: replicas out of 1..16, a passive range that does not split evenly across the
// pods, and storage that only one pod can use are refused by the API server with messages that say why.
func TestAdmissionRefusesBadReplicas(t *testing.T) {
	ns := newNamespace(t)
	replicas := func(n int32, more ...func(*ftpv1.FTPServer)) func(*ftpv1.FTPServer) {
		return func(s *ftpv1.FTPServer) {
			s.Spec.Replicas = ptr.To(n)
			rwxClaim(s)
			for _, m := range more {
				m(s)
			}
		}
	}
	relay := func(s *ftpv1.FTPServer) { s.Spec.Service.Routing = ftpv1.RoutingRelay }
	count := func(n int32) func(*ftpv1.FTPServer) {
		return func(s *ftpv1.FTPServer) { s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To(n)} }
	}
	tests := []struct {
		name string
		mut  func(*ftpv1.FTPServer)
		want string // "" means: accepted
	}{
		{"three replicas, 12 ports, RWX claim", replicas(3, count(12)), ""},
		{"four replicas and the default 16 ports", replicas(4), ""},
		{"two replicas on an existing claim", func(s *ftpv1.FTPServer) {
			s.Spec.Replicas = ptr.To[int32](2)
			s.Spec.Storage = ftpv1.Storage{PersistentVolumeClaim: &ftpv1.PersistentVolumeClaimRef{ClaimName: "shared"}}
		}, ""},
		{"three replicas on object storage", func(s *ftpv1.FTPServer) {
			s.Spec.Replicas = ptr.To[int32](3)
			s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](3)}
			s.Spec.Storage = ftpv1.Storage{S3: &ftpv1.S3Storage{Endpoint: "https://s3.example.com", Bucket: "drop",
				CredentialsSecretRef: ftpv1.LocalObjectReference{Name: "s3-creds"}}}
		}, ""},
		{"one replica keeps the emptyDir default", func(s *ftpv1.FTPServer) { s.Spec.Replicas = ptr.To[int32](1) }, ""},
		{"replicas 0", replicas(0), "spec.replicas in body should be greater than or equal to 1"},
		{"replicas 17", replicas(17), "spec.replicas in body should be less than or equal to 16"},
		{"count not divisible", replicas(3, count(16)), "spec.passivePorts must split evenly across spec.replicas"},
		{"default count not divisible", replicas(3), "spec.passivePorts must split evenly across spec.replicas"},
		{"pinned range not divisible", replicas(2, func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 31000, End: 31002}}
		}), "spec.passivePorts must split evenly across spec.replicas"},
		{"fewer ports than replicas", replicas(8, count(4)), "spec.passivePorts must hold at least one port per replica"},
		{"emptyDir with three replicas", func(s *ftpv1.FTPServer) {
			s.Spec.Replicas = ptr.To[int32](3)
			s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](3)}
		}, "more than one replica needs shared storage"},
		{"ReadWriteOnce claim with three replicas", replicas(3, count(3), func(s *ftpv1.FTPServer) {
			s.Spec.Storage.VolumeClaimTemplate.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
		}), "more than one replica needs shared storage"},
		{"claim template with the default access mode", replicas(2, func(s *ftpv1.FTPServer) {
			s.Spec.Storage.VolumeClaimTemplate.AccessModes = nil
		}), "use a ReadWriteMany claim"},
		{"ClusterIP with two replicas", replicas(2, func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }),
			"more than one replica needs spec.service.type LoadBalancer or NodePort"},
		{"NodePort with two replicas", replicas(2, func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeNodePort }), ""},
		{"multiplexing with two replicas and the Cluster default", replicas(2, func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
		}), "passivePorts.multiplexing Enabled with more than one replica needs the real client addresses"},
		{"multiplexing with two replicas behind PROXY protocol", replicas(2, func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{TrustedCIDRs: []string{"10.0.0.0/8"}}
		}), ""},
		{"unknown routing", replicas(2, func(s *ftpv1.FTPServer) { s.Spec.Service.Routing = "Teleport" }),
			`spec.service.routing: Unsupported value: "Teleport": supported values: "SharedAddress", "Relay"`},
		{"Relay with three replicas", replicas(3, count(12), relay), ""},
		{"Relay with one replica (no effect)", func(s *ftpv1.FTPServer) { relay(s); s.Spec.Replicas = ptr.To[int32](1) }, ""},
		{"multiplexing with Relay keeps the client addresses (Local by default)", replicas(2, relay, func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
		}), ""},
		{"multiplexing with Relay and Cluster", replicas(2, relay, func(s *ftpv1.FTPServer) {
			s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
			s.Spec.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}), "passivePorts.multiplexing Enabled with more than one replica needs the real client addresses"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { admit(t, newServer(t, ns, fmt.Sprintf("r%d", i), tt.mut), tt.want) })
	}
}

// TestReplicasAndRoutingDefault: the API server fills in replicas 1 and routing SharedAddress, so existing
// FTPServers read as one replica.
func TestReplicasAndRoutingDefault(t *testing.T) {
	ns := newNamespace(t)
	srv := newServer(t, ns, "defaults", nil)
	if err := k8s.Create(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	if srv.Spec.Replicas == nil || *srv.Spec.Replicas != 1 || srv.Spec.Service.Routing != ftpv1.RoutingSharedAddress {
		t.Fatalf("replicas %v, routing %q; want 1 and SharedAddress", srv.Spec.Replicas, srv.Spec.Service.Routing)
	}
}
