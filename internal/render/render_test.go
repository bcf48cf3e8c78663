package render

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

func server(mut func(*ftpv1.FTPServer)) *ftpv1.FTPServer {
	srv := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Name: "invoices", Namespace: "billing"},
		Spec: ftpv1.FTPServerSpec{
			Users: []ftpv1.User{
				{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "acme-ftp", Key: "pw"}, HomeDirectory: "/acme/", Access: ftpv1.AccessWriteOnly},
				{Name: "bob", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "bob-ftp"}},
			},
			Service: ftpv1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		},
	}
	if mut != nil {
		mut(srv)
	}
	return srv
}

var grant = ftpv1.PortRange{Start: 30016, End: 30019}

func TestServicePorts(t *testing.T) {
	tests := []struct {
		name         string
		mut          func(*ftpv1.FTPServer)
		wantType     corev1.ServiceType
		wantNodePort bool
		wantImplicit bool
	}{
		{"load balancer", nil, corev1.ServiceTypeLoadBalancer, false, false},
		{"node port: nodePort = port", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeNodePort }, corev1.ServiceTypeNodePort, true, false},
		{"cluster IP", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }, corev1.ServiceTypeClusterIP, false, false},
		{"implicit TLS adds 990", func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, Mode: ftpv1.TLSImplicit}
		}, corev1.ServiceTypeLoadBalancer, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := Service(server(tt.mut), grant, Options{})
			if svc.Spec.Type != tt.wantType {
				t.Fatalf("type %s, want %s", svc.Spec.Type, tt.wantType)
			}
			byName := map[string]corev1.ServicePort{}
			for _, p := range svc.Spec.Ports {
				if _, dup := byName[p.Name]; dup || len(p.Name) > 15 {
					t.Fatalf("bad or duplicate port name %q", p.Name)
				}
				byName[p.Name] = p
			}
			if c := byName["ftp"]; c.Port != 21 || c.TargetPort.IntValue() != ContainerControlPort {
				t.Fatalf("control port %+v", c)
			}
			if _, ok := byName["ftps"]; ok != tt.wantImplicit {
				t.Fatalf("ftps port present = %v, want %v", ok, tt.wantImplicit)
			}
			for p := grant.Start; p <= grant.End; p++ {
				sp, ok := byName[PassivePortName(p)]
				if !ok || sp.Port != p || sp.TargetPort.IntValue() != int(p) {
					t.Fatalf("passive port %d: %+v", p, sp)
				}
				if tt.wantNodePort != (sp.NodePort == p) {
					t.Fatalf("passive port %d nodePort %d (want equal: %v)", p, sp.NodePort, tt.wantNodePort)
				}
			}
			if want := 1 + int(grant.Size()); len(svc.Spec.Ports) != want+btoi(tt.wantImplicit) {
				t.Fatalf("%d ports, want %d", len(svc.Spec.Ports), want+btoi(tt.wantImplicit))
			}
			if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
				t.Fatal("session affinity must be ClientIP")
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestServicePassThrough(t *testing.T) {
	svc := Service(server(func(s *ftpv1.FTPServer) {
		s.Spec.Service.Annotations = map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
		s.Spec.Service.LoadBalancerClass = ptr.To("example.com/lb")
		s.Spec.Service.LoadBalancerSourceRanges = []string{"203.0.113.0/24"}
		s.Spec.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}), grant, Options{})
	if svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-type"] != "nlb" ||
		ptr.Deref(svc.Spec.LoadBalancerClass, "") != "example.com/lb" ||
		len(svc.Spec.LoadBalancerSourceRanges) != 1 ||
		svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Fatalf("settings not passed through: %+v", svc)
	}
	cip := Service(server(func(s *ftpv1.FTPServer) {
		s.Spec.Service.Type = corev1.ServiceTypeClusterIP
		s.Spec.Service.LoadBalancerClass = ptr.To("example.com/lb")
		s.Spec.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}), grant, Options{})
	if cip.Spec.LoadBalancerClass != nil || cip.Spec.ExternalTrafficPolicy != "" {
		t.Fatalf("ClusterIP Service carries load-balancer fields the API server refuses: %+v", cip.Spec)
	}
}

func TestUsersFilePointsIntoTheUsersSecret(t *testing.T) {
	srv := server(func(s *ftpv1.FTPServer) {
		s.Spec.Users = append(s.Spec.Users, ftpv1.User{Name: "carol@example.com", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "missing"}})
	})
	// carol's Secret is missing: she is left out, the others keep working.
	passwords := map[string][]byte{"acme": []byte("a-pw"), "bob": []byte("b-pw")}
	b, err := UsersFile(srv, passwords)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Users []map[string]string `json:"users"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"name": "acme", "passwordFile": "/etc/ftpd/users/acme.password", "home": "/acme", "access": "WriteOnly"},
		{"name": "bob", "passwordFile": "/etc/ftpd/users/bob.password", "home": "/bob", "access": "ReadWrite"},
	}
	if len(doc.Users) != len(want) {
		t.Fatalf("users file:\n%s", b)
	}
	for i := range want {
		for k, v := range want[i] {
			if doc.Users[i][k] != v {
				t.Errorf("user %d %s = %q, want %q", i, k, doc.Users[i][k], v)
			}
		}
		if len(doc.Users[i]) != len(want[i]) {
			t.Errorf("user %d has extra fields (no password may be inline): %v", i, doc.Users[i])
		}
	}

	passwords["carol@example.com"] = []byte("c-pw")
	sec, err := UsersSecret(srv, passwords, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Name != "invoices-ftpd-users" || string(sec.Data["carol_example.com.password"]) != "c-pw" ||
		string(sec.Data["acme.password"]) != "a-pw" || len(sec.Data) != 4 {
		t.Fatalf("users Secret %s: %v", sec.Name, sec.Data)
	}
}

// TestPodTemplateIgnoresUsers: adding a user, pointing a user at another Secret, or changing a password leaves the
// pod template as it was, so no change of users restarts the pod (which would cut every transfer and, with an
// emptyDir, delete every file).
func TestPodTemplateIgnoresUsers(t *testing.T) {
	before := Deployment(server(nil), grant, Options{Image: "img"}).Spec.Template
	after := Deployment(server(func(s *ftpv1.FTPServer) {
		s.Spec.Users = append(s.Spec.Users, ftpv1.User{Name: "carol", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "carol-ftp", Key: "x"}})
		s.Spec.Users[0].PasswordSecretRef.Name = "acme-ftp-rotated"
		s.Spec.Users[1].Access = ftpv1.AccessReadOnly
	}), grant, Options{Image: "img"}).Spec.Template
	if !equality.Semantic.DeepEqual(before, after) {
		t.Fatalf("the pod template changed with the users:\nbefore %+v\nafter  %+v", before.Spec.Volumes, after.Spec.Volumes)
	}
}

func TestDeployment(t *testing.T) {
	srv := server(func(s *ftpv1.FTPServer) {
		s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "invoices-tls"}, Mode: ftpv1.TLSExplicit}
		s.Spec.Storage.VolumeClaimTemplate = &ftpv1.VolumeClaimTemplate{Size: resource.MustParse("1Gi")}
		s.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
	})
	d := Deployment(srv, grant, Options{Image: "localhost/ftp-operator:v1", ImagePullPolicy: corev1.PullIfNotPresent})
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
		t.Fatalf("replicas/strategy: %d %s", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != "localhost/ftp-operator:v1" || !slices.Equal(c.Command, []string{"/ftp-operator-ftpd"}) || c.Args[0] != "ftpd" {
		t.Fatalf("container %s %v %v, want the image's engine-only build running ftpd", c.Image, c.Command, c.Args)
	}
	args := strings.Join(c.Args, " ")
	if want := EngineArgs(srv, grant); !slices.Equal(c.Args, want) {
		t.Fatalf("container args %q, want EngineArgs %q", c.Args, want)
	}
	cfg := EngineConfig(srv, grant)
	if cfg.Passive.Ports != (ftpd.PortRange{Start: 30016, End: 30019}) ||
		cfg.Address.Follow != (engineconfig.FollowTarget{Namespace: "billing", Name: "invoices"}) ||
		cfg.TLS != (engineconfig.TLS{Cert: "/etc/ftpd/tls/tls.crt", Key: "/etc/ftpd/tls/tls.key", Mode: ftpd.TLSExplicit, RequireSessionReuse: true}) {
		t.Errorf("engine config %+v", cfg)
	}
	if cfg.Address.Static != "" || cfg.Address.File != "" || strings.Contains(args, "public-address") {
		t.Error("the address must not be in the pod template: it changes without a restart")
	}
	// The pod lists its control, health (and implicit FTPS) ports only: the passive ports are served whether listed
	// or not, the Service targets them by number, and listing them made the Deployment half as large again (issue 14).
	var names []string
	for _, p := range c.Ports {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"ftp", "health"}) {
		t.Errorf("container ports %v, want [ftp health]", names)
	}
	sc := c.SecurityContext
	if !*pod.SecurityContext.RunAsNonRoot || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Add) != 0 ||
		sc.Capabilities.Drop[0] != "ALL" || len(pod.SecurityContext.Sysctls) != 0 {
		t.Fatalf("security context %+v %+v", pod.SecurityContext, sc)
	}
	if c.Resources.Limits.Memory().String() != "256Mi" {
		t.Fatalf("resources %+v", c.Resources)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	if v := vols["data"]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "invoices-data" {
		t.Fatalf("data volume %+v", v)
	}
	if v := vols["tls"]; v.Secret == nil || v.Secret.SecretName != "invoices-tls" {
		t.Fatalf("tls volume %+v", v)
	}
	if v := vols["users"]; v.Secret == nil || v.Secret.SecretName != "invoices-ftpd-users" || len(pod.Volumes) != 3 {
		t.Fatalf("users volume %+v of %d volumes", v, len(pod.Volumes))
	}
	if !strings.Contains(args, "--users=/etc/ftpd/users/users.yaml") {
		t.Errorf("args %q: users file not in the users Secret volume", args)
	}
	if pod.ServiceAccountName != EngineIdentityName {
		t.Fatalf("service account %q", pod.ServiceAccountName)
	}
}

func TestProxyProtocolConfig(t *testing.T) {
	if plain := EngineConfig(server(nil), grant).ProxyProtocol; plain.Enabled || plain.Trusted != nil {
		t.Fatalf("PROXY protocol on without being asked: %+v", plain)
	}
	pp := EngineConfig(server(func(s *ftpv1.FTPServer) {
		s.Spec.ProxyProtocol = &ftpv1.ProxyProtocol{TrustedCIDRs: []string{"10.0.0.0/8", "192.168.1.7/24"}}
	}), grant).ProxyProtocol
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24")}
	if !pp.Enabled || !slices.Equal(pp.Trusted, want) {
		t.Fatalf("PROXY protocol %+v", pp)
	}
}

// TestTLSSessionReuseConfig: the requirement is on by default and off only when the spec says Disabled.
func TestTLSSessionReuseConfig(t *testing.T) {
	for reuse, want := range map[ftpv1.TLSSessionReuse]bool{
		"":                            true,
		ftpv1.TLSSessionReuseEnabled:  true,
		ftpv1.TLSSessionReuseDisabled: false,
	} {
		cfg := EngineConfig(server(func(s *ftpv1.FTPServer) {
			s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, RequireSessionReuse: reuse}
		}), grant)
		if cfg.TLS.RequireSessionReuse != want {
			t.Errorf("%q: RequireSessionReuse %v, want %v", reuse, cfg.TLS.RequireSessionReuse, want)
		}
	}
	if plain := EngineConfig(server(func(s *ftpv1.FTPServer) { s.Spec.TLS = nil }), grant); plain.TLS.Cert != "" {
		t.Errorf("TLS without spec.tls: %+v", plain.TLS)
	}
}

func TestDefaultStorageIsEmptyDirWithSizeLimit(t *testing.T) {
	d := Deployment(server(nil), grant, Options{})
	ed := d.Spec.Template.Spec.Volumes[0].EmptyDir
	if ed == nil || ed.SizeLimit == nil || ed.SizeLimit.String() != "1Gi" {
		t.Fatalf("data volume %+v", d.Spec.Template.Spec.Volumes[0])
	}
	if PersistentVolumeClaim(server(nil)) != nil {
		t.Fatal("no claim without a template")
	}
	// An emptyDir without sizeLimit gets the default; a set one is kept.
	for _, tt := range []struct {
		in   *corev1.EmptyDirVolumeSource
		want string
	}{
		{&corev1.EmptyDirVolumeSource{}, "1Gi"},
		{&corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}, "1Gi"},
		{&corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("20Gi"))}, "20Gi"},
	} {
		orig := tt.in.DeepCopy()
		d := Deployment(server(func(s *ftpv1.FTPServer) { s.Spec.Storage.EmptyDir = tt.in }), grant, Options{})
		ed := d.Spec.Template.Spec.Volumes[0].EmptyDir
		if ed == nil || ed.SizeLimit.String() != tt.want || ed.Medium != tt.in.Medium {
			t.Errorf("emptyDir %+v rendered as %+v, want sizeLimit %s", tt.in, ed, tt.want)
		}
		if !equality.Semantic.DeepEqual(orig, tt.in) {
			t.Errorf("rendering modified the spec: %+v", tt.in)
		}
	}
}

func TestClaimIsLabelledAsOurs(t *testing.T) {
	pvc := PersistentVolumeClaim(server(func(s *ftpv1.FTPServer) {
		s.Spec.Storage.VolumeClaimTemplate = &ftpv1.VolumeClaimTemplate{Size: resource.MustParse("5Gi")}
	}))
	if pvc.Name != "invoices-data" || pvc.Labels[ClaimLabel] != "invoices" || len(pvc.OwnerReferences) != 0 {
		t.Fatalf("claim %+v", pvc.ObjectMeta)
	}
}

// TestPassivePortsBelow1024 the engine runs as non-root with no capability; a pool below 1024 is opened by the
// unprivileged-port sysctl, not by NET_BIND_SERVICE (which a non-root process does not get anyway).
func TestPassivePortsBelow1024(t *testing.T) {
	pod := Deployment(server(nil), ftpv1.PortRange{Start: 900, End: 903}, Options{}).Spec.Template.Spec
	if s := pod.SecurityContext.Sysctls; len(s) != 1 || s[0].Name != "net.ipv4.ip_unprivileged_port_start" || s[0].Value != "900" {
		t.Fatalf("sysctls %+v", s)
	}
	if pod.Containers[0].SecurityContext.Capabilities.Add != nil {
		t.Fatal("capabilities added")
	}
}

func TestTLSDefaultsToRequired(t *testing.T) {
	cfg := EngineConfig(server(func(s *ftpv1.FTPServer) {
		s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}}
	}), grant)
	if cfg.TLS.Mode != ftpd.TLSRequired {
		t.Fatalf("tls without a mode: %+v", cfg.TLS)
	}
}

func TestExternalTrafficPolicyDefaults(t *testing.T) {
	for _, tt := range []struct {
		typ  corev1.ServiceType
		set  corev1.ServiceExternalTrafficPolicy
		want corev1.ServiceExternalTrafficPolicy
	}{
		{"", "", corev1.ServiceExternalTrafficPolicyLocal},
		{corev1.ServiceTypeLoadBalancer, "", corev1.ServiceExternalTrafficPolicyLocal},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyCluster},
		{corev1.ServiceTypeNodePort, "", corev1.ServiceExternalTrafficPolicyCluster},
		{corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyLocal, corev1.ServiceExternalTrafficPolicyLocal},
		{corev1.ServiceTypeClusterIP, "", ""},
	} {
		svc := Service(server(func(s *ftpv1.FTPServer) {
			s.Spec.Service.Type = tt.typ
			s.Spec.Service.ExternalTrafficPolicy = tt.set
		}), grant, Options{})
		if svc.Spec.ExternalTrafficPolicy != tt.want {
			t.Errorf("type %q policy %q: rendered %q, want %q", tt.typ, tt.set, svc.Spec.ExternalTrafficPolicy, tt.want)
		}
	}
}

func TestEngineRoleNamesOnlyTheAddressConfigMaps(t *testing.T) {
	r := EngineRole("acct", []string{"a-ftpd", "invoices-ftpd"}, []string{"invoices-ftpd-health"})
	// Only the operator-owned ConfigMaps, by name, never the FTPServers, whose status others may write: read the
	// address ConfigMaps, patch only the health ConfigMaps, which carry no address.
	if r.Namespace != "acct" || len(r.Rules) != 2 {
		t.Fatalf("rules %+v", r.Rules)
	}
	for _, rule := range r.Rules {
		if fmt.Sprint(rule.Resources) != "[configmaps]" || fmt.Sprint(rule.APIGroups) != "[]" {
			t.Fatalf("rule %+v", rule)
		}
	}
	if fmt.Sprint(r.Rules[0].ResourceNames) != "[a-ftpd invoices-ftpd]" || fmt.Sprint(r.Rules[0].Verbs) != "[get list watch]" {
		t.Fatalf("read rule %+v", r.Rules[0])
	}
	if fmt.Sprint(r.Rules[1].ResourceNames) != "[invoices-ftpd-health]" || fmt.Sprint(r.Rules[1].Verbs) != "[patch]" {
		t.Fatalf("patch rule %+v", r.Rules[1])
	}
	// No server with a health ConfigMap: no patch rule at all (an empty resourceNames would allow every name).
	if r := EngineRole("acct", []string{"a-ftpd"}, nil); len(r.Rules) != 1 || slices.Contains(r.Rules[0].Verbs, "patch") {
		t.Fatalf("rules without health ConfigMaps %+v", r.Rules)
	}
	b := EngineRoleBinding("acct")
	if len(b.Subjects) != 1 || b.Subjects[0].Namespace != "acct" || b.Subjects[0].Name != EngineIdentityName || b.RoleRef.Name != r.Name {
		t.Fatalf("binding %+v", b)
	}
	for _, o := range []metav1.Object{r, b, EngineServiceAccount("acct")} {
		if !IsEngineIdentity(o) {
			t.Fatalf("%s %s not recognised as the engine identity", o.GetName(), o.GetLabels())
		}
	}
}

func TestHealthConfigMapIsApartFromTheAddress(t *testing.T) {
	srv := server(nil)
	if HasStorageHealth(srv) {
		t.Fatal("a server without S3 has a health ConfigMap")
	}
	srv.Spec.Storage.S3 = &ftpv1.S3Storage{Bucket: "b"}
	cm := HealthConfigMap(srv)
	if !HasStorageHealth(srv) || cm.Name != "invoices-ftpd-health" || cm.Namespace != srv.Namespace || len(cm.Data) != 0 ||
		cm.Name == ConfigMapName(srv) || strings.HasSuffix(cm.Name, "-ftpd") {
		t.Fatalf("health ConfigMap %+v", cm)
	}
}

func TestLoadBalancerNodePorts(t *testing.T) {
	for _, tt := range []struct {
		typ  corev1.ServiceType
		set  *bool
		want *bool
	}{
		{corev1.ServiceTypeLoadBalancer, nil, ptr.To(false)},
		{corev1.ServiceTypeLoadBalancer, ptr.To(true), ptr.To(true)},
		{corev1.ServiceTypeNodePort, ptr.To(true), nil},
		{corev1.ServiceTypeClusterIP, nil, nil},
	} {
		svc := Service(server(func(s *ftpv1.FTPServer) {
			s.Spec.Service.Type = tt.typ
			s.Spec.Service.AllocateLoadBalancerNodePorts = tt.set
		}), ftpv1.PortRange{Start: 30000, End: 30001}, Options{})
		if got := svc.Spec.AllocateLoadBalancerNodePorts; fmt.Sprint(ptr.Deref(got, false), got == nil) != fmt.Sprint(ptr.Deref(tt.want, false), tt.want == nil) {
			t.Errorf("%s with %v: allocateLoadBalancerNodePorts %v, want %v", tt.typ, tt.set, got, tt.want)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for _, tt := range []struct {
		addr string
		port int32
		tls  bool
		want string
	}{
		{"203.0.113.10", 21, false, "ftp://203.0.113.10:21"},
		{"ftp.example.com", 31021, false, "ftp://ftp.example.com:31021"},
		{"2001:db8::1", 990, true, "ftps://[2001:db8::1]:990"},
	} {
		srv := server(nil)
		if tt.tls {
			srv.Spec.TLS = &ftpv1.TLSSpec{Mode: ftpv1.TLSImplicit}
		}
		if got := Endpoint(srv, tt.addr, tt.port); got != tt.want {
			t.Errorf("Endpoint(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
