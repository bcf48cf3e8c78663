package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestS3WithReplicas: object storage is shared storage for a server with several replicas. Three replicas on S3 run
// one StatefulSet whose every pod gets the bucket settings, the credentials as files and its own pod name, with no
// data volume and no claim; the server becomes Ready with 3 pods. Each pod publishes its own storage health (the
// engine's publisher, with the engine's identity, under its StatefulSet pod name): one failing pod makes the server
// not Ready naming that pod only, two failing pods give the worst cause naming both, and once they are healthy again
// the server is Ready with 3.
func TestS3WithReplicas(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	ensureSecret(t, ns, "s3-creds", map[string]string{"accessKeyID": "AKIDEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI"})
	create(t, newServer(t, ns, "s3ha", func(s *ftpv1.FTPServer) {
		withS3(s)
		s.Spec.Replicas = ptr.To[int32](3)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](6)}
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		s.Spec.PublicAddress = "198.51.100.7"
	}))
	srv := getServer(t, ns, "s3ha")
	ctx := context.Background()
	pods := runReplicaPods(t, ns, "s3ha", 3)

	// Every pod's template: the bucket, the credentials as files, its name from the downward API; no data volume.
	sts := &appsv1.StatefulSet{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: render.StatefulSetName(srv)}, sts); err != nil {
		t.Fatal(err)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Fatalf("StatefulSet has claim templates %v: object storage needs none", sts.Spec.VolumeClaimTemplates)
	}
	tmpl := sts.Spec.Template.Spec
	args := tmpl.Containers[0].Args
	for _, want := range []string{"--s3-bucket=ftp-files", "--s3-access-key-id-file=/var/run/ftpd/s3/accessKeyID",
		"--s3-secret-access-key-file=/var/run/ftpd/s3/secretAccessKey", "--passive-slice-by-ordinal=true"} {
		if !slices.Contains(args, want) {
			t.Errorf("engine arguments lack %s: %v", want, args)
		}
	}
	var vols []string
	for _, v := range tmpl.Volumes {
		vols = append(vols, v.Name)
	}
	if slices.Contains(vols, "data") || !slices.Contains(vols, "s3-credentials") {
		t.Fatalf("volumes %v: want s3-credentials and no data volume", vols)
	}
	if !slices.ContainsFunc(tmpl.Containers[0].Env, func(e corev1.EnvVar) bool {
		return e.Name == engineconfig.PodNameEnv && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
	}) {
		t.Fatalf("env %v: want %s from metadata.name (the pod's key in the health ConfigMap)", tmpl.Containers[0].Env, engineconfig.PodNameEnv)
	}

	routeTo(t, ns, render.ServiceName(srv), pods...)
	for i, p := range pods {
		routeTo(t, ns, render.PodServiceName(srv, int32(i)), p)
	}
	waitReadyPods(t, ns, "s3ha", 3, metav1.ConditionTrue)

	// Each pod publishes under its own key, with the engine's identity, as the engine does.
	engineCfg := rest.CopyConfig(restConfig)
	engineCfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, render.EngineSAName(srv))}
	publish := func(i int, value string) {
		t.Helper()
		pub := addressfollow.NewPublisher(support.EngineClient(t, engineCfg), engineconfig.FollowTarget{Namespace: ns, Name: srv.Name}, pods[i].Name)
		if err := pub.Publish(ctx, value); err != nil {
			t.Fatalf("pod %s publishing its health: %v", pods[i].Name, err)
		}
	}
	notReady := func(reason string, want, notWant []string) {
		t.Helper()
		eventually(t, 20*time.Second, "WorkloadReady "+reason, func() (bool, error) {
			c := findCondition(getServer(t, ns, srv.Name), ftpv1.ConditionWorkloadReady)
			ok := c.Status == metav1.ConditionFalse && c.Reason == reason
			for _, w := range want {
				ok = ok && strings.Contains(c.Message, w)
			}
			for _, w := range notWant {
				ok = ok && !strings.Contains(c.Message, w)
			}
			return ok, fmt.Errorf("%s %s: %s", c.Status, c.Reason, c.Message)
		})
	}
	for i := range pods {
		publish(i, engineconfig.StorageHealthy)
	}
	publish(1, "CredentialsRejected: bucket \"ftp-files\" refused the credentials")
	notReady(ftpv1.ReasonCredentialsRejected, []string{"pod s3ha-1: CredentialsRejected"}, []string{"s3ha-0", "s3ha-2"})
	if c := findCondition(getServer(t, ns, srv.Name), ftpv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != ftpv1.ReasonCredentialsRejected {
		t.Fatalf("Ready %s %s: %s", c.Status, c.Reason, c.Message)
	}
	publish(2, "EndpointUnreachable: reaching https://s3.example.com: connection refused")
	publish(1, "BucketNotFound: bucket \"ftp-files\" does not exist")
	notReady(ftpv1.ReasonBucketNotFound, []string{"pod s3ha-1: BucketNotFound", "pod s3ha-2: EndpointUnreachable"}, []string{"s3ha-0"})
	publish(1, engineconfig.StorageHealthy)
	publish(2, engineconfig.StorageHealthy)
	waitReadyPods(t, ns, "s3ha", 3, metav1.ConditionTrue)

	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: render.HealthConfigMapName(srv)}, cm); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if cm.Data[engineconfig.StorageHealthKey(p.Name)] != engineconfig.StorageHealthy {
			t.Fatalf("health ConfigMap %v: want one OK key per pod", cm.Data)
		}
	}
}
