package controllers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

// TestStorageHealthReachesReady: the real engine (the ftpd subcommand of the operator's binary, as a process) on a
// real SeaweedFS bucket with a wrong secret key publishes its storage health through the API server with the
// identity the operator gave it, and the operator says why the server is not Ready: WorkloadReady and Ready False
// with reason CredentialsRejected, naming the pod, and one Warning event. When the engine stops, its key goes and
// so does the reason. The identity can patch the health ConfigMap only: no address ConfigMap, its own server's or a
// sibling's. envtest runs no kubelet, so the test registers the pod the engine stands for.
func TestStorageHealthReachesReady(t *testing.T) {
	s3 := seaweedfs.Start(t)
	bucket := s3.Bucket(t, "health")
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	ensureSecret(t, ns, "s3-creds", map[string]string{"accessKeyID": seaweedfs.AccessKey, "secretAccessKey": "not-the-secret"})
	srv := newServer(t, ns, "health", func(s *ftpv1.FTPServer) {
		withS3(s)
		s.Spec.Storage.S3.Endpoint, s.Spec.Storage.S3.Bucket, s.Spec.Storage.S3.Region = s3.Endpoint, bucket, "us-east-1"
	})
	create(t, srv)
	ctx := context.Background()
	// A sibling server of the same namespace, whose address the engine must not be able to change either.
	sibling := newServer(t, ns, "sibling", func(s *ftpv1.FTPServer) {
		withS3(s)
		s.Spec.Storage.S3.Endpoint, s.Spec.Storage.S3.Bucket, s.Spec.Storage.S3.Region = s3.Endpoint, bucket, "us-east-1"
	})
	create(t, sibling)
	for _, name := range []string{render.ConfigMapName(srv), render.HealthConfigMapName(srv), render.ConfigMapName(sibling)} {
		eventually(t, 20*time.Second, "ConfigMap "+name, func() (bool, error) {
			err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &corev1.ConfigMap{})
			return err == nil, err
		})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "health-7d9c-x2k4p", Labels: render.Labels(srv)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "ftpd", Image: "localhost/ftp-operator:test"}}},
	}
	create(t, pod)

	// The engine, as its pod runs it: the Secret's keys as files, the FollowTarget, the pod's name, and the
	// ServiceAccount the operator made (impersonated).
	dir := t.TempDir()
	files := map[string]string{"accessKeyID": seaweedfs.AccessKey, "secretAccessKey": "not-the-secret", "users.yaml": "users: []\n"}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := engineKubeconfig(t, dir, fmt.Sprintf("system:serviceaccount:%s:%s", ns, render.EngineSAName(srv)))
	port := support.FreePort(t)
	cmd := exec.Command(support.OperatorBinary(t), "ftpd", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--health-listen", "",
		"--users", filepath.Join(dir, "users.yaml"), "--passive-ports", "21090-21099", "--passive-host", "127.0.0.1",
		"--kubernetes-ftpserver", ns+"/"+srv.Name,
		"--s3-endpoint", s3.Endpoint, "--s3-bucket", bucket, "--s3-region", "us-east-1", "--s3-force-path-style",
		"--s3-access-key-id-file", filepath.Join(dir, "accessKeyID"), "--s3-secret-access-key-file", filepath.Join(dir, "secretAccessKey"))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, engineconfig.PodNameEnv+"="+pod.Name)
	out := &support.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	support.StartProcess(t, cmd, func() string { return "engine output:\n" + out.String() })

	got := waitCondition(t, ns, srv.Name, ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonCredentialsRejected)
	msg := findCondition(got, ftpv1.ConditionWorkloadReady).Message
	if !strings.Contains(msg, "pod "+pod.Name+": CredentialsRejected: ") || !strings.Contains(msg, bucket) {
		t.Fatalf("WorkloadReady message %q: want the pod, the cause and the bucket", msg)
	}
	ready := findCondition(got, ftpv1.ConditionReady)
	if ready.Status != metav1.ConditionFalse || ready.Reason != ftpv1.ReasonCredentialsRejected {
		t.Fatalf("Ready %s %s: %s, want False CredentialsRejected", ready.Status, ready.Reason, ready.Message)
	}
	waitEvent(t, ns, srv.Name, ftpv1.ReasonCredentialsRejected)
	// The cause came through the health ConfigMap; the address ConfigMap holds the address alone.
	for name, want := range map[string]string{render.HealthConfigMapName(srv): "CredentialsRejected: ", render.ConfigMapName(srv): ""} {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, cm); err != nil {
			t.Fatal(err)
		}
		if v, ok := cm.Data[engineconfig.StorageHealthKey(pod.Name)]; ok != (want != "") || !strings.HasPrefix(v, want) {
			t.Fatalf("ConfigMap %s: data %v, want the pod's key %t", name, cm.Data, want != "")
		}
	}

	// That identity may patch no ConfigMap that carries an address, its own server's or a sibling's, nor any other
	// ConfigMap; and it cannot read the health ConfigMap it writes.
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other"}})
	saCfg := rest.CopyConfig(restConfig)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, render.EngineSAName(srv))}
	saClient, err := client.New(saCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	redirect := []byte(`{"data":{"` + render.AddressKey + `":"203.0.113.66"}}`)
	for _, name := range []string{render.ConfigMapName(srv), render.ConfigMapName(sibling), "other"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := saClient.Patch(ctx, cm, client.RawPatch(types.MergePatchType, redirect)); !apierrors.IsForbidden(err) {
			t.Fatalf("engine identity patching ConfigMap %s: %v, want Forbidden", name, err)
		}
	}
	err = saClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: render.HealthConfigMapName(srv)}, &corev1.ConfigMap{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("engine identity reading its health ConfigMap: %v, want Forbidden", err)
	}

	// A stopped engine withdraws its key: the server waits for its pod again, without a stale cause.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the cause withdrawn", func() (bool, error) {
		c := findCondition(getServer(t, ns, srv.Name), ftpv1.ConditionWorkloadReady)
		return c.Reason == ftpv1.ReasonProgressing, fmt.Errorf("%s %s: %s", c.Status, c.Reason, c.Message)
	})
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: render.HealthConfigMapName(srv)}, cm); err != nil {
		t.Fatal(err)
	}
	if v, ok := cm.Data[engineconfig.StorageHealthKey(pod.Name)]; ok {
		t.Fatalf("key of the stopped engine still there: %q", v)
	}
}

// engineKubeconfig writes a kubeconfig that reaches the test's API server as user (impersonated by the test's
// administrator, so that the engine's process has exactly that identity's permissions).
func engineKubeconfig(t *testing.T, dir, user string) string {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["envtest"] = &clientcmdapi.Cluster{Server: restConfig.Host, CertificateAuthorityData: restConfig.CAData}
	c.AuthInfos["engine"] = &clientcmdapi.AuthInfo{ClientCertificateData: restConfig.CertData, ClientKeyData: restConfig.KeyData,
		Token: restConfig.BearerToken, Impersonate: user}
	c.Contexts["engine"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "engine"}
	c.CurrentContext = "engine"
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// With several pods the worst cause wins and every failing pod is named; keys of pods that are gone, or going,
// do not count.
func TestDiagnoseStorage(t *testing.T) {
	live := func(name string) corev1.Pod { return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	gone := live("d")
	gone.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	key := engineconfig.StorageHealthKey
	for _, tt := range []struct {
		name       string
		data       map[string]string
		pods       []corev1.Pod
		reason     string
		inMessage  []string
		notMessage []string
	}{
		{"all healthy", map[string]string{key("a"): engineconfig.StorageHealthy, key("b"): engineconfig.StorageHealthy},
			[]corev1.Pod{live("a"), live("b")}, "", nil, nil},
		{"nothing published", nil, []corev1.Pod{live("a")}, "", nil, nil},
		{"worst wins", map[string]string{
			key("a"): engineconfig.StorageHealthy,
			key("b"): "EndpointUnreachable: reaching http://s3: connection refused",
			key("c"): "CredentialsRejected: bucket \"x\" refused the credentials",
			key("x"): "BucketNotFound: stale key of a pod that is gone",
		}, []corev1.Pod{live("a"), live("b"), live("c")}, ftpv1.ReasonCredentialsRejected,
			[]string{"pod b: EndpointUnreachable: reaching", "pod c: CredentialsRejected: bucket"}, []string{"pod a", "pod x", "stale"}},
		{"unknown cause", map[string]string{key("a"): "StorageError: 500 Internal Server Error"}, []corev1.Pod{live("a")},
			ftpv1.ReasonStorageUnavailable, []string{"pod a: StorageUnavailable: StorageError: 500"}, nil},
		{"terminating pod ignored", map[string]string{key("d"): "BucketNotFound: gone"}, []corev1.Pod{gone}, "", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, found := diagnoseStorage(tt.data, tt.pods)
			if found != (tt.reason != "") || p.reason != tt.reason {
				t.Fatalf("got %v %q (%s), want %q", found, p.reason, p.message, tt.reason)
			}
			for _, s := range tt.inMessage {
				if !strings.Contains(p.message, s) {
					t.Errorf("message %q lacks %q", p.message, s)
				}
			}
			for _, s := range tt.notMessage {
				if strings.Contains(p.message, s) {
					t.Errorf("message %q has %q", p.message, s)
				}
			}
		})
	}
}
