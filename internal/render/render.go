// Package render builds the typed child objects of an FTPServer. It does no I/O and needs no API server: the
// controller decides what to apply, render decides what it looks like.
package render

import (
	"fmt"
	"net/netip"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/portrange"
)

// Ports inside the pod. The Service maps the well-known ports onto these, so the engine needs no privileged port.
const (
	ContainerControlPort  = 2121
	ContainerImplicitPort = 9990
	ContainerHealthPort   = 8080
	ServiceControlPort    = 21
	ServiceImplicitPort   = 990

	dataDir = "/data"
	tlsDir  = "/etc/ftpd/tls"
	// UsersDir is where the pod mounts the users Secret; UsersFileName is the users file's key in it.
	UsersDir      = "/etc/ftpd/users"
	UsersFileName = "users.yaml"
)

// ClaimLabel marks a claim made from a volumeClaimTemplate with the name of its FTPServer. A retained claim has no
// owner reference; this label is how a later FTPServer of the same name recognises it as its own.
const ClaimLabel = "ftpoperator.io/claim-of"

// Options are the operator-wide settings that shape every FTPServer's objects.
type Options struct {
	// Image runs the ftpd subcommand; it is the operator's own image.
	Image           string
	ImagePullPolicy corev1.PullPolicy
	// AllowedServiceAnnotations are the keys of spec.service.annotations that reach the Service; nil is
	// DefaultAllowedServiceAnnotations.
	AllowedServiceAnnotations *AnnotationPolicy
}

// ManagedByLabel and ManagedBy mark every child the operator creates; the operator caches only objects that
// carry them.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "ftp-operator"
)

// NameLabel and InstanceLabel, with ManagedByLabel, select the pods of a server: NameLabel is AppName on every
// server's pods, InstanceLabel the name of the FTPServer.
const (
	NameLabel     = "app.kubernetes.io/name"
	AppName       = "ftp-server"
	InstanceLabel = "app.kubernetes.io/instance"
)

// Labels select the pods of srv. Every child carries them.
func Labels(srv *ftpv1.FTPServer) map[string]string {
	return map[string]string{
		NameLabel:      AppName,
		InstanceLabel:  srv.Name,
		ManagedByLabel: ManagedBy,
	}
}

// PortRange is the API's port range below the API edge: the one conversion from ftpv1.PortRange to the type the
// allocator and the engine share. APIPortRange is its inverse (the allocator's ranges carry no advertised start).
func PortRange(r ftpv1.PortRange) portrange.Range { return portrange.Range{Start: r.Start, End: r.End} }

// APIPortRange is r in the API, for status and the rendered objects.
func APIPortRange(r portrange.Range) ftpv1.PortRange {
	return ftpv1.PortRange{Start: r.Start, End: r.End}
}

// Name helpers: one place for the names of the children.
func ServiceName(srv *ftpv1.FTPServer) string     { return srv.Name }
func DeploymentName(srv *ftpv1.FTPServer) string  { return srv.Name }
func UsersSecretName(srv *ftpv1.FTPServer) string { return srv.Name + "-ftpd-users" }
func ConfigMapName(srv *ftpv1.FTPServer) string   { return engineconfig.ConfigMapName(srv.Name) }
func HealthConfigMapName(srv *ftpv1.FTPServer) string {
	return engineconfig.HealthConfigMapName(srv.Name)
}
func ClaimName(srv *ftpv1.FTPServer) string {
	if pvc := srv.Spec.Storage.PersistentVolumeClaim; pvc != nil {
		return pvc.ClaimName
	}
	if srv.Spec.Storage.VolumeClaimTemplate != nil {
		return srv.Name + "-data"
	}
	return ""
}

func meta(srv *ftpv1.FTPServer, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: srv.Namespace, Labels: Labels(srv)}
}

// PassivePortName names the Service port of a passive port (at most 15 characters).
func PassivePortName(p int32) string { return fmt.Sprintf("pasv-%d", p) }

// Service exposes the control port and every passive port of grant on one address. Passive ports keep the same
// number from the client to the engine (port = targetPort = containerPort, and nodePort too for NodePort), which
// is what lets the engine advertise the port it listens on. Only the annotations that o allows are copied.
func Service(srv *ftpv1.FTPServer, grant ftpv1.PortRange, o Options) *corev1.Service {
	spec := srv.Spec.Service
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(srv, ServiceName(srv)),
		Spec: corev1.ServiceSpec{
			Type:                     srv.Spec.Service.TypeOrDefault(),
			Selector:                 Labels(srv),
			LoadBalancerClass:        spec.LoadBalancerClass,
			LoadBalancerSourceRanges: spec.LoadBalancerSourceRanges,
			ExternalTrafficPolicy:    srv.Spec.ExternalTrafficPolicyFor(),
			// The data connection of a session must reach the pod that holds its control connection.
			SessionAffinity: corev1.ServiceAffinityClientIP,
		},
	}
	svc.Annotations, _ = ServiceAnnotations(srv, o)
	if svc.Spec.Type == corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = ""
		svc.Spec.LoadBalancerSourceRanges = nil
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Spec.LoadBalancerClass = nil
		svc.Spec.LoadBalancerSourceRanges = nil
	} else {
		// Node ports come from one cluster-wide range that every Service shares; most load balancers don't need them.
		svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(spec.LoadBalancerNodePorts())
	}
	svc.Spec.Ports = append(svc.Spec.Ports, servicePort("ftp", ServiceControlPort, ContainerControlPort))
	if implicitTLS(srv) {
		svc.Spec.Ports = append(svc.Spec.Ports, servicePort("ftps", ServiceImplicitPort, ContainerImplicitPort))
	}
	if srv.Spec.Relayed() {
		relayService(svc, grant)
		return svc
	}
	if srv.Spec.HighlyAvailable() {
		shareAddress(svc, srv, grant, "") // the passive ports go on the Services of the pods (PodService)
		return svc
	}
	svc.Spec.Ports = append(svc.Spec.Ports, passivePorts(svc.Spec.Type, grant)...)
	return svc
}

// passivePorts are the Service ports of r: port = targetPort, and nodePort too for a NodePort Service.
func passivePorts(typ corev1.ServiceType, r ftpv1.PortRange) []corev1.ServicePort {
	var out []corev1.ServicePort
	for p := r.Start; p <= r.End; p++ {
		sp := servicePort(PassivePortName(p), p, p)
		if typ == corev1.ServiceTypeNodePort {
			sp.NodePort = p
		}
		out = append(out, sp)
	}
	return out
}

func servicePort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(target)}
}

func implicitTLS(srv *ftpv1.FTPServer) bool {
	return srv.Spec.TLS != nil && srv.Spec.TLS.ModeOrDefault() == ftpv1.TLSImplicit
}

// UsersFile is the engine's users file: names, homes and access from the spec, and for each password the path
// of a file in the same Secret volume (see UsersSecret). passwords holds each user's password Secret value by user
// name; a user whose Secret or key is missing is left out (the WorkloadReady condition names what is missing), so
// the other users keep working. With spec.usersFrom it also names the user list of those users (UserListFileName).
func UsersFile(srv *ftpv1.FTPServer, passwords map[string][]byte) ([]byte, error) {
	var doc ftpd.UsersFile
	for _, u := range srv.Spec.Users {
		if _, ok := passwords[u.Name]; !ok {
			continue
		}
		doc.Users = append(doc.Users, ftpd.UserEntry{
			Name:         u.Name,
			PasswordFile: path.Join(UsersDir, passwordKey(u.Name)),
			Home:         HomeDirectory(u),
			Access:       ftpd.Access(u.AccessOrDefault()),
		})
	}
	if p := userListPath(srv); p != "" {
		doc.UserLists = []string{p}
	}
	return doc.Marshal()
}

// passwordKey is the Secret key (and file name) of a user's password. User names may hold '@', Secret keys may
// not; '_' is not allowed in user names, so the mapping stays one-to-one.
func passwordKey(user string) string { return strings.ReplaceAll(user, "@", "_") + ".password" }

// HomeDirectory is the user's root inside the storage volume.
func HomeDirectory(u ftpv1.User) string {
	if u.HomeDirectory != "" {
		return path.Clean(u.HomeDirectory)
	}
	return "/" + u.Name
}

// AddressKey is the key of the engine's ConfigMap that holds the address passive replies advertise. Only the
// operator writes it; the engine follows it live (engineconfig, the contract, defines it).
const AddressKey = engineconfig.AddressKey

// AddressConfigMap is the engine's ConfigMap: it carries the address passive replies advertise. The operator
// writes it; the engine may only read it (Role), so nobody who can merely write an FTPServer's status can make the
// engine advertise another address.
func AddressConfigMap(srv *ftpv1.FTPServer, address string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(srv, ConfigMapName(srv)),
		Data:       map[string]string{AddressKey: address},
	}
}

// UsersSecret holds the users file, a copy of every user's password, and the users of spec.usersFrom (from, merged
// by UsersFromList into one user list), in the one Secret volume the pod mounts. The pod template names only this
// Secret, so adding, removing or changing a user, or pointing a user at another Secret, changes no pod template
// and restarts no pod: the kubelet updates the volume in place and the engine re-reads the users file, its user
// list and the password files at the next login.
func UsersSecret(srv *ftpv1.FTPServer, passwords map[string][]byte, from []UserSource) (*corev1.Secret, error) {
	users, err := UsersFile(srv, passwords)
	if err != nil {
		return nil, fmt.Errorf("rendering users file: %w", err)
	}
	data := map[string][]byte{UsersFileName: users}
	for name, pw := range passwords {
		data[passwordKey(name)] = pw
	}
	if userListPath(srv) != "" {
		merged, _ := UsersFromList(srv, from)
		if data[UserListFileName], err = ftpd.MarshalUserList(merged); err != nil {
			return nil, fmt.Errorf("rendering the users of usersFrom: %w", err)
		}
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta(srv, UsersSecretName(srv)),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}, nil
}

// PersistentVolumeClaim is the claim of spec.storage.volumeClaimTemplate, or nil.
func PersistentVolumeClaim(srv *ftpv1.FTPServer) *corev1.PersistentVolumeClaim {
	t := srv.Spec.Storage.VolumeClaimTemplate
	if t == nil {
		return nil
	}
	om := meta(srv, ClaimName(srv))
	om.Labels[ClaimLabel] = srv.Name
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: om,
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      t.AccessModesOrDefault(),
			StorageClassName: t.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: t.Size}},
		},
	}
}

// EngineConfig is the engine's configuration for srv with passive ports grant: the one value that crosses from
// the operator to the engine. It carries no address: the engine follows the address key of its ConfigMap live, so
// an address change never changes the pod template.
func EngineConfig(srv *ftpv1.FTPServer, grant ftpv1.PortRange) engineconfig.Config {
	c := engineconfig.Default()
	c.Listen = fmt.Sprintf(":%d", ContainerControlPort)
	c.HealthListen = fmt.Sprintf(":%d", ContainerHealthPort)
	c.Root = dataDir
	c.Users = path.Join(UsersDir, UsersFileName)
	c.Passive.Ports = PortRange(grant)
	if n := srv.Spec.ReplicasOrDefault(); n > 1 {
		// Every pod serves the slice of its ordinal: the slice of ordinal 0, shifted (engineconfig.Passive.PortsFor).
		c.Passive.Ports = c.Passive.Ports.First(c.Passive.Ports.Size() / n)
		c.Passive.SliceByOrdinal = true
		if srv.Spec.Relayed() {
			c.Relay = engineconfig.Relay{Replicas: int(n), PeerDomain: HeadlessServiceName(srv)}
		}
	}
	c.Address.Follow = engineconfig.FollowTarget{Namespace: srv.Namespace, Name: srv.Name}
	c.ActiveMode = srv.Spec.ActiveModeOrDefault() == ftpv1.ActiveModeEnabled
	tuning(srv, &c)
	if pp := srv.Spec.ProxyProtocol; pp != nil {
		c.ProxyProtocol.Enabled = true
		for _, cidr := range pp.TrustedCIDRs {
			// The API admits only CIDRs (CEL isCIDR parses them with netip.ParsePrefix too), so none is left out.
			if p, err := netip.ParsePrefix(cidr); err == nil {
				c.ProxyProtocol.Trusted = append(c.ProxyProtocol.Trusted, p.Masked())
			}
		}
	}
	if tls := srv.Spec.TLS; tls != nil {
		c.TLS = engineconfig.TLS{
			Cert:                path.Join(tlsDir, corev1.TLSCertKey),
			Key:                 path.Join(tlsDir, corev1.TLSPrivateKeyKey),
			Mode:                ftpd.TLSMode(tls.ModeOrDefault()),
			RequireSessionReuse: tls.RequireSessionReuseOrDefault() == ftpv1.TLSSessionReuseEnabled,
		}
		if c.TLS.Mode == ftpd.TLSImplicit {
			c.ImplicitListen = fmt.Sprintf(":%d", ContainerImplicitPort)
		}
	}
	if s3, ok := s3Engine(srv); ok {
		c.Root, c.S3 = "", s3
	}
	return c
}

// EngineCommand is what the engine container runs: in the operator's image, ftp-operator built with -tags
// ftpdonly, the same command with only its ftpd subcommand. It leaves out the operator's packages
// (controller-runtime, client-go), whose initialisation alone made up most of the engine's resident memory: 12 MiB
// instead of 29 MiB before the first session (docs/benchmarks.md, issue 10).
const EngineCommand = "/ftp-operator-ftpd"

// EngineArgs are the container arguments for srv with passive ports grant: the ftpd subcommand and
// EngineConfig's arguments.
func EngineArgs(srv *ftpv1.FTPServer, grant ftpv1.PortRange) []string {
	return append([]string{"ftpd"}, EngineConfig(srv, grant).Args()...)
}

// Deployment runs one engine pod (Recreate: two pods must never hold the same passive ports and volume). A server
// with several replicas runs a StatefulSet instead (StatefulSet); both take their pod from PodTemplate.
func Deployment(srv *ftpv1.FTPServer, grant ftpv1.PortRange, opts Options) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(srv, DeploymentName(srv)),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: Labels(srv)},
			Template: PodTemplate(srv, grant, opts),
		},
	}
}

// PodTemplate is the engine's pod, for the Deployment of one replica and the StatefulSet of several. With several,
// every pod gets the slice of ordinal 0 and the flag to shift it by its own ordinal (from POD_NAME), so the
// template is the same for every pod.
//
// Passive ports are not listed as container ports: a container port is only informational (the pod listens on
// the port whether it is listed or not) and the Service targets each passive port by number. Listing the 16 ports
// of a default grant made the stored Deployment half as large again (7.7 KB against 5.0 KB with its managed
// fields), and every byte of it is decoded, stored and sent to each watcher on every write (issue 14).
func PodTemplate(srv *ftpv1.FTPServer, grant ftpv1.PortRange, opts Options) corev1.PodTemplateSpec {
	ha := srv.Spec.HighlyAvailable()
	ports := []corev1.ContainerPort{
		{Name: "ftp", ContainerPort: ContainerControlPort, Protocol: corev1.ProtocolTCP},
		{Name: "health", ContainerPort: ContainerHealthPort, Protocol: corev1.ProtocolTCP},
	}
	if implicitTLS(srv) {
		ports = append(ports, corev1.ContainerPort{Name: "ftps", ContainerPort: ContainerImplicitPort, Protocol: corev1.ProtocolTCP})
	}
	var env []corev1.EnvVar
	var affinity *corev1.Affinity
	if ha {
		env = []corev1.EnvVar{{Name: engineconfig.PodNameEnv, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}}
		affinity = spreadAcrossNodes(srv)
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("health")}},
			PeriodSeconds: period,
		}
	}
	volumes, mounts := volumes(srv)
	pt := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: Labels(srv)},
		Spec: corev1.PodSpec{
			ServiceAccountName: EngineSAName(srv),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				RunAsGroup:     ptr.To[int64](65532),
				FSGroup:        ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				Sysctls:        unprivilegedPorts(grant),
			},
			TerminationGracePeriodSeconds: ptr.To(TerminationGracePeriodSeconds(srv)),
			Affinity:                      affinity,
			Containers: []corev1.Container{{
				Name:            "ftpd",
				Image:           opts.Image,
				ImagePullPolicy: opts.ImagePullPolicy,
				Command:         []string{EngineCommand},
				Args:            EngineArgs(srv, grant),
				Env:             env,
				Ports:           ports,
				Resources:       srv.Spec.Resources,
				VolumeMounts:    mounts,
				ReadinessProbe:  probe("/readyz", 5),
				LivenessProbe:   probe("/healthz", 10),
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities: &corev1.Capabilities{
						Drop: []corev1.Capability{"ALL"},
					},
				},
			}},
			Volumes: volumes,
		},
	}
	// spec.podTemplate places the pods of both workloads; an affinity set there replaces the anti-affinity above.
	ApplyPodTemplate(&pt, srv)
	return pt
}

// unprivilegedPorts lets the engine, which runs as non-root with no capabilities, bind passive ports below 1024
// when the operator's pool holds such ports (the namespaced, safe sysctl net.ipv4.ip_unprivileged_port_start).
// Every other port of the pod is above 1024, so usually no sysctl is set.
func unprivilegedPorts(grant ftpv1.PortRange) []corev1.Sysctl {
	if grant.Start == 0 || grant.Start >= 1024 {
		return nil
	}
	return []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: fmt.Sprint(grant.Start)}}
}

// volumes mounts the storage, the operator's users Secret (users file and passwords, updated in place by the
// kubelet) and the TLS Secret.
func volumes(srv *ftpv1.FTPServer) ([]corev1.Volume, []corev1.VolumeMount) {
	data := corev1.Volume{Name: "data"}
	if claim := ClaimName(srv); claim != "" {
		data.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}
	} else {
		data.EmptyDir = srv.Spec.Storage.EmptyDirOrDefault()
	}
	vols := []corev1.Volume{
		data,
		{Name: "users", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: UsersSecretName(srv), DefaultMode: ptr.To[int32](0o440),
		}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "data", MountPath: dataDir},
		{Name: "users", MountPath: UsersDir, ReadOnly: true},
	}
	if s3Vols, s3Mounts := s3Volumes(srv); s3Vols != nil { // files in a bucket: no data volume
		vols, mounts = append(vols[1:], s3Vols...), append(mounts[1:], s3Mounts...)
	}
	if tls := srv.Spec.TLS; tls != nil {
		vols = append(vols, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: tls.SecretRef.Name, DefaultMode: ptr.To[int32](0o440),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "tls", MountPath: tlsDir, ReadOnly: true})
	}
	return vols, mounts
}

// Endpoint is the URL clients use for the control connection.
func Endpoint(srv *ftpv1.FTPServer, address string, port int32) string {
	scheme := "ftp"
	if implicitTLS(srv) {
		scheme = "ftps"
	}
	host := address
	if strings.Contains(host, ":") { // IPv6
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, host, port)
}
