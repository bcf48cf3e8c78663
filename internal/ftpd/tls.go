package ftpd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSMode selects how FTPS is offered.
type TLSMode string

// TLS modes.
const (
	// TLSExplicit offers AUTH TLS; plain sessions are allowed.
	TLSExplicit TLSMode = "Explicit"
	// TLSRequired requires AUTH TLS before login and PROT P for data.
	TLSRequired TLSMode = "Required"
	// TLSImplicit additionally serves implicit TLS (ServeImplicitTLS) and
	// requires TLS on the explicit port too.
	TLSImplicit TLSMode = "Implicit"
)

// CertReloader serves a certificate from files and reloads it when they
// change (checked at most once per CheckInterval, on handshakes). A reload
// that fails keeps the previous certificate.
type CertReloader struct {
	CertFile, KeyFile string
	CheckInterval     time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]fileStamp
	lastCheck time.Time
	onLoad    func(*x509.Certificate)
}

// OnLoad calls f with the certificate served now and again after every
// successful reload (for the expiry metric).
func (c *CertReloader) OnLoad(f func(*x509.Certificate)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onLoad = f
	if f != nil && c.cert != nil {
		f(c.cert.Leaf)
	}
}

// NewCertReloader loads the pair once and returns the reloader.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	c := &CertReloader{CertFile: certFile, KeyFile: keyFile, CheckInterval: 2 * time.Second}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CertReloader) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, f := range []string{c.CertFile, c.KeyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = stampOf(fi)
	}
	return s, nil
}

func (c *CertReloader) load() error {
	st, err := c.stamps()
	if err != nil {
		return fmt.Errorf("stat certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return fmt.Errorf("loading certificate %s: %w", c.CertFile, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cert, c.stamp, c.lastCheck = &cert, st, time.Now()
	if c.onLoad != nil {
		c.onLoad(cert.Leaf)
	}
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	due := time.Since(c.lastCheck) >= c.CheckInterval
	if due {
		c.lastCheck = time.Now()
	}
	old := c.stamp
	c.mu.Unlock()
	if due {
		if st, err := c.stamps(); err == nil && st != old {
			_ = c.load() // keep the old certificate on error
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}

// TLSConfig returns a server config using the reloader.
func (c *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12}
}
