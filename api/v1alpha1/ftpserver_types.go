package v1alpha1

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// FTPServerSpec is the desired state of an FTP server: who may log in, where files live, how the server is
// exposed and how many passive data ports it gets.
// +kubebuilder:validation:XValidation:rule="(has(self.users) && size(self.users) > 0) || (has(self.usersFrom) && size(self.usersFrom) > 0)",message="spec needs users or usersFrom: a server nobody can log in to serves nothing"
// +kubebuilder:validation:XValidation:rule="!has(self.passivePorts) || !has(self.passivePorts.multiplexing) || self.passivePorts.multiplexing != 'Enabled' || has(self.proxyProtocol) || (has(self.service) && has(self.service.type) && self.service.type == 'ClusterIP') || (has(self.service) && has(self.service.externalTrafficPolicy) ? self.service.externalTrafficPolicy == 'Local' : !(has(self.service) && has(self.service.type) && self.service.type == 'NodePort'))",message="passivePorts.multiplexing Enabled needs the real client addresses: set proxyProtocol, or service.externalTrafficPolicy Local (the default for a LoadBalancer); with Cluster, clients share the node's address and one could receive another's data"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || (has(self.passivePorts.range) ? self.passivePorts.range.end - self.passivePorts.range.start + 1 : (has(self.passivePorts.count) ? self.passivePorts.count : 16)) >= self.replicas",message="spec.passivePorts must hold at least one port per replica: each pod owns an equal slice of the passive range; raise passivePorts.count (or widen passivePorts.range) or lower replicas"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || (has(self.passivePorts.range) ? self.passivePorts.range.end - self.passivePorts.range.start + 1 : (has(self.passivePorts.count) ? self.passivePorts.count : 16)) % self.replicas == 0",message="spec.passivePorts must split evenly across spec.replicas: each pod owns an equal, contiguous slice, so the number of passive ports (count, or the size of range; 16 by default) must be a multiple of replicas, such as count 16 with replicas 2, 4, 8 or 16"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || (has(self.storage) && (has(self.storage.persistentVolumeClaim) || has(self.storage.s3) || (has(self.storage.volumeClaimTemplate) && has(self.storage.volumeClaimTemplate.accessModes) && 'ReadWriteMany' in self.storage.volumeClaimTemplate.accessModes)))",message="more than one replica needs shared storage, because every pod serves the same files: use a ReadWriteMany claim (storage.volumeClaimTemplate with accessModes [ReadWriteMany], or storage.persistentVolumeClaim naming one) or object storage; emptyDir and ReadWriteOnce claims hold files for one pod only"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || !has(self.passivePorts.multiplexing) || self.passivePorts.multiplexing != 'Enabled' || has(self.proxyProtocol) || (has(self.service.externalTrafficPolicy) ? self.service.externalTrafficPolicy == 'Local' : (has(self.service.routing) && self.service.routing == 'Relay'))",message="passivePorts.multiplexing Enabled with more than one replica needs the real client addresses: set proxyProtocol or externalTrafficPolicy Local (with several replicas and SharedAddress routing externalTrafficPolicy defaults to Cluster, where clients share the node's address)"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || !has(self.service.type) || self.service.type != 'ClusterIP'",message="more than one replica needs spec.service.type LoadBalancer or NodePort: the pods' passive ports must reach clients outside the cluster on one address"
type FTPServerSpec struct {
	// replicas is the number of FTP server pods, 1 to 16 (default 1). With more than one, the pods run in a
	// StatefulSet, each owns an equal contiguous slice of the passive ports, and the storage must be shared; see
	// docs/high-availability.md.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	Replicas *int32 `json:"replicas,omitempty"`

	// users who may log in. Passwords come only from Secrets. For more than a few users, use usersFrom.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Users []User `json:"users,omitempty"`

	// usersFrom names Secrets that hold many users each, one per line (name:bcrypt-hash[:home[:access]], see
	// UsersFrom), beside users. A name defined twice is served from its first source (users first, then
	// usersFrom in order), and condition UsersAccepted names it. A changed password reaches the pod without a
	// restart (docs/security.md says how long it takes).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.exists_one(b, b.secretRef.name == a.secretRef.name && b.key == a.key))",message="usersFrom names the same Secret key twice"
	UsersFrom []UsersFrom `json:"usersFrom,omitempty"`

	// podTemplate places and labels the server's pods: node selector, tolerations, affinity, topology spread,
	// priority, groups and image pull Secrets. The engine container is the operator's and cannot be changed.
	// +optional
	PodTemplate *PodTemplate `json:"podTemplate,omitempty"`

	// storage is where the files live: a volume, or an S3-compatible bucket (s3). At most one source may be set;
	// without one the server uses an emptyDir of at most 1Gi, which loses every file when the pod goes away (the
	// StoragePersistent condition warns of it).
	// +optional
	Storage Storage `json:"storage,omitempty"`

	// service controls the Service that exposes the control port and every passive port on one address. Defaults to
	// a LoadBalancer.
	// +optional
	// +kubebuilder:default={type: LoadBalancer}
	Service ServiceSpec `json:"service,omitempty"`

	// passivePorts is either a count of ports allocated from the operator's pool, or a pinned range. Defaults to a
	// count of 16.
	// +optional
	// +kubebuilder:default={count: 16}
	PassivePorts PassivePorts `json:"passivePorts,omitempty"`

	// publicAddress overrides the address that passive replies advertise (an IP or a DNS name). By default the
	// address comes from the Service: its load-balancer ingress, its node's address for NodePort, or its
	// cluster IP for ClusterIP.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="isIP(self) || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="publicAddress must be an IP address or a DNS name"
	PublicAddress string `json:"publicAddress,omitempty"`

	// tls enables FTPS (RFC 4217) with the certificate of a kubernetes.io/tls Secret.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// proxyProtocol makes the server read a PROXY protocol v1/v2 header on control and data connections from the
	// load balancers in trustedCIDRs, so that client-IP checks, lockouts and logs see the real client. Enable
	// the same on the load balancer (for AWS NLB: the service.beta.kubernetes.io/aws-load-balancer-proxy-protocol
	// annotation in service.annotations).
	// +optional
	ProxyProtocol *ProxyProtocol `json:"proxyProtocol,omitempty"`

	// activeMode allows PORT/EPRT, where the server dials the client. Clients behind NAT cannot use it. Defaults to
	// Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	ActiveMode ActiveMode `json:"activeMode,omitempty"`

	// resources of the FTP server container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// limits bounds sessions, timeouts and bandwidth.
	// +optional
	// +kubebuilder:default={}
	Limits Limits `json:"limits,omitempty"`

	// addressOverrides advertise other addresses in passive replies to clients in given CIDRs, for example the
	// Service's cluster IP to clients inside the cluster and the load balancer's address (status.address) to the
	// rest. The most specific CIDR that holds the client wins.
	// +optional
	// +listType=map
	// +listMapKey=cidr
	// +kubebuilder:validation:MaxItems=32
	AddressOverrides []AddressOverride `json:"addressOverrides,omitempty"`

	// transferLog, when set, writes one line per transfer to the pod's standard output.
	// +optional
	TransferLog *TransferLog `json:"transferLog,omitempty"`

	// lockout bounds password guessing.
	// +optional
	// +kubebuilder:default={}
	Lockout Lockout `json:"lockout,omitempty"`

	// shutdownGracePeriod is how long a pod that is stopped (an update, a drain) lets running transfers finish:
	// the pod's terminationGracePeriodSeconds. The engine stops taking new sessions at once and closes the rest
	// 5s before the period ends (half the period when it is under 10s), so that its last replies and transfer log
	// lines are out before the kubelet kills it. Longer periods make updates slower: the next pod starts only when
	// this one is gone. A Go duration from 1s to 1h; defaults to 60s.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="shutdownGracePeriod must be a duration from 1s to 1h, such as 60s"
	ShutdownGracePeriod *metav1.Duration `json:"shutdownGracePeriod,omitempty"`
}

// User is an account of the FTP server.
type User struct {
	// name is the login name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._@-]*$`
	Name string `json:"name"`

	// passwordSecretRef names the Secret key that holds the password, in plain text or as a bcrypt hash.
	// +required
	PasswordSecretRef SecretKeySelector `json:"passwordSecretRef"`

	// homeDirectory is the user's root, inside the storage volume. Defaults to /<name>.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="homeDirectory must be an absolute path inside the storage root, such as /acme"
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '..')",message="homeDirectory must not contain '..'"
	HomeDirectory string `json:"homeDirectory,omitempty"`

	// access is what the user may do: ReadWrite, ReadOnly, or WriteOnly (a drop box: upload, no listing or
	// download). Defaults to ReadWrite.
	// +optional
	// +kubebuilder:default=ReadWrite
	Access Access `json:"access,omitempty"`
}

// AccessOrDefault is access, ReadWrite when unset.
func (u User) AccessOrDefault() Access {
	return orDefault(u.Access, AccessReadWrite)
}

// SecretKeySelector selects a key of a Secret in the FTPServer's namespace.
type SecretKeySelector struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data. Defaults to password.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=password
	Key string `json:"key,omitempty"`
}

// DefaultPasswordKey is the Secret key of a user's password when passwordSecretRef names none.
const DefaultPasswordKey = "password"

// KeyOrDefault is key, DefaultPasswordKey when unset.
func (s SecretKeySelector) KeyOrDefault() string {
	return orDefault(s.Key, DefaultPasswordKey)
}

// Access is what a user may do with files.
// +kubebuilder:validation:Enum=ReadWrite;ReadOnly;WriteOnly
type Access string

// Access modes.
const (
	AccessReadWrite Access = "ReadWrite"
	AccessReadOnly  Access = "ReadOnly"
	AccessWriteOnly Access = "WriteOnly"
)

// Storage is where the files live. At most one source may be set.
// +kubebuilder:validation:XValidation:rule="[has(self.persistentVolumeClaim), has(self.volumeClaimTemplate), has(self.emptyDir), has(self.s3)].filter(x, x).size() <= 1",message="storage takes only one of persistentVolumeClaim, volumeClaimTemplate, emptyDir and s3"
type Storage struct {
	// persistentVolumeClaim mounts an existing claim.
	// +optional
	PersistentVolumeClaim *PersistentVolumeClaimRef `json:"persistentVolumeClaim,omitempty"`

	// volumeClaimTemplate makes the operator create a claim named <server>-data. By default the claim outlives
	// the FTPServer (retention: Retain) and is mounted again by a server of the same name.
	// +optional
	VolumeClaimTemplate *VolumeClaimTemplate `json:"volumeClaimTemplate,omitempty"`

	// emptyDir keeps files only as long as the pod lives. Chosen when no source is set. sizeLimit defaults to
	// 1Gi; a pod that writes more is evicted, and its files are lost.
	// +optional
	EmptyDir *corev1.EmptyDirVolumeSource `json:"emptyDir,omitempty"`

	// s3 keeps the files in an S3-compatible bucket instead of a volume (see S3Storage).
	// +optional
	S3 *S3Storage `json:"s3,omitempty"`
}

// PersistentVolumeClaimRef names an existing PersistentVolumeClaim in the FTPServer's namespace.
type PersistentVolumeClaimRef struct {
	// claimName is the name of the claim.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`
}

// VolumeClaimTemplate describes the claim the operator creates.
type VolumeClaimTemplate struct {
	// storageClassName of the claim; the cluster default when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`

	// size of the claim, such as 10Gi.
	// +required
	Size resource.Quantity `json:"size"`

	// accessModes of the claim. Defaults to ReadWriteOnce.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4
	AccessModes []corev1.PersistentVolumeAccessMode `json:"accessModes,omitempty"`

	// retention says what happens to the claim, and so to the files, when the FTPServer is deleted. Retain (the
	// default) keeps it: the claim carries no owner reference, so neither deleting the FTPServer, nor a GitOps
	// prune or re-create, nor deleting the CRD removes it; it is labelled ftpoperator.io/claim-of=<server>, and
	// an FTPServer of the same name in the namespace mounts it again. Delete gives the claim an owner reference,
	// so Kubernetes deletes it, with every file, together with the FTPServer. Delete retained claims you no
	// longer need by hand.
	// +optional
	// +kubebuilder:default=Retain
	Retention ClaimRetention `json:"retention,omitempty"`
}

// ClaimRetention is what happens to a claim when its FTPServer is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type ClaimRetention string

// Claim retention policies.
const (
	ClaimRetain ClaimRetention = "Retain"
	ClaimDelete ClaimRetention = "Delete"
)

// AccessModesOrDefault is accessModes, ReadWriteOnce when unset.
func (t VolumeClaimTemplate) AccessModesOrDefault() []corev1.PersistentVolumeAccessMode {
	if len(t.AccessModes) == 0 {
		return []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return t.AccessModes
}

// RetentionOrDefault is retention, Retain when unset.
func (t VolumeClaimTemplate) RetentionOrDefault() ClaimRetention {
	return orDefault(t.Retention, ClaimRetain)
}

// DefaultEmptyDirSizeLimit caps the emptyDir that holds the files when storage sets no sizeLimit.
var DefaultEmptyDirSizeLimit = resource.MustParse("1Gi")

// EmptyDirOrDefault is the emptyDir the server uses when storage names no claim: spec.storage.emptyDir with its
// sizeLimit defaulted, or an emptyDir of DefaultEmptyDirSizeLimit. It is nil when a claim or a bucket holds the files.
func (s Storage) EmptyDirOrDefault() *corev1.EmptyDirVolumeSource {
	if s.PersistentVolumeClaim != nil || s.VolumeClaimTemplate != nil || s.S3 != nil {
		return nil
	}
	ed := &corev1.EmptyDirVolumeSource{}
	if s.EmptyDir != nil {
		ed = s.EmptyDir.DeepCopy()
	}
	if ed.SizeLimit == nil {
		ed.SizeLimit = ptr.To(DefaultEmptyDirSizeLimit.DeepCopy())
	}
	return ed
}

// ServiceSpec shapes the Service of an FTPServer.
type ServiceSpec struct {
	// type of the Service: LoadBalancer (the default), NodePort or ClusterIP.
	// +optional
	// +kubebuilder:default=LoadBalancer
	// +kubebuilder:validation:Enum=LoadBalancer;NodePort;ClusterIP
	Type corev1.ServiceType `json:"type,omitempty"`

	// annotations are copied onto the Service (cloud load-balancer settings), those keys only that the operator's
	// --allowed-service-annotations list allows; condition ServiceAnnotationsAllowed names the others.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`

	// loadBalancerClass selects the load-balancer implementation.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`

	// loadBalancerSourceRanges restricts which client CIDRs the load balancer admits.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(r, isCIDR(r))",message="loadBalancerSourceRanges must hold CIDRs such as 203.0.113.0/24"
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`

	// externalTrafficPolicy of the Service: Cluster or Local. For a LoadBalancer it defaults to Local, which
	// keeps the client's source IP, so the engine's check that a data connection comes from the address of its
	// control connection tells clients apart; only nodes that run the pod then receive traffic (the load
	// balancer's health check marks the others unhealthy, as intended). Cluster spreads traffic over every node
	// but source-NATs it, so clients entering through one node share an address. Other types default to
	// Cluster.
	// +optional
	// +kubebuilder:validation:Enum=Cluster;Local
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// allocateLoadBalancerNodePorts makes a LoadBalancer Service also take a node port for every Service port, from
	// the cluster's NodePort range (by default 30000-32767, shared by every Service in the cluster). Defaults to
	// false: MetalLB, kube-vip, Cilium and other load balancers that route to the pods or through kube-proxy on
	// the Service port need no node ports. Set it to true for load balancers that send traffic to node ports,
	// such as AWS Classic and Network Load Balancers with instance targets (the in-tree cloud provider), or an
	// AKS/GKE setup that does not route to pod IPs. Only used with type LoadBalancer. A Service that already
	// holds node ports keeps them until it is recreated (Kubernetes does not release them).
	// +optional
	AllocateLoadBalancerNodePorts *bool `json:"allocateLoadBalancerNodePorts,omitempty"`

	// routing is how passive ports reach their pod when replicas > 1: SharedAddress (the default) gives each pod a
	// Service of its own slice on the control Service's address; Relay puts every port on one Service and relays
	// a data connection that reaches the wrong pod to the pod that owns its port (docs/high-availability.md).
	// With one replica it has no effect.
	// +optional
	// +kubebuilder:default=SharedAddress
	Routing ServiceRouting `json:"routing,omitempty"`
}

// LoadBalancerNodePorts is allocateLoadBalancerNodePorts with its default (false) applied.
func (s ServiceSpec) LoadBalancerNodePorts() bool {
	return s.AllocateLoadBalancerNodePorts != nil && *s.AllocateLoadBalancerNodePorts
}

// TypeOrDefault is type, LoadBalancer when unset.
func (s ServiceSpec) TypeOrDefault() corev1.ServiceType {
	if s.Type == "" {
		return corev1.ServiceTypeLoadBalancer
	}
	return s.Type
}

// ExternalTrafficPolicyOrDefault is externalTrafficPolicy; unset, Local for a LoadBalancer and Cluster otherwise.
func (s ServiceSpec) ExternalTrafficPolicyOrDefault() corev1.ServiceExternalTrafficPolicy {
	switch {
	case s.ExternalTrafficPolicy != "":
		return s.ExternalTrafficPolicy
	case s.Type == "" || s.Type == corev1.ServiceTypeLoadBalancer:
		return corev1.ServiceExternalTrafficPolicyLocal
	}
	return corev1.ServiceExternalTrafficPolicyCluster
}

// DefaultPassivePortCount is the number of passive ports a server gets from the pool when spec.passivePorts names
// neither a count nor a range.
const DefaultPassivePortCount int32 = 16

// SizeOrDefault is the number of passive ports asked for: count, the size of range, or DefaultPassivePortCount.
func (p PassivePorts) SizeOrDefault() int32 {
	switch {
	case p.Count != nil:
		return *p.Count
	case p.Range != nil:
		return p.Range.Size()
	}
	return DefaultPassivePortCount
}

// PassivePorts asks for a number of passive ports from the operator's pool, or pins a range. With neither, the
// server gets 16 ports from the pool (DefaultPassivePortCount).
// +kubebuilder:validation:XValidation:rule="!(has(self.count) && has(self.range))",message="passivePorts takes either count or range, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.range) || !(self.range.start <= 21 && 21 <= self.range.end) && !(self.range.start <= 990 && 990 <= self.range.end)",message="passivePorts.range must not hold port 21 or 990: the Service uses them for the control connection"
type PassivePorts struct {
	// count of contiguous ports allocated from the operator's pool, 1 to 1000.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Count *int32 `json:"count,omitempty"`

	// range pins the ports; they must be inside the operator's pool and free.
	// +optional
	Range *PortRange `json:"range,omitempty"`

	// multiplexing lets clients from different addresses use the same passive port at once (a data connection
	// goes to the session of its client's address), so a few ports serve many clients. It needs the real client
	// addresses: proxyProtocol, or service.externalTrafficPolicy Local (the default for a LoadBalancer), or a
	// ClusterIP Service. Two sessions from one address still need a port each. Defaults to Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Multiplexing PassiveMultiplexing `json:"multiplexing,omitempty"`
}

// PortRange is an inclusive range of TCP ports.
// +kubebuilder:validation:XValidation:rule="self.start <= self.end",message="range start must not be greater than range end"
// +kubebuilder:validation:XValidation:rule="self.end - self.start < 1000",message="a range holds at most 1000 ports"
type PortRange struct {
	// start is the first port.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Start int32 `json:"start"`

	// end is the last port, inclusive.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	End int32 `json:"end"`
}

// Size is the number of ports in the range.
func (r PortRange) Size() int32 { return r.End - r.Start + 1 }

// Contains reports whether port p is in the range.
func (r PortRange) Contains(p int32) bool { return p >= r.Start && p <= r.End }

// String formats the range as start-end.
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End) }

// ProxyProtocol names the load balancers that send PROXY protocol headers.
type ProxyProtocol struct {
	// trustedCIDRs are the addresses of the load balancers. Only they must and may send a header; other peers are
	// served under their own address, so a header cannot spoof a client address.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(r, isCIDR(r))",message="trustedCIDRs must hold CIDRs such as 10.0.0.0/8"
	TrustedCIDRs []string `json:"trustedCIDRs"`
}

// TLSSpec enables FTPS.
type TLSSpec struct {
	// secretRef names a kubernetes.io/tls Secret (tls.crt, tls.key), for example one that cert-manager issues.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// mode is Required (the default: AUTH TLS before login, plain-text logins refused), Explicit (AUTH TLS
	// offered, plain-text logins still allowed) or Implicit (TLS from the first byte, on port 990).
	// +optional
	// +kubebuilder:default=Required
	Mode TLSMode `json:"mode,omitempty"`

	// requireSessionReuse says whether a data connection with PROT P must resume the TLS session of its own
	// control connection, as vsftpd's require_ssl_reuse does. Enabled (the default): whoever reaches a passive
	// port first from the client's address gets no data and supplies none, because only the client holding the
	// control connection's TLS session can resume it. Disabled serves clients that cannot resume (Python's
	// ftplib.FTP_TLS without a subclass, curl forced to TLS 1.2), at the price of that protection. An enum rather
	// than a bool so that a narrower policy can be added later without a new field.
	// +optional
	// +kubebuilder:default=Enabled
	RequireSessionReuse TLSSessionReuse `json:"requireSessionReuse,omitempty"`
}

// RequireSessionReuseOrDefault is requireSessionReuse with its default (Enabled) applied; for objects that did
// not pass through the API server's defaulting.
func (t *TLSSpec) RequireSessionReuseOrDefault() TLSSessionReuse {
	return orDefault(t.RequireSessionReuse, TLSSessionReuseEnabled)
}

// ModeOrDefault is mode, Required when unset.
func (t TLSSpec) ModeOrDefault() TLSMode {
	return orDefault(t.Mode, TLSRequired)
}

// LocalObjectReference names an object in the FTPServer's namespace.
type LocalObjectReference struct {
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TLSMode is how FTPS is offered.
// +kubebuilder:validation:Enum=Explicit;Required;Implicit
type TLSMode string

// TLS modes.
const (
	TLSExplicit TLSMode = "Explicit"
	TLSRequired TLSMode = "Required"
	TLSImplicit TLSMode = "Implicit"
)

// TLSSessionReuse says whether PROT P data connections must resume their control connection's TLS session.
// +kubebuilder:validation:Enum=Enabled;Disabled
type TLSSessionReuse string

// TLS session reuse policies.
const (
	TLSSessionReuseEnabled  TLSSessionReuse = "Enabled"
	TLSSessionReuseDisabled TLSSessionReuse = "Disabled"
)

// ActiveMode says whether the server dials clients (PORT/EPRT).
// +kubebuilder:validation:Enum=Disabled;Enabled
type ActiveMode string

// Active modes.
const (
	ActiveModeDisabled ActiveMode = "Disabled"
	ActiveModeEnabled  ActiveMode = "Enabled"
)

// ActiveModeOrDefault is activeMode, Disabled when unset.
func (s FTPServerSpec) ActiveModeOrDefault() ActiveMode {
	return orDefault(s.ActiveMode, ActiveModeDisabled)
}

// FTPServerStatus is the observed state of an FTPServer.
type FTPServerStatus struct {
	// observedGeneration is the generation of the spec that the last successful reconcile acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// passivePorts is the range granted to this server. The grant is kept here so that it survives operator
	// restarts.
	// +optional
	PassivePorts *PortRange `json:"passivePorts,omitempty"`

	// passivePortRange is passivePorts as text, for kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	PassivePortRange string `json:"passivePortRange,omitempty"`

	// address is what passive replies advertise: an IP or a DNS name clients can reach.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Address string `json:"address,omitempty"`

	// endpoint is the URL of the control connection, such as ftp://203.0.113.10:21.
	// +optional
	// +kubebuilder:validation:MaxLength=300
	Endpoint string `json:"endpoint,omitempty"`

	// conditions: Ready summarises PortsAllocated, ServiceReady, AddressAssigned and WorkloadReady; Stalled is
	// True while only a person can unblock the server. LoadBalancerCompatible, StoragePersistent and UsersAccepted
	// are warnings that do not affect Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// replicas is the number of FTP server pods that exist; readyReplicas those that are ready.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// readyReplicas is the number of FTP server pods ready to serve. With several replicas a pod counts only once
	// the control Service and the pod's own passive Service both list it as a ready endpoint.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
}

// Condition types.
const (
	ConditionReady          = "Ready"
	ConditionPortsAllocated = "PortsAllocated"
	ConditionServiceReady   = "ServiceReady"
	ConditionAddress        = "AddressAssigned"
	ConditionWorkloadReady  = "WorkloadReady"
	// ConditionStalled is True while the server cannot progress until a person acts (pool exhausted, ports or
	// object names taken, a Secret missing). GitOps tools that follow kstatus show it as Failed.
	ConditionStalled = "Stalled"
	// ConditionPortsInPool is False while the server keeps a grant that lies outside the operator's passive-port
	// pool (the pool was changed after the grant). The server keeps working; it does not affect Ready. Annotate
	// the server with AnnotationReallocatePorts to move it into the pool.
	ConditionPortsInPool = "PortsInPool"
	// ConditionLoadBalancerCompatible is False when the Service asks more of a load balancer than some clouds
	// give (AWS NLB: 50 listeners). It does not affect Ready, and is set only for a LoadBalancer Service.
	ConditionLoadBalancerCompatible = "LoadBalancerCompatible"
	// ConditionStoragePersistent is False when the files live in an emptyDir and are lost whenever the pod is
	// replaced (a node drain, an eviction, an image change). It does not affect Ready.
	ConditionStoragePersistent = "StoragePersistent"
	// ConditionServiceAnnotationsAllowed is False when spec.service.annotations holds keys that the operator's
	// --allowed-service-annotations list refuses; those are not set on the Service, the rest of it is applied. It is
	// set only while spec.service.annotations holds keys.
	ConditionServiceAnnotationsAllowed = "ServiceAnnotationsAllowed"
)

// Condition reasons.
const (
	ReasonAllocated         = "Allocated"
	ReasonPoolExhausted     = "PoolExhausted"
	ReasonRangeUnavailable  = "RangeUnavailable"
	ReasonPortConflict      = "NodePortConflict"
	ReasonNotOwned          = "NotOwned"
	ReasonApplied           = "Applied"
	ReasonApplyFailed       = "ApplyFailed"
	ReasonAddressAssigned   = "AddressAssigned"
	ReasonWaitingForAddress = "WaitingForAddress"
	ReasonWaitingForPorts   = "WaitingForPorts"
	ReasonAvailable         = "Available"
	ReasonProgressing       = "Progressing"
	ReasonSecretMissing     = "SecretMissing"
	ReasonReady             = "Ready"
	ReasonWithinLimits      = "WithinKnownLimits"
	ReasonAboveCloudCap     = "AboveCloudListenerCap"
	ReasonEmptyDir          = "EmptyDir"
	ReasonPersistent        = "PersistentVolumeClaim"
	// ReasonAnnotationsAllowed: every key of spec.service.annotations is on the operator's allow-list.
	ReasonAnnotationsAllowed = "AnnotationsAllowed"
	// ReasonAnnotationsRefused: some keys of spec.service.annotations are not on the operator's allow-list and are
	// left off the Service; the message names them.
	ReasonAnnotationsRefused = "AnnotationsRefused"
	// ReasonOutsidePool: the grant lies (partly) outside the operator's pool and is kept until the user asks to move it.
	ReasonOutsidePool = "OutsidePool"
	// ReasonNodePortsExhausted: the cluster's NodePort range is full, so the Service cannot be created or changed.
	ReasonNodePortsExhausted = "NodePortsExhausted"
	// ReasonNamespaceLimit: the namespace already holds as many passive ports as --max-ports-per-namespace allows.
	ReasonNamespaceLimit = "NamespacePortLimit"
	// ReasonServiceRefused: the API server refused to create the Service (for example a ResourceQuota), so the
	// grant was given back to the pool.
	ReasonServiceRefused = "ServiceRefused"
	// ReasonGrantCollision: the range recorded for this server collided with an older server's grant on replay,
	// so the server was given a new range.
	ReasonGrantCollision = "GrantCollision"
	// ReasonCountExceedsPool: spec.passivePorts.count is larger than the operator's whole passive-port pool, so no
	// released port can ever make it fit. The server is Stalled until count is lowered or the pool enlarged.
	ReasonCountExceedsPool = "CountExceedsPool"
)

// WorkloadReady reasons taken from the server's pod: the kubelet's or the scheduler's own reason, with its message.
// The container reasons stall the server at once (ErrImagePull only when the registry says the image does not
// exist or refuses access); Unschedulable and ClaimPending stall it once the pod has been unschedulable for
// PodStallAfter in the controllers package. See docs/troubleshooting.md.
const (
	// ReasonErrImagePull: the kubelet failed to pull the image.
	ReasonErrImagePull = "ErrImagePull"
	// ReasonImagePullBackOff: the kubelet failed to pull the image and backs off before trying again.
	ReasonImagePullBackOff = "ImagePullBackOff"
	// ReasonInvalidImageName: the image reference cannot be parsed.
	ReasonInvalidImageName = "InvalidImageName"
	// ReasonCrashLoopBackOff: the engine container exits again and again; its last exit is in the message.
	ReasonCrashLoopBackOff = "CrashLoopBackOff"
	// ReasonCreateContainerConfigError: the container cannot be created from its configuration (a missing
	// ConfigMap or Secret key, a bad security context).
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	// ReasonUnschedulable: the scheduler finds no node for the pod (resources, taints, affinity).
	ReasonUnschedulable = "Unschedulable"
	// ReasonClaimPending: the pod cannot be scheduled because its PersistentVolumeClaim is not bound.
	ReasonClaimPending = "ClaimPending"
)

// AnnotationReallocatePorts, set to "true" on an FTPServer whose grant lies outside the operator's pool, asks the
// operator to move the server to a new range inside the pool. The pod is replaced (the Deployment's Recreate
// strategy stops the old pod, which drains its sessions, before the new one starts). It has no effect on a grant
// inside the pool, and a pinned range moves only by changing spec.passivePorts.range.
const AnnotationReallocatePorts = "ftpoperator.io/reallocate-ports"

// FTPServer runs an FTP server whose passive mode works behind NAT and load balancers: the operator allocates its
// passive ports without overlap, exposes them with the control port on one Service, and makes the server advertise
// the address clients reach.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ftpsrv,categories=ftp
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Passive Ports",type=string,JSONPath=`.status.passivePortRange`
// +kubebuilder:printcolumn:name="Ready Pods",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type FTPServer struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec FTPServerSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status FTPServerStatus `json:"status,omitempty"`
}

// FTPServerList is a list of FTPServers.
// +kubebuilder:object:root=true
type FTPServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FTPServer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FTPServer{}, &FTPServerList{})
}
