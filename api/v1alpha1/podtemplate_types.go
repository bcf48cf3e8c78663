package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// PodTemplate places and labels the server's pods. It holds only what the operator does not need to own: the
// engine container (image, command, arguments, ports, probes, volumes), the pod's identity and user, and the
// labels that select the pods are the operator's and cannot be expressed here.
type PodTemplate struct {
	// metadata adds labels and annotations to the server's pods.
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`

	// nodeSelector restricts the pods to nodes with these labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations let the pods run on nodes with matching taints.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity holds node affinity and pod (anti-)affinity rules. The server's own pods carry the labels
	// app.kubernetes.io/name=ftp-server and app.kubernetes.io/instance=<FTPServer name>, to select them in a rule.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// topologySpreadConstraints spread the pods over zones or nodes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// priorityClassName is the PriorityClass of the pods.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// securityContext sets the groups of the pods' processes; the user (65532, non-root) stays the operator's.
	// +optional
	SecurityContext *PodSecurityContext `json:"securityContext,omitempty"`

	// imagePullSecrets name the Secrets that pull the engine's image (the operator's own image) from a private
	// registry.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	ImagePullSecrets []LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// PodTemplateMetadata is what a user may add to the pods' metadata.
type PodTemplateMetadata struct {
	// labels are added to the pods. The operator's own labels app.kubernetes.io/name, app.kubernetes.io/instance
	// and app.kubernetes.io/managed-by select the server's pods (Service, Deployment, the operator's cache) and
	// may not be set.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="!('app.kubernetes.io/name' in self)",message="podTemplate.metadata.labels must not set app.kubernetes.io/name: the operator selects the server's pods by that label"
	// +kubebuilder:validation:XValidation:rule="!('app.kubernetes.io/instance' in self)",message="podTemplate.metadata.labels must not set app.kubernetes.io/instance: the operator selects the server's pods by that label"
	// +kubebuilder:validation:XValidation:rule="!('app.kubernetes.io/managed-by' in self)",message="podTemplate.metadata.labels must not set app.kubernetes.io/managed-by: the operator selects the server's pods by that label"
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to the pods.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PodSecurityContext is the part of the pods' security context a user may set.
type PodSecurityContext struct {
	// fsGroup owns the volumes' files and is added to the processes' groups. Defaults to 65532, the engine's
	// group; set the group that a pre-existing volume's files belong to.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	FSGroup *int64 `json:"fsGroup,omitempty"`

	// supplementalGroups are added to the processes' groups, for example to read a share that belongs to a group.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Minimum=0
	// +kubebuilder:validation:items:Maximum=2147483647
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
}
