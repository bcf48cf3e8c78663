package render

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// HasStorageHealth reports whether srv's engine pods publish their storage health (only S3 storage has a health
// check), and so whether srv has a health ConfigMap.
func HasStorageHealth(srv *ftpv1.FTPServer) bool { return srv.Spec.Storage.S3 != nil }

// HealthConfigMap is the ConfigMap in which srv's engine pods publish their storage health, one key each
// (engineconfig.StorageHealthKey). The operator creates it empty (a merge patch, all the engine may send, cannot
// create it) and never writes its data; the engine may patch it and nothing else (EngineRole). It is apart from the
// address ConfigMap so that no engine can ever write an address, its own or a sibling's.
func HealthConfigMap(srv *ftpv1.FTPServer) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(srv, HealthConfigMapName(srv)),
	}
}
