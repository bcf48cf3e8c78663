// Package render builds the typed child objects of an FTPServer. It does no I/O and needs no API server: the
// controller decides what to apply, render decides what it looks like.
package render

import (
	"fmt"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// Ports inside the pod. The Service maps the well-known ports onto these, so the engine needs no privileged port.
const (
	ContainerControlPort  = 2121
	ContainerImplicitPort = 9990
	ContainerHealthPort   = 8080
	ServiceControlPort    = 21
	ServiceImplicitPort   = 990

	dataDir    = "/data"
	configDir  = "/etc/ftpd"
	secretsDir = "/var/run/ftpd/secrets"
	tlsDir     = "/etc/ftpd/tls"
	usersFile  = "users.yaml"
)

// Options are the operator-wide settings that shape every FTPServer's objects.
type Options struct {
	// Image runs the ftpd subcommand; it is the operator's own image.
	Image           string
	ImagePullPolicy corev1.PullPolicy
}

// ManagedByLabel and ManagedBy mark every child the operator creates; the operator caches only objects that
// carry them.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "ftp-operator"
)

// Labels select the pods of srv. Every child carries them.
func Labels(srv *ftpv1.FTPServer) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "ftp-server",
		"app.kubernetes.io/instance": srv.Name,
		ManagedByLabel:               ManagedBy,
	}
}

// Name helpers: one place for the names of the children.
func ServiceName(srv *ftpv1.FTPServer) string    { return srv.Name }
func DeploymentName(srv *ftpv1.FTPServer) string { return srv.Name }
func ConfigMapName(srv *ftpv1.FTPServer) string  { return srv.Name + "-ftpd" }
func EngineSAName(srv *ftpv1.FTPServer) string   { return srv.Name + "-ftpd" }
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

// PassivePortName names the Service and container port of a passive port (at most 15 characters).
func PassivePortName(p int32) string { return fmt.Sprintf("pasv-%d", p) }

// Service exposes the control port and every passive port of grant on one address. Passive ports keep the same
// number from the client to the engine (port = targetPort = containerPort, and nodePort too for NodePort), which
// is what lets the engine advertise the port it listens on.
func Service(srv *ftpv1.FTPServer, grant ftpv1.PortRange) *corev1.Service {
	spec := srv.Spec.Service
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(srv, ServiceName(srv)),
		Spec: corev1.ServiceSpec{
			Type:                     ServiceType(srv),
			Selector:                 Labels(srv),
			LoadBalancerClass:        spec.LoadBalancerClass,
			LoadBalancerSourceRanges: spec.LoadBalancerSourceRanges,
			ExternalTrafficPolicy:    spec.ExternalTrafficPolicy,
			// The data connection of a session must reach the pod that holds its control connection.
			SessionAffinity: corev1.ServiceAffinityClientIP,
		},
	}
	if len(spec.Annotations) > 0 {
		svc.Annotations = spec.Annotations
	}
	if svc.Spec.Type == corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = ""
		svc.Spec.LoadBalancerSourceRanges = nil
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Spec.LoadBalancerClass = nil
		svc.Spec.LoadBalancerSourceRanges = nil
	}
	svc.Spec.Ports = append(svc.Spec.Ports, servicePort("ftp", ServiceControlPort, ContainerControlPort))
	if implicitTLS(srv) {
		svc.Spec.Ports = append(svc.Spec.Ports, servicePort("ftps", ServiceImplicitPort, ContainerImplicitPort))
	}
	for p := grant.Start; p <= grant.End; p++ {
		sp := servicePort(PassivePortName(p), p, p)
		if svc.Spec.Type == corev1.ServiceTypeNodePort {
			sp.NodePort = p
		}
		svc.Spec.Ports = append(svc.Spec.Ports, sp)
	}
	return svc
}

func servicePort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(target)}
}

// ServiceType is the Service type of srv: spec.service.type, LoadBalancer by default.
func ServiceType(srv *ftpv1.FTPServer) corev1.ServiceType {
	if t := srv.Spec.Service.Type; t != "" {
		return t
	}
	return corev1.ServiceTypeLoadBalancer
}

func implicitTLS(srv *ftpv1.FTPServer) bool {
	return srv.Spec.TLS != nil && srv.Spec.TLS.Mode == ftpv1.TLSImplicit
}

// UsersFile is the engine's users file: names, homes and access from the spec, and for each password the path
// of a file the kubelet projects from the user's Secret. No password ever lands in the ConfigMap.
func UsersFile(srv *ftpv1.FTPServer) ([]byte, error) {
	type entry struct {
		Name         string `json:"name"`
		PasswordFile string `json:"passwordFile"`
		Home         string `json:"home"`
		Access       string `json:"access"`
	}
	var doc struct {
		Users []entry `json:"users"`
	}
	for _, u := range srv.Spec.Users {
		access := u.Access
		if access == "" {
			access = ftpv1.AccessReadWrite
		}
		doc.Users = append(doc.Users, entry{
			Name:         u.Name,
			PasswordFile: path.Join(secretsDir, u.Name, "password"),
			Home:         HomeDirectory(u),
			Access:       string(access),
		})
	}
	return yaml.Marshal(doc)
}

// HomeDirectory is the user's root inside the storage volume.
func HomeDirectory(u ftpv1.User) string {
	if u.HomeDirectory != "" {
		return path.Clean(u.HomeDirectory)
	}
	return "/" + u.Name
}

// ConfigMap holds the users file.
func ConfigMap(srv *ftpv1.FTPServer) (*corev1.ConfigMap, error) {
	users, err := UsersFile(srv)
	if err != nil {
		return nil, fmt.Errorf("rendering users file: %w", err)
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(srv, ConfigMapName(srv)),
		Data:       map[string]string{usersFile: string(users)},
	}, nil
}

// ServiceAccount is the identity of the engine's pod.
func ServiceAccount(srv *ftpv1.FTPServer) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: meta(srv, EngineSAName(srv)),
	}
}

// Role lets the engine read its own FTPServer, and nothing else, so that it follows status.address live.
func Role(srv *ftpv1.FTPServer) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta(srv, EngineSAName(srv)),
		Rules: []rbacv1.PolicyRule{{
			APIGroups:     []string{ftpv1.GroupVersion.Group},
			Resources:     []string{"ftpservers"},
			ResourceNames: []string{srv.Name},
			Verbs:         []string{"get", "list", "watch"},
		}},
	}
}

// RoleBinding binds Role to ServiceAccount.
func RoleBinding(srv *ftpv1.FTPServer) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta(srv, EngineSAName(srv)),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: EngineSAName(srv)},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Name: EngineSAName(srv), Namespace: srv.Namespace,
		}},
	}
}

// PersistentVolumeClaim is the claim of spec.storage.volumeClaimTemplate, or nil.
func PersistentVolumeClaim(srv *ftpv1.FTPServer) *corev1.PersistentVolumeClaim {
	t := srv.Spec.Storage.VolumeClaimTemplate
	if t == nil {
		return nil
	}
	modes := t.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: meta(srv, ClaimName(srv)),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      modes,
			StorageClassName: t.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: t.Size}},
		},
	}
}

// EngineArgs are the ftpd arguments for srv with passive ports grant. They carry no address: the engine follows
// status.address of its FTPServer live, so an address change never changes the pod template.
func EngineArgs(srv *ftpv1.FTPServer, grant ftpv1.PortRange) []string {
	args := []string{
		"ftpd",
		fmt.Sprintf("--listen=:%d", ContainerControlPort),
		"--root=" + dataDir,
		"--users=" + path.Join(configDir, usersFile),
		"--passive-ports=" + grant.String(),
		fmt.Sprintf("--health-listen=:%d", ContainerHealthPort),
		"--kubernetes-ftpserver=" + srv.Namespace + "/" + srv.Name,
		"--active-mode=" + string(activeMode(srv)),
	}
	if pp := srv.Spec.ProxyProtocol; pp != nil {
		args = append(args, "--proxy-protocol", "--proxy-protocol-trusted="+strings.Join(pp.TrustedCIDRs, ","))
	}
	if tls := srv.Spec.TLS; tls != nil {
		mode := tls.Mode
		if mode == "" {
			mode = ftpv1.TLSExplicit
		}
		args = append(args,
			"--tls-cert="+path.Join(tlsDir, corev1.TLSCertKey),
			"--tls-key="+path.Join(tlsDir, corev1.TLSPrivateKeyKey),
			"--tls-mode="+string(mode))
		if mode == ftpv1.TLSImplicit {
			args = append(args, fmt.Sprintf("--implicit-listen=:%d", ContainerImplicitPort))
		}
	}
	return args
}

func activeMode(srv *ftpv1.FTPServer) ftpv1.ActiveMode {
	if srv.Spec.ActiveMode == "" {
		return ftpv1.ActiveModeDisabled
	}
	return srv.Spec.ActiveMode
}

// Deployment runs one engine pod (Recreate: two pods must never hold the same passive ports and volume).
func Deployment(srv *ftpv1.FTPServer, grant ftpv1.PortRange, opts Options) *appsv1.Deployment {
	ports := []corev1.ContainerPort{
		{Name: "ftp", ContainerPort: ContainerControlPort, Protocol: corev1.ProtocolTCP},
		{Name: "health", ContainerPort: ContainerHealthPort, Protocol: corev1.ProtocolTCP},
	}
	if implicitTLS(srv) {
		ports = append(ports, corev1.ContainerPort{Name: "ftps", ContainerPort: ContainerImplicitPort, Protocol: corev1.ProtocolTCP})
	}
	for p := grant.Start; p <= grant.End; p++ {
		ports = append(ports, corev1.ContainerPort{Name: PassivePortName(p), ContainerPort: p, Protocol: corev1.ProtocolTCP})
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("health")}},
			PeriodSeconds: period,
		}
	}
	volumes, mounts := volumes(srv)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(srv, DeploymentName(srv)),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: Labels(srv)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(srv)},
				Spec: corev1.PodSpec{
					ServiceAccountName: EngineSAName(srv),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](65532),
						RunAsGroup:     ptr.To[int64](65532),
						FSGroup:        ptr.To[int64](65532),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					TerminationGracePeriodSeconds: ptr.To[int64](60),
					Containers: []corev1.Container{{
						Name:            "ftpd",
						Image:           opts.Image,
						ImagePullPolicy: opts.ImagePullPolicy,
						Args:            EngineArgs(srv, grant),
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
								Add:  []corev1.Capability{"NET_BIND_SERVICE"},
							},
						},
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// volumes mounts the storage, the users file, every user's password (one projected volume, updated in place by
// the kubelet when a Secret changes) and the TLS Secret.
func volumes(srv *ftpv1.FTPServer) ([]corev1.Volume, []corev1.VolumeMount) {
	data := corev1.Volume{Name: "data"}
	switch st := srv.Spec.Storage; {
	case ClaimName(srv) != "":
		data.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(srv)}
	case st.EmptyDir != nil:
		data.EmptyDir = st.EmptyDir
	default:
		data.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	var sources []corev1.VolumeProjection
	for _, u := range srv.Spec.Users {
		key := u.PasswordSecretRef.Key
		if key == "" {
			key = "password"
		}
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: u.PasswordSecretRef.Name},
			Items:                []corev1.KeyToPath{{Key: key, Path: u.Name + "/password"}},
		}})
	}
	vols := []corev1.Volume{
		data,
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(srv)},
		}}},
		{Name: "passwords", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: sources, DefaultMode: ptr.To[int32](0o440),
		}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "data", MountPath: dataDir},
		{Name: "config", MountPath: configDir, ReadOnly: true},
		{Name: "passwords", MountPath: secretsDir, ReadOnly: true},
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
