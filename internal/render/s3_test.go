package render

import (
	"io"
	"reflect"
	"testing"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// A server on a bucket gives the engine its S3 section with the credentials as mounted files, the engine's own
// parser reads the arguments back to the same configuration, and the pod mounts only the Secret keys it needs.
func TestS3StorageConfig(t *testing.T) {
	srv := server(func(s *ftpv1.FTPServer) {
		s.Spec.Storage.S3 = &ftpv1.S3Storage{Endpoint: "https://minio.storage:9000", Bucket: "ftp-files", Prefix: "p",
			Region: "eu-1", ForcePathStyle: true, CredentialsSecretRef: ftpv1.LocalObjectReference{Name: "creds"},
			CABundleSecretRef: &ftpv1.CABundleSecretKeySelector{Name: "ca", Key: "bundle.pem"}}
	})
	grant := ftpv1.PortRange{Start: 31000, End: 31003}
	c := EngineConfig(srv, grant)
	want := engineconfig.S3{Endpoint: "https://minio.storage:9000", Bucket: "ftp-files", Prefix: "p", Region: "eu-1",
		ForcePathStyle: true, AccessKeyIDFile: "/var/run/ftpd/s3/accessKeyID",
		SecretAccessKeyFile: "/var/run/ftpd/s3/secretAccessKey", CABundle: "/var/run/ftpd/s3-ca/ca.crt"}
	if c.S3 != want || c.Root != "" {
		t.Fatalf("S3 %+v root %q, want %+v and no root", c.S3, c.Root, want)
	}
	parsed, err := engineconfig.Parse(EngineArgs(srv, grant)[1:], io.Discard)
	if err != nil || !reflect.DeepEqual(parsed, c) {
		t.Fatalf("engine parses %+v, %v; want %+v", parsed, err, c)
	}
	mounts := map[string]string{}
	pod := Deployment(srv, grant, Options{}).Spec.Template.Spec
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if _, ok := mounts["data"]; ok || mounts["s3-credentials"] != "/var/run/ftpd/s3" || mounts["s3-ca"] != "/var/run/ftpd/s3-ca" {
		t.Fatalf("mounts %v", mounts)
	}
	for _, v := range pod.Volumes {
		if v.Name == "s3-ca" && (v.Secret.SecretName != "ca" || v.Secret.Items[0].Key != "bundle.pem" || v.Secret.Items[0].Path != "ca.crt") {
			t.Fatalf("CA volume %+v", v.Secret)
		}
	}
}
