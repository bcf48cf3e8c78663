package render

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// TestPodTemplatePlacesPodsAndKeepsWhatTheOperatorOwns: every field of spec.podTemplate lands on the pod template;
// the container, volumes, identity and selector labels stay the operator's, even when a label that the API
// refuses slips through (an object that did not pass admission).
func TestPodTemplatePlacesPodsAndKeepsWhatTheOperatorOwns(t *testing.T) {
	plain := Deployment(server(nil), grant, Options{Image: "img"}).Spec.Template
	pt := &ftpv1.PodTemplate{
		Metadata: ftpv1.PodTemplateMetadata{
			Labels:      map[string]string{"team": "billing", InstanceLabel: "hijack"},
			Annotations: map[string]string{"example.com/owner": "ops"},
		},
		NodeSelector: map[string]string{"disk": "ssd"},
		Tolerations:  []corev1.Toleration{{Key: "ftp", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}},
		}}},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway}},
		PriorityClassName:         "ftp-critical",
		SecurityContext:           &ftpv1.PodSecurityContext{FSGroup: ptr.To[int64](2000), SupplementalGroups: []int64{3000}},
		ImagePullSecrets:          []ftpv1.LocalObjectReference{{Name: "registry"}},
	}
	got := Deployment(server(func(s *ftpv1.FTPServer) { s.Spec.PodTemplate = pt }), grant, Options{Image: "img"}).Spec.Template

	if got.Labels["team"] != "billing" || got.Labels[InstanceLabel] != "invoices" || got.Labels[NameLabel] != AppName || got.Labels[ManagedByLabel] != ManagedBy {
		t.Errorf("labels %v: want team added, selector labels kept", got.Labels)
	}
	if got.Annotations["example.com/owner"] != "ops" {
		t.Errorf("annotations %v", got.Annotations)
	}
	s := got.Spec
	if !reflect.DeepEqual(s.NodeSelector, pt.NodeSelector) || !equality.Semantic.DeepEqual(s.Tolerations, pt.Tolerations) ||
		!equality.Semantic.DeepEqual(s.Affinity, pt.Affinity) || !equality.Semantic.DeepEqual(s.TopologySpreadConstraints, pt.TopologySpreadConstraints) ||
		s.PriorityClassName != "ftp-critical" || !reflect.DeepEqual(s.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "registry"}}) {
		t.Errorf("placement not applied: %+v", s)
	}
	sc := s.SecurityContext
	if *sc.FSGroup != 2000 || !reflect.DeepEqual(sc.SupplementalGroups, []int64{3000}) {
		t.Errorf("groups not applied: %+v", sc)
	}
	if *sc.RunAsUser != *plain.Spec.SecurityContext.RunAsUser || !*sc.RunAsNonRoot || sc.SeccompProfile == nil {
		t.Errorf("the operator's user and seccomp profile changed: %+v", sc)
	}
	if !equality.Semantic.DeepEqual(s.Containers, plain.Spec.Containers) || !equality.Semantic.DeepEqual(s.Volumes, plain.Spec.Volumes) ||
		s.ServiceAccountName != plain.Spec.ServiceAccountName {
		t.Error("spec.podTemplate changed the engine container, volumes or identity")
	}
	// The user's value is copied: the rendered object shares nothing with the spec.
	got.Spec.NodeSelector["disk"] = "hdd"
	got.Spec.Affinity.NodeAffinity = nil
	if pt.NodeSelector["disk"] != "ssd" || pt.Affinity.NodeAffinity == nil {
		t.Error("the rendered template aliases spec.podTemplate")
	}

	// Without podTemplate, the operator's fsGroup stays.
	if *plain.Spec.SecurityContext.FSGroup != 65532 || plain.Spec.NodeSelector != nil || plain.Labels["team"] != "" {
		t.Errorf("template without podTemplate: %+v", plain)
	}
}
