package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

func withS3(s *ftpv1.FTPServer) {
	s.Spec.Storage.S3 = &ftpv1.S3Storage{Endpoint: "https://s3.example.com", Bucket: "ftp-files", Prefix: "partners",
		ForcePathStyle: true, CredentialsSecretRef: ftpv1.LocalObjectReference{Name: "s3-creds"}}
}

// TestS3StorageAdmission: spec.storage.s3 is one storage source among the others, and what the engine could not
// use is refused by the API server with a message a person understands.
func TestS3StorageAdmission(t *testing.T) {
	ns := newNamespace(t)
	for i, tt := range []struct {
		name string
		mut  func(*ftpv1.S3Storage, *ftpv1.FTPServer)
		want string // "" means: accepted
	}{
		{"valid", func(*ftpv1.S3Storage, *ftpv1.FTPServer) {}, ""},
		{"valid with a port and a CA bundle", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) {
			s.Endpoint = "http://minio.storage.svc:9000/"
			s.CABundleSecretRef = &ftpv1.CABundleSecretKeySelector{Name: "ca"}
		}, ""},
		{"s3 and emptyDir", func(_ *ftpv1.S3Storage, srv *ftpv1.FTPServer) {
			srv.Spec.Storage.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}, "storage takes only one of persistentVolumeClaim, volumeClaimTemplate, emptyDir and s3"},
		{"s3 and a claim", func(_ *ftpv1.S3Storage, srv *ftpv1.FTPServer) {
			srv.Spec.Storage.PersistentVolumeClaim = &ftpv1.PersistentVolumeClaimRef{ClaimName: "data"}
		}, "storage takes only one of persistentVolumeClaim, volumeClaimTemplate, emptyDir and s3"},
		{"endpoint without a scheme", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) { s.Endpoint = "s3.example.com" },
			"endpoint must be an http:// or https:// URL with no path"},
		{"endpoint with a path", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) { s.Endpoint = "https://s3.example.com/bucket" },
			"endpoint must be an http:// or https:// URL with no path"},
		{"ftp endpoint", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) { s.Endpoint = "ftp://s3.example.com" },
			"endpoint must be an http:// or https:// URL with no path"},
		{"bucket name", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) { s.Bucket = "My_Bucket" }, "spec.storage.s3.bucket in body should match"},
		{"short bucket name", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) { s.Bucket = "b1" }, "spec.storage.s3.bucket in body should be at least 3 chars long"},
		{"prefix climbing out", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) { s.Prefix = "a/../../b" }, "prefix must not contain '..'"},
		{"no credentials", func(s *ftpv1.S3Storage, _ *ftpv1.FTPServer) { s.CredentialsSecretRef.Name = "" },
			`spec.storage.s3.credentialsSecretRef.name: Invalid value: ""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, ns, fmt.Sprintf("s3-%d", i), withS3)
			tt.mut(srv.Spec.Storage.S3, srv)
			err := k8s.Create(context.Background(), srv)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("valid spec refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("invalid spec accepted")
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("message\n  %v\ndoes not say\n  %s", err, tt.want)
			}
			if tt.name == "valid with a port and a CA bundle" && srv.Spec.Storage.S3.CABundleSecretRef.Key != "ca.crt" {
				t.Fatalf("caBundleSecretRef.key defaulted to %q, want ca.crt", srv.Spec.Storage.S3.CABundleSecretRef.Key)
			}
		})
	}
}

// TestS3StorageRendered: a server on a bucket runs the engine with the S3 flags and the credentials Secret
// mounted as files (no data volume, no credential in the arguments), reports its storage as persistent object
// storage, and waits with SecretMissing, watched, until the credentials Secret has both keys.
func TestS3StorageRendered(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "bucket", withS3))
	got := waitCondition(t, ns, "bucket", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonSecretMissing)
	if msg := findCondition(got, ftpv1.ConditionWorkloadReady).Message; !strings.Contains(msg, `Secret "s3-creds" not found`) {
		t.Fatalf("message %q", msg)
	}
	ensureSecret(t, ns, "s3-creds", map[string]string{"accessKeyID": "AKIDEXAMPLE"})
	eventually(t, 10*time.Second, "the missing secretAccessKey reported", func() (bool, error) {
		msg := findCondition(getServer(t, ns, "bucket"), ftpv1.ConditionWorkloadReady).Message
		return strings.Contains(msg, `Secret "s3-creds" has no key "secretAccessKey"`), fmt.Errorf("%s", msg)
	})
	srv := waitCondition(t, ns, "bucket", ftpv1.ConditionStoragePersistent, metav1.ConditionTrue, ftpv1.ReasonObjectStorage)
	if msg := findCondition(srv, ftpv1.ConditionStoragePersistent).Message; !strings.Contains(msg, "ftp-files") {
		t.Fatalf("StoragePersistent message %q", msg)
	}
	setSecretData(t, ns, "s3-creds", "secretAccessKey", "wJalrXUtnFEMI")
	eventually(t, 10*time.Second, "SecretMissing cleared by the Secret watch", func() (bool, error) {
		c := findCondition(getServer(t, ns, "bucket"), ftpv1.ConditionWorkloadReady)
		return c.Reason != "" && c.Reason != ftpv1.ReasonSecretMissing, fmt.Errorf("%+v", c)
	})
	pod := getDeployment(t, ns, "bucket").Spec.Template.Spec
	args := pod.Containers[0].Args
	for _, want := range []string{"--s3-endpoint=https://s3.example.com", "--s3-bucket=ftp-files", "--s3-prefix=partners",
		"--s3-force-path-style=true", "--s3-access-key-id-file=/var/run/ftpd/s3/accessKeyID",
		"--s3-secret-access-key-file=/var/run/ftpd/s3/secretAccessKey"} {
		if !slices.Contains(args, want) {
			t.Errorf("engine arguments lack %s: %v", want, args)
		}
	}
	if strings.Contains(strings.Join(args, " "), "wJalrXUtnFEMI") || strings.Contains(strings.Join(args, " "), "AKIDEXAMPLE") {
		t.Fatal("a credential is in the engine's arguments")
	}
	var names []string
	for _, v := range pod.Volumes {
		names = append(names, v.Name)
		if v.Name == "s3-credentials" && (v.Secret == nil || v.Secret.SecretName != "s3-creds" || len(v.Secret.Items) != 2) {
			t.Fatalf("credentials volume %+v", v)
		}
	}
	if slices.Contains(names, "data") || !slices.Contains(names, "s3-credentials") {
		t.Fatalf("volumes %v: want s3-credentials and no data volume", names)
	}
}
