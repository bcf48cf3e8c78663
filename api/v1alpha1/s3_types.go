package v1alpha1

// S3Storage keeps the files in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph RGW...) instead of a
// volume: each user's homeDirectory becomes the key prefix <prefix>/<homeDirectory>/ of the bucket. What FTP can
// and cannot do on object storage (no APPE, no resumed uploads, no directory rename) is in docs/object-storage.md.
type S3Storage struct {
	// endpoint is the URL of the S3 API, such as https://s3.eu-west-1.amazonaws.com or http://minio.storage:9000.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (self.startsWith('http://') || self.startsWith('https://')) && url(self).getEscapedPath() in ['', '/'] && url(self).getQuery().size() == 0",message="endpoint must be an http:// or https:// URL with no path, such as https://s3.eu-west-1.amazonaws.com"
	Endpoint string `json:"endpoint"`

	// bucket is the name of an existing bucket (3 to 63 characters).
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	Bucket string `json:"bucket"`

	// prefix is the key prefix under which the users' homes live; empty uses the whole bucket.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '..')",message="prefix must not contain '..'"
	Prefix string `json:"prefix,omitempty"`

	// region of the bucket; empty lets the client ask the endpoint.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Region string `json:"region,omitempty"`

	// forcePathStyle addresses the bucket as <endpoint>/<bucket> (MinIO, SeaweedFS, Ceph) instead of as the host
	// name <bucket>.<endpoint host> (AWS S3).
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`

	// credentialsSecretRef names a Secret in the FTPServer's namespace with the keys accessKeyID and
	// secretAccessKey. They reach the engine as mounted files, never as arguments or environment variables, and a
	// rotated Secret is picked up without a restart.
	// +required
	CredentialsSecretRef LocalObjectReference `json:"credentialsSecretRef"`

	// caBundleSecretRef names a Secret key holding the PEM CA certificates that verify an https endpoint (key
	// ca.crt unless given). Without it the engine trusts the system's CAs.
	// +optional
	CABundleSecretRef *CABundleSecretKeySelector `json:"caBundleSecretRef,omitempty"`
}

// CABundleSecretKeySelector selects the key of a Secret that holds PEM CA certificates.
type CABundleSecretKeySelector struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data. Defaults to ca.crt.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=ca.crt
	Key string `json:"key,omitempty"`
}

// Keys of the credentials Secret named by credentialsSecretRef.
const (
	S3AccessKeyIDKey     = "accessKeyID"
	S3SecretAccessKeyKey = "secretAccessKey"
	// DefaultCABundleKey is the key of caBundleSecretRef when it names none.
	DefaultCABundleKey = "ca.crt"
)

// CABundleKeyOrDefault is the key of caBundleSecretRef, ca.crt when it names none.
func (s S3Storage) CABundleKeyOrDefault() string {
	if s.CABundleSecretRef == nil || s.CABundleSecretRef.Key == "" {
		return DefaultCABundleKey
	}
	return s.CABundleSecretRef.Key
}

// SecretKeys are the Secrets and keys the S3 storage reads, by Secret name.
func (s S3Storage) SecretKeys() map[string][]string {
	keys := map[string][]string{s.CredentialsSecretRef.Name: {S3AccessKeyIDKey, S3SecretAccessKeyKey}}
	if s.CABundleSecretRef != nil {
		keys[s.CABundleSecretRef.Name] = append(keys[s.CABundleSecretRef.Name], s.CABundleKeyOrDefault())
	}
	return keys
}

// ReasonObjectStorage: StoragePersistent is True because the files live in a bucket.
const ReasonObjectStorage = "ObjectStorage"

// Reasons of WorkloadReady=False (and so Ready=False) when a pod of the server reports that its storage cannot be
// used: the causes the engine's storage health check names (on /readyz and in the server's ConfigMap).
const (
	// ReasonCredentialsRejected: the object store refused the credentials of credentialsSecretRef.
	ReasonCredentialsRejected = "CredentialsRejected"
	// ReasonBucketNotFound: the bucket does not exist at the endpoint.
	ReasonBucketNotFound = "BucketNotFound"
	// ReasonEndpointUnreachable: the endpoint cannot be reached (DNS, connection, TLS).
	ReasonEndpointUnreachable = "EndpointUnreachable"
	// ReasonStorageUnavailable: the storage cannot be used for another reason (the message says which).
	ReasonStorageUnavailable = "StorageUnavailable"
)
