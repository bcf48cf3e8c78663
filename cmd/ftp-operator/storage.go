package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd/s3store"
)

// credentialsRefresh is how often credential files are re-read (a rotated Secret reaches the mounted files
// within about a minute anyway).
const credentialsRefresh = time.Minute

// healthCacheTTL bounds how often /readyz asks the storage: probes come every few seconds, per replica.
const healthCacheTTL = 10 * time.Second

// newS3Storage builds the S3 backend from its configuration (validated by Parse).
func newS3Storage(c engineconfig.S3) (*checkedStorage, error) {
	var creds *credentials.Credentials
	switch {
	case c.AccessKeyIDFile != "":
		creds = s3store.FileCredentials(c.AccessKeyIDFile, c.SecretAccessKeyFile, credentialsRefresh)
		if _, err := creds.GetWithContext(nil); err != nil {
			return nil, fmt.Errorf("--s3-access-key-id-file: %w", err)
		}
	case os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "":
		creds = credentials.NewEnvAWS()
	default:
		return nil, errors.New("--s3-endpoint: no credentials: set --s3-access-key-id-file and --s3-secret-access-key-file, " +
			"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
	}
	cfg := s3store.Config{Endpoint: c.Endpoint, Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region,
		ForcePathStyle: c.ForcePathStyle, Credentials: creds}
	if c.CABundle != "" {
		pem, err := os.ReadFile(c.CABundle)
		if err != nil {
			return nil, fmt.Errorf("--s3-ca-bundle: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--s3-ca-bundle %s: no PEM certificate in it", c.CABundle)
		}
	}
	p, err := s3store.New(cfg)
	if err != nil {
		return nil, err
	}
	return &checkedStorage{Provider: p}, nil
}

// checkedStorage is the S3 backend with its health check cached for /readyz.
type checkedStorage struct {
	*s3store.Provider
	mu      sync.Mutex
	checked time.Time
	err     error
}

// Health reports whether the bucket is reachable with the credentials (nil, or an *s3store.HealthError naming
// the cause), asking S3 at most every healthCacheTTL.
func (s *checkedStorage) Health(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checked.IsZero() && time.Since(s.checked) < healthCacheTTL {
		return s.err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.err, s.checked = s.Check(ctx), time.Now()
	return s.err
}

// storageHealth is implemented by storage backends that can be unreachable.
type storageHealth interface {
	Health(ctx context.Context) error
}
