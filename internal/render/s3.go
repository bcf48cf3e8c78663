package render

import (
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// Where the engine finds the S3 credentials and CA bundle: Secret volumes, so a rotated Secret reaches the files
// in place and no credential is ever an argument or an environment variable.
const (
	s3CredentialsDir = "/var/run/ftpd/s3"
	s3CADir          = "/var/run/ftpd/s3-ca"
	s3CAFile         = "ca.crt"
)

// s3Engine is the engine's S3 section for spec.storage.s3 (ok false without it).
func s3Engine(srv *ftpv1.FTPServer) (engineconfig.S3, bool) {
	s := srv.Spec.Storage.S3
	if s == nil {
		return engineconfig.S3{}, false
	}
	c := engineconfig.S3{
		Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region, ForcePathStyle: s.ForcePathStyle,
		AccessKeyIDFile:     path.Join(s3CredentialsDir, ftpv1.S3AccessKeyIDKey),
		SecretAccessKeyFile: path.Join(s3CredentialsDir, ftpv1.S3SecretAccessKeyKey),
	}
	if s.CABundleSecretRef != nil {
		c.CABundle = path.Join(s3CADir, s3CAFile)
	}
	return c, true
}

// s3Volumes mounts the credentials Secret (only its two keys) and the CA bundle's Secret key.
func s3Volumes(srv *ftpv1.FTPServer) ([]corev1.Volume, []corev1.VolumeMount) {
	s := srv.Spec.Storage.S3
	if s == nil {
		return nil, nil
	}
	vols := []corev1.Volume{{Name: "s3-credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: s.CredentialsSecretRef.Name, DefaultMode: ptr.To[int32](0o440),
		Items: []corev1.KeyToPath{{Key: ftpv1.S3AccessKeyIDKey, Path: ftpv1.S3AccessKeyIDKey},
			{Key: ftpv1.S3SecretAccessKeyKey, Path: ftpv1.S3SecretAccessKeyKey}},
	}}}}
	mounts := []corev1.VolumeMount{{Name: "s3-credentials", MountPath: s3CredentialsDir, ReadOnly: true}}
	if ca := s.CABundleSecretRef; ca != nil {
		vols = append(vols, corev1.Volume{Name: "s3-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: ca.Name, DefaultMode: ptr.To[int32](0o444),
			Items: []corev1.KeyToPath{{Key: s.CABundleKeyOrDefault(), Path: s3CAFile}},
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "s3-ca", MountPath: s3CADir, ReadOnly: true})
	}
	return vols, mounts
}
