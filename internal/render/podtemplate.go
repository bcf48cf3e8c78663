package render

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// ApplyPodTemplate places and labels pt, the pod template of any workload of srv (Deployment or StatefulSet), as
// spec.podTemplate asks. It never touches what the operator owns: the containers, volumes, service account and
// user, and the labels that select the pods (the API refuses them; here they win in any case). Call it after the
// operator's own labels, annotations and security context are set.
func ApplyPodTemplate(pt *corev1.PodTemplateSpec, srv *ftpv1.FTPServer) {
	t := srv.Spec.PodTemplate
	if t == nil {
		return
	}
	pt.Labels = mergeOwnFirst(pt.Labels, t.Metadata.Labels)
	pt.Annotations = mergeOwnFirst(pt.Annotations, t.Metadata.Annotations)
	spec := &pt.Spec
	if len(t.NodeSelector) > 0 {
		spec.NodeSelector = maps.Clone(t.NodeSelector)
	}
	spec.Tolerations = slices.Clone(t.Tolerations)
	if t.Affinity != nil {
		spec.Affinity = t.Affinity.DeepCopy()
	}
	for _, c := range t.TopologySpreadConstraints {
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, *c.DeepCopy())
	}
	spec.PriorityClassName = t.PriorityClassName
	for _, s := range t.ImagePullSecrets {
		spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s.Name})
	}
	if sc := t.SecurityContext; sc != nil {
		if spec.SecurityContext == nil {
			spec.SecurityContext = &corev1.PodSecurityContext{}
		}
		if sc.FSGroup != nil {
			spec.SecurityContext.FSGroup = new(int64)
			*spec.SecurityContext.FSGroup = *sc.FSGroup
		}
		spec.SecurityContext.SupplementalGroups = slices.Clone(sc.SupplementalGroups)
	}
}

// mergeOwnFirst adds the user's keys to own without overriding any of own's.
func mergeOwnFirst(own, user map[string]string) map[string]string {
	if len(user) == 0 {
		return own
	}
	out := maps.Clone(user)
	maps.Copy(out, own)
	return out
}
