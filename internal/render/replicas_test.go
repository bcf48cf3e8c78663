package render

import (
	"io"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

var haGrant = ftpv1.PortRange{Start: 31000, End: 31011}

func haServer(replicas int32, mut func(*ftpv1.FTPServer)) *ftpv1.FTPServer {
	return server(func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To(replicas)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To(haGrant.Size())}
		s.Spec.Storage.PersistentVolumeClaim = &ftpv1.PersistentVolumeClaimRef{ClaimName: "shared"}
		if mut != nil {
			mut(s)
		}
	})
}

// TestStatefulSetOfReplicas: three replicas run a Parallel StatefulSet whose pods learn their name from the
// downward API, prefer different nodes, and get the slice of ordinal 0 with the flag that shifts it; every other
// part of the pod is the Deployment's.
func TestStatefulSetOfReplicas(t *testing.T) {
	srv := haServer(3, nil)
	sts := StatefulSet(srv, haGrant, Options{Image: "img"})
	if *sts.Spec.Replicas != 3 || sts.Spec.PodManagementPolicy != "Parallel" || sts.Spec.ServiceName != "invoices-pods" {
		t.Fatalf("StatefulSet spec %+v", sts.Spec)
	}
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	if !slices.Contains(c.Args, "--passive-ports=31000-31003") || !slices.Contains(c.Args, "--passive-slice-by-ordinal=true") {
		t.Fatalf("args %q: want the slice of ordinal 0 and --passive-slice-by-ordinal", c.Args)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "POD_NAME" || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Fatalf("env %+v", c.Env)
	}
	for _, p := range c.Ports {
		if strings.HasPrefix(p.Name, "pasv-") {
			t.Fatalf("a pod template shared by pods of different slices lists passive port %d", p.ContainerPort)
		}
	}
	aa := pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	if len(aa) != 1 || aa[0].PodAffinityTerm.TopologyKey != corev1.LabelHostname || pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		t.Fatalf("anti-affinity %+v: want one preferred term across hostnames", pod.Affinity)
	}
	// The rest of the pod is the single replica's pod (one renderer: PodTemplate).
	one := Deployment(server(func(s *ftpv1.FTPServer) {
		s.Spec.Storage.PersistentVolumeClaim = &ftpv1.PersistentVolumeClaimRef{ClaimName: "shared"}
	}), haGrant, Options{Image: "img"}).Spec.Template.Spec
	if !equality.Semantic.DeepEqual(one.Volumes, pod.Volumes) || !equality.Semantic.DeepEqual(one.SecurityContext, pod.SecurityContext) ||
		!equality.Semantic.DeepEqual(one.Containers[0].ReadinessProbe, c.ReadinessProbe) || one.Affinity != nil || one.Containers[0].Env != nil {
		t.Fatal("the StatefulSet's pod differs from the Deployment's beyond slices, POD_NAME and anti-affinity")
	}
	if slices.Contains(one.Containers[0].Args, "--passive-slice-by-ordinal=true") {
		t.Fatal("one replica slices its range")
	}
	pdb := PodDisruptionBudget(srv)
	if pdb.Spec.MaxUnavailable.IntValue() != 1 || !equality.Semantic.DeepEqual(pdb.Spec.Selector.MatchLabels, Labels(srv)) {
		t.Fatalf("PodDisruptionBudget %+v", pdb.Spec)
	}
}

// TestSharedAddressServices: the control Service of three replicas carries port 21 only and records the grant; the
// Service of each pod carries exactly that pod's slice, selects that pod, and asks for the control Service's
// address; the slices the Services carry are the ones the engine computes from its arguments and pod name.
func TestSharedAddressServices(t *testing.T) {
	srv := haServer(3, nil)
	ctl := Service(srv, haGrant, Options{})
	if len(ctl.Spec.Ports) != 1 || ctl.Spec.Ports[0].Port != 21 {
		t.Fatalf("control Service ports %+v: want 21 only", ctl.Spec.Ports)
	}
	if ctl.Annotations[GrantAnnotation] != "31000-31011" || ctl.Annotations[MetalLBSharedIP] != "ftp-operator.billing.invoices" || ctl.Annotations[MetalLBIPs] != "" {
		t.Fatalf("control Service annotations %v", ctl.Annotations)
	}
	if ctl.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		t.Fatalf("control Service affinity %s: the control connections of several replicas need none", ctl.Spec.SessionAffinity)
	}
	if ctl.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
		t.Fatalf("externalTrafficPolicy %s: want Cluster, MetalLB shares an address between Local Services only with one selector", ctl.Spec.ExternalTrafficPolicy)
	}
	cfg, err := engineconfig.Parse(StatefulSet(srv, haGrant, Options{}).Spec.Template.Spec.Containers[0].Args[1:], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	covered := 0
	for i := range int32(3) {
		svc, err := PodService(srv, haGrant, i, "198.51.100.7", Options{})
		if err != nil {
			t.Fatal(err)
		}
		engine, err := cfg.Passive.PortsFor(PodName(srv, i))
		if err != nil {
			t.Fatal(err)
		}
		if len(svc.Spec.Ports) != 4 {
			t.Fatalf("pod %d: %d ports, want 4", i, len(svc.Spec.Ports))
		}
		for _, p := range svc.Spec.Ports {
			if !engine.Contains(p.Port) || p.TargetPort.IntVal != p.Port || p.Name != PassivePortName(p.Port) {
				t.Fatalf("pod %d: Service port %+v is not in the engine's slice %s", i, p, engine)
			}
			covered++
		}
		if svc.Name != "invoices-pasv-"+string(rune('0'+i)) || svc.Spec.Selector[PodNameLabel] != "invoices-"+string(rune('0'+i)) ||
			svc.Spec.Selector[InstanceLabel] != "invoices" {
			t.Fatalf("pod %d: Service %s selects %v", i, svc.Name, svc.Spec.Selector)
		}
		if svc.Annotations[MetalLBIPs] != "198.51.100.7" || svc.Annotations[MetalLBSharedIP] != ctl.Annotations[MetalLBSharedIP] || svc.Annotations[GrantAnnotation] != "" {
			t.Fatalf("pod %d: annotations %v", i, svc.Annotations)
		}
	}
	if covered != int(haGrant.Size()) {
		t.Fatalf("the pods' Services carry %d ports of %d", covered, haGrant.Size())
	}
	// Before the control Service has an address the pods' Services ask for none; an address the user pins wins.
	if svc, _ := PodService(srv, haGrant, 0, "", Options{}); svc.Annotations[MetalLBIPs] != "" {
		t.Fatalf("asks for %q before an address is known", svc.Annotations[MetalLBIPs])
	}
	pinned := haServer(3, func(s *ftpv1.FTPServer) { s.Spec.Service.Annotations = map[string]string{MetalLBIPs: "198.51.100.9"} })
	if svc, _ := PodService(pinned, haGrant, 1, "198.51.100.7", Options{}); svc.Annotations[MetalLBIPs] != "198.51.100.9" {
		t.Fatalf("the user's address gave way to %q", svc.Annotations[MetalLBIPs])
	}
	// NodePort: the slices keep their numbers as node ports.
	np := haServer(3, func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeNodePort })
	if svc, _ := PodService(np, haGrant, 2, "", Options{}); svc.Spec.Ports[0].NodePort != 31008 || svc.Annotations[MetalLBSharedIP] != "" {
		t.Fatalf("NodePort pod Service %+v %v", svc.Spec.Ports[0], svc.Annotations)
	}
	if _, err := PodService(srv, haGrant, 3, "", Options{}); err == nil {
		t.Fatal("a Service for ordinal 3 of 3 replicas")
	}
}

// TestOneReplicaKeepsItsObjects: replicas 1 renders the Service and Deployment as before (no grant annotation, no
// sharing key, passive ports on the Service, Local traffic policy).
func TestOneReplicaKeepsItsObjects(t *testing.T) {
	srv := server(func(s *ftpv1.FTPServer) { s.Spec.Replicas = ptr.To[int32](1) })
	svc := Service(srv, grant, Options{})
	if len(svc.Spec.Ports) != 1+int(grant.Size()) || svc.Annotations[GrantAnnotation] != "" || svc.Annotations[MetalLBSharedIP] != "" ||
		svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal || svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		t.Fatalf("one replica's Service changed: %d ports, %v, %s", len(svc.Spec.Ports), svc.Annotations, svc.Spec.ExternalTrafficPolicy)
	}
	unset := server(nil)
	if !equality.Semantic.DeepEqual(Deployment(srv, grant, Options{}), Deployment(unset, grant, Options{})) {
		t.Fatal("replicas: 1 renders another Deployment than no replicas")
	}
}

// TestStatefulSetTakesThePodTemplate: spec.podTemplate places the StatefulSet's pods as it places the Deployment's
// (one renderer), and an affinity set there replaces the default anti-affinity; the pod name label and POD_NAME
// stay the operator's.
func TestStatefulSetTakesThePodTemplate(t *testing.T) {
	srv := haServer(2, func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](4)}
		s.Spec.PodTemplate = &ftpv1.PodTemplate{NodeSelector: map[string]string{"zone": "a"},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}}
	})
	pod := StatefulSet(srv, ftpv1.PortRange{Start: 31000, End: 31003}, Options{}).Spec.Template.Spec
	if pod.NodeSelector["zone"] != "a" || pod.Affinity == nil || pod.Affinity.NodeAffinity == nil || pod.Affinity.PodAntiAffinity != nil {
		t.Fatalf("node selector %v, affinity %+v: want spec.podTemplate's", pod.NodeSelector, pod.Affinity)
	}
	if pod.Containers[0].Env[0].Name != engineconfig.PodNameEnv {
		t.Fatal("POD_NAME lost")
	}
}
