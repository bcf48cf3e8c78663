//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

// seaweedfsS3Port is weed's default S3 port.
const seaweedfsS3Port = 8333

// startSeaweedFS runs SeaweedFS (`weed mini`: master, volume server, filer and S3 gateway in one process, its data
// in an emptyDir) as a Deployment with a ClusterIP Service in ns, from the image the suite imported, with the
// identities file of test/support/seaweedfs in a Secret. It waits (at most 3 minutes) until the pod is running and
// a signed ListBuckets succeeds at its pod IP (the test runs on the node, as TestOperatorMetricsAuth does), and
// returns that server and the in-cluster endpoint (the Service's ClusterIP) the engine is given.
func startSeaweedFS(t *testing.T, ns string) (*seaweedfs.Server, string) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app.kubernetes.io/name": "seaweedfs"}
	ids := &corev1.Secret{ObjectMeta: metaIn(ns, "seaweedfs-identities"),
		StringData: map[string]string{"identities.json": seaweedfs.Identities()}}
	svc := &corev1.Service{ObjectMeta: metaIn(ns, "seaweedfs"), Spec: corev1.ServiceSpec{
		Selector: labels,
		Ports:    []corev1.ServicePort{{Name: "s3", Port: seaweedfsS3Port, TargetPort: intstr.FromInt32(seaweedfsS3Port)}},
	}}
	dep := &appsv1.Deployment{ObjectMeta: metaIn(ns, "seaweedfs"), Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name:            "weed",
					Image:           config.seaweedfs,
					ImagePullPolicy: corev1.PullNever, // imported by the suite, no registry
					Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
						FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
					// Default ports; everything the test does not need is off.
					Args: []string{"mini", "-dir=/data", "-ip=$(POD_IP)", "-ip.bind=0.0.0.0",
						"-s3.config=/etc/seaweedfs/identities.json", "-admin.ui=false", "-admin.port.legacy=0",
						"-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"},
					Ports: []corev1.ContainerPort{{Name: "s3", ContainerPort: seaweedfsS3Port}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(seaweedfsS3Port)}},
						PeriodSeconds: 2,
					},
					VolumeMounts: []corev1.VolumeMount{
						{Name: "data", MountPath: "/data"},
						{Name: "identities", MountPath: "/etc/seaweedfs", ReadOnly: true},
					},
				}},
				Volumes: []corev1.Volume{
					{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "identities", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: ids.Name}}},
				},
			},
		},
	}}
	for _, o := range []client.Object{ids, svc, dep} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	var podIP string
	for podIP == "" {
		var pods corev1.PodList
		if err := k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
				podIP = p.Status.PodIP
			}
		}
		if podIP == "" {
			if time.Now().After(deadline) {
				t.Fatalf("SeaweedFS pod not running after 3 minutes: %+v", pods.Items)
			}
			time.Sleep(time.Second)
		}
	}
	s3 := seaweedfs.At(net.JoinHostPort(podIP, strconv.Itoa(seaweedfsS3Port)))
	if err := s3.WaitReady(time.Until(deadline) + 30*time.Second); err != nil {
		out, _ := kubectl(ctx, "-n", ns, "logs", "deployment/seaweedfs", "--tail=60")
		t.Fatalf("SeaweedFS at %s: %v\n%s", s3.Endpoint, err, out)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
		t.Fatal(err)
	}
	return s3, "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(seaweedfsS3Port))
}

// 12. Object storage: SeaweedFS runs in the cluster; an FTPServer keeps its files in a bucket there. A client behind
// the NAT uploads, and the object is in the bucket byte for byte. Then the engine pod is killed (grace 0) in the
// middle of a multipart upload: no object appears under that key, before or after the new pod serves. The engine
// could not abort that multipart upload, so its parts stay until the start-up sweep (uploads older than 24 h) or
// the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them: the test checks that this is the only
// upload left over, and that a completed upload after the restart works.
func TestObjectStorage(t *testing.T) {
	if config.seaweedfs == "" || config.importCmd == "" {
		t.Skip("needs the SeaweedFS image imported into the cluster: E2E_SEAWEEDFS_IMAGE, E2E_SEAWEEDFS_TAR and " +
			"E2E_IMPORT (make test-e2e sets them; hack/seaweedfs.sh image packs it)")
	}
	ns := newNamespace(t, "e2e-s3")
	t0 := time.Now()
	s3, endpointURL := startSeaweedFS(t, ns)
	t.Logf("SeaweedFS served S3 after %s (engine endpoint %s)", time.Since(t0).Round(100*time.Millisecond), endpointURL)
	bucket := s3.Bucket(t, "ftp-e2e")
	creds := &corev1.Secret{ObjectMeta: metaIn(ns, "s3-credentials"), StringData: map[string]string{
		ftpv1.S3AccessKeyIDKey: seaweedfs.AccessKey, ftpv1.S3SecretAccessKeyKey: seaweedfs.SecretKey}}
	if err := k8s.Create(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, ns, "s3", func(f *ftpv1.FTPServer) {
		f.Spec.Storage = ftpv1.Storage{S3: &ftpv1.S3Storage{
			Endpoint: endpointURL, Bucket: bucket, Prefix: "e2e", Region: "us-east-1", ForcePathStyle: true,
			CredentialsSecretRef: ftpv1.LocalObjectReference{Name: creds.Name},
		}}
	})
	host, port := endpoint(t, getServer(t, s))

	// A client behind the NAT uploads 20 MiB (three 8 MiB parts: a multipart upload).
	src, sum := randomFile(t, 20<<20)
	tr := curl(t, natClient, s, host, port, "hello.bin", "-T", src, "--disable-epsv")
	mustContain(t, "upload from behind the NAT", tr, pasvReply(getServer(t, s).Status.Address))
	keys := s3.Keys(t, bucket, "")
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "e2e/") || !strings.HasSuffix(keys[0], "/hello.bin") {
		t.Fatalf("keys in the bucket after one upload: %q, want one e2e/.../hello.bin", keys)
	}
	helloKey := keys[0]
	got, err := s3.Object(t, bucket, helloKey)
	if err != nil {
		t.Fatalf("reading %s: %v", helloKey, err)
	}
	if h := sha256.Sum256(got); hex.EncodeToString(h[:]) != sum {
		t.Fatalf("object %s: %d bytes, sha256 %x; the client sent 20 MiB with sha256 %s", helloKey, len(got), h, sum)
	}
	if pending := s3.PendingUploads(t, bucket, ""); len(pending) != 0 {
		t.Fatalf("multipart uploads left after a completed upload: %q", pending)
	}

	// A 64 MiB upload at 4 MB/s; once its multipart upload exists (a part is on its way), the engine pod is killed.
	big, _ := randomFile(t, 64<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := inNS(ctx, natClient, "curl", "-sS", "--limit-rate", "4M", "--disable-epsv", "-T", big,
		"--user", ftpUser+":"+s.pass, "ftp://"+net.JoinHostPort(host, port)+"/big.bin")
	var upErr bytes.Buffer
	up.Stderr = &upErr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- up.Wait() }()
	var pending []string
	for deadline := time.Now().Add(20 * time.Second); len(pending) == 0; time.Sleep(200 * time.Millisecond) {
		pending = s3.PendingUploads(t, bucket, "")
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload appeared within 20 s of starting the 64 MiB upload")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the 64 MiB upload at 4 MB/s finished early (%v): cannot kill the engine midway\n%s", err, upErr.String())
	default:
	}
	if len(pending) != 1 || !strings.HasSuffix(strings.Fields(pending[0])[0], "big.bin") {
		t.Fatalf("multipart uploads during the big upload: %q, want one for big.bin", pending)
	}
	bigKey := strings.Fields(pending[0])[0]
	victim := enginePod(t, s)
	killed := time.Now()
	if err := k8s.Delete(context.Background(), victim, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("curl after the engine was killed: %v: %s", err, strings.TrimSpace(upErr.String()))
	case <-time.After(30 * time.Second):
		_ = up.Process.Kill()
		<-done
		t.Logf("curl still uploading 30 s after the engine was killed; killed it")
	}
	if hasKey(s3.Keys(t, bucket, ""), bigKey) {
		t.Fatalf("%s is an object after the engine was killed mid-upload: a partial upload became visible", bigKey)
	}

	// The new pod serves; the key is still absent, only the killed upload's multipart upload is left, and a new
	// upload completes.
	waitNewPod(t, s, victim.Name)
	waitBanner(t, natClient, host, port)
	t.Logf("a new engine pod served %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	if keys := s3.Keys(t, bucket, ""); len(keys) != 1 || keys[0] != helloKey {
		t.Fatalf("keys after the restart: %q, want only %s", keys, helloKey)
	}
	left := s3.PendingUploads(t, bucket, "")
	for _, u := range left {
		if u != pending[0] {
			t.Fatalf("multipart uploads after the restart: %q; only the killed one (%s) may be left", left, pending[0])
		}
	}
	t.Logf("multipart uploads left after the restart: %q (the start-up sweep removes them after 24 h, or a "+
		"lifecycle rule AbortIncompleteMultipartUpload)", left)
	src2, sum2 := randomFile(t, 1<<20)
	curl(t, natClient, s, host, port, "after.bin", "-T", src2, "--disable-epsv")
	got, err = s3.Object(t, bucket, strings.TrimSuffix(helloKey, "hello.bin")+"after.bin")
	if err != nil {
		t.Fatalf("reading after.bin: %v", err)
	}
	if h := sha256.Sum256(got); hex.EncodeToString(h[:]) != sum2 {
		t.Fatalf("after.bin in the bucket differs from what the client sent")
	}
	_ = os.Remove(big)
}

func hasKey(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}

// waitNewPod waits (at most 3 minutes) until s has one ready pod other than old.
func waitNewPod(t *testing.T, s *server, old string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var pods corev1.PodList
		if err := k8s.List(context.Background(), &pods, client.InNamespace(s.ns),
			client.MatchingLabels{"app.kubernetes.io/instance": s.name, "app.kubernetes.io/managed-by": "ftp-operator"}); err != nil {
			t.Fatal(err)
		}
		for i := range pods.Items {
			if p := &pods.Items[i]; p.Name != old && p.DeletionTimestamp == nil && podReady(p) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new ready engine pod within 3 minutes of killing %s", old)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
