// Package testcert makes TLS certificates for tests, as portrangetest makes passive ranges: self-signed server
// certificates, a CA and the leaves it signs, for the hosts and the lifetime a test asks for, as PEM, as files and
// as tls.Config pieces. Every key is ECDSA P-256; nothing here is fit for production use.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Options say what certificate New makes. The zero value is a self-signed server certificate for no host, valid
// from an hour ago for an hour.
type Options struct {
	// Hosts go into the subject alternative names: those that parse as IPs as IP addresses, the rest as DNS names.
	Hosts []string
	// CommonName is the subject's CN (default: the first of Hosts, or "ftp test").
	CommonName string
	// CA makes a certificate that can sign others (IsCA, key usage CertSign). With Parent nil it is its own issuer,
	// so a client that trusts it as a root also accepts it as the server's certificate.
	CA bool
	// Parent signs the certificate (it must have been made with CA); nil makes it self-signed.
	Parent *Cert
	// ValidFor is how long from now the certificate stays valid (default one hour; negative: it has expired). It
	// became valid an hour ago, so clocks that differ a little do not matter.
	ValidFor time.Duration
}

// Cert is a certificate and its key, parsed and as PEM.
type Cert struct {
	X509    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte // CERTIFICATE
	KeyPEM  []byte // EC PRIVATE KEY
}

// New makes a certificate as o says; it fails t if it cannot.
func New(t testing.TB, o Options) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	cn := o.CommonName
	if cn == "" {
		cn = "ftp test"
		if len(o.Hosts) > 0 {
			cn = o.Hosts[0]
		}
	}
	validFor := o.ValidFor
	if validFor == 0 {
		validFor = time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if o.CA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	parent, signer := tmpl, key
	if o.Parent != nil {
		parent, signer = o.Parent.X509, o.Parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{
		X509:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	}
}

// TLSCertificate is the certificate and key for a tls.Config.
func (c *Cert) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.X509.Raw}, PrivateKey: c.Key, Leaf: c.X509}
}

// ServerConfig is a server's tls.Config serving c (TLS 1.2 and later).
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLSCertificate()}, MinVersion: tls.VersionTLS12}
}

// Pool is a certificate pool that trusts c, for a client's RootCAs.
func (c *Cert) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.X509)
	return p
}

// WriteFiles writes the certificate and the key as dir/tls.crt and dir/tls.key (the names of a kubernetes.io/tls
// Secret's keys) and returns their paths. Each file is written under a temporary name and renamed into place, so
// that an engine reloading them never reads half a file; calling it again with another Cert replaces the pair.
func (c *Cert) WriteFiles(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	WriteAtomic(t, certFile, c.CertPEM)
	WriteAtomic(t, keyFile, c.KeyPEM)
	return certFile, keyFile
}

// WriteCA writes the certificate (PEM) to a file of the test's temporary folder, for a client's CA file option
// (curl --cacert, --certificate-authority), and returns its path.
func (c *Cert) WriteCA(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteAtomic writes data to path under a temporary name and renames it into place, as WriteFiles does: an engine
// that reloads path (a certificate, a users file, an address file) sees the old content or the new, never half.
func WriteAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
