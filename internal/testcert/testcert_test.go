package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestCertificates(t *testing.T) {
	ca := New(t, Options{CommonName: "test CA", CA: true})
	leaf := New(t, Options{Hosts: []string{"127.0.0.1", "ftp.example.com"}, Parent: ca})
	expired := New(t, Options{Hosts: []string{"127.0.0.1"}, Parent: ca, ValidFor: -time.Minute})
	self := New(t, Options{Hosts: []string{"localhost"}, CA: true})
	for _, tt := range []struct {
		name  string
		cert  *Cert
		roots *Cert
		host  string
		err   string // "" = verifies
	}{
		{"leaf by IP", leaf, ca, "127.0.0.1", ""},
		{"leaf by name", leaf, ca, "ftp.example.com", ""},
		{"leaf for another host", leaf, ca, "other.example.com", "not other.example.com"},
		{"expired", expired, ca, "127.0.0.1", "expired"},
		{"self-signed CA is its own root", self, self, "localhost", ""},
		{"untrusted", leaf, self, "127.0.0.1", "unknown authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cert.X509.Verify(x509.VerifyOptions{DNSName: tt.host, Roots: tt.roots.Pool()})
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Verify: %v, want %q", err, tt.err)
			}
		})
	}
	if leaf.X509.Subject.CommonName != "127.0.0.1" || ca.X509.Subject.CommonName != "test CA" {
		t.Errorf("common names %q, %q", leaf.X509.Subject.CommonName, ca.X509.Subject.CommonName)
	}
	if d := time.Until(leaf.X509.NotAfter); d < 59*time.Minute || d > time.Hour {
		t.Errorf("default lifetime: expires in %s", d)
	}
}

func TestFilesAndTLSConfig(t *testing.T) {
	c := New(t, Options{Hosts: []string{"127.0.0.1"}})
	certFile, keyFile := c.WriteFiles(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Leaf.Equal(c.X509) {
		t.Error("the files hold another certificate")
	}
	if got := c.ServerConfig().Certificates[0].Leaf; !got.Equal(c.X509) {
		t.Error("ServerConfig serves another certificate")
	}
}
