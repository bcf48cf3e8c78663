package addressfollow

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
)

// Client is the engine's connection to the API server: its base URL and an HTTP client carrying the credentials.
// The engine makes three kinds of request (list and watch one ConfigMap, merge-patch another), so it speaks the
// REST API directly instead of linking client-go: client-go and its scheme made up most of the engine's resident
// memory (docs/benchmarks.md, issue 10).
type Client struct {
	// Host is the API server's URL, such as https://10.96.0.1:443.
	Host string
	// HTTP sends the requests; its transport authenticates them (bearer token, client certificate) and trusts
	// the API server's CA.
	HTTP *http.Client
}

// In-cluster credentials, as the kubelet mounts them for the pod's ServiceAccount.
const (
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	// tokenReload is how long a read service-account token is used before the file is read again: the kubelet
	// rotates projected tokens (client-go re-reads them every minute too).
	tokenReload = time.Minute
)

// LoadClient returns the engine's client: from the kubeconfig file when there is one (the first existing file of
// $KUBECONFIG, else ~/.kube/config), else the pod's in-cluster credentials. Kubeconfig support is what a
// developer running the engine by hand needs: the current context's server, CA (file or data,
// insecure-skip-tls-verify, tls-server-name), and a token (inline or tokenFile) or client certificate (file or
// data), basic authentication and impersonation (as, as-groups, as-uid); exec and auth-provider plugins are not
// supported.
func LoadClient() (*Client, error) {
	if path := kubeconfigPath(); path != "" {
		return kubeconfigClient(path)
	}
	return inClusterClient(serviceAccountDir, os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
}

func kubeconfigPath() string {
	var paths []string
	if env := os.Getenv("KUBECONFIG"); env != "" {
		paths = filepath.SplitList(env)
	} else if home, err := os.UserHomeDir(); err == nil {
		paths = []string{filepath.Join(home, ".kube", "config")}
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func inClusterClient(dir, host, port string) (*Client, error) {
	if host == "" || port == "" {
		return nil, errors.New("no kubeconfig and not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)")
	}
	tokenFile := filepath.Join(dir, "token")
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, fmt.Errorf("in-cluster credentials: %w", err)
	}
	pool, err := certPool(filepath.Join(dir, "ca.crt"), "")
	if err != nil {
		return nil, fmt.Errorf("in-cluster credentials: %w", err)
	}
	return newClient("https://"+net.JoinHostPort(host, port), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		&tokenSource{file: tokenFile}), nil
}

// kubeconfig is the part of a kubeconfig file the engine uses.
type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Contexts       []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	Clusters []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthority     string `json:"certificate-authority"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify"`
			TLSServerName            string `json:"tls-server-name"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string         `json:"token"`
			TokenFile             string         `json:"tokenFile"`
			ClientCertificate     string         `json:"client-certificate"`
			ClientCertificateData string         `json:"client-certificate-data"`
			ClientKey             string         `json:"client-key"`
			ClientKeyData         string         `json:"client-key-data"`
			Username              string         `json:"username"`
			Password              string         `json:"password"`
			As                    string         `json:"as"`
			AsGroups              []string       `json:"as-groups"`
			AsUID                 string         `json:"as-uid"`
			Exec                  map[string]any `json:"exec"`
			AuthProvider          map[string]any `json:"auth-provider"`
		} `json:"user"`
	} `json:"users"`
}

func kubeconfigClient(path string) (*Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	fail := func(format string, a ...any) (*Client, error) {
		return nil, fmt.Errorf("kubeconfig %s: %s", path, fmt.Sprintf(format, a...))
	}
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	if clusterName == "" {
		return fail("current context %q not found", kc.CurrentContext)
	}
	// Relative file names in a kubeconfig are relative to the file.
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	host := ""
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		host = strings.TrimSuffix(c.Cluster.Server, "/")
		tlsCfg.ServerName = c.Cluster.TLSServerName
		tlsCfg.InsecureSkipVerify = c.Cluster.InsecureSkipTLSVerify //nolint:gosec // what the kubeconfig asks for
		if c.Cluster.CertificateAuthority != "" || c.Cluster.CertificateAuthorityData != "" {
			if tlsCfg.RootCAs, err = certPool(rel(c.Cluster.CertificateAuthority), c.Cluster.CertificateAuthorityData); err != nil {
				return fail("cluster %q: %v", clusterName, err)
			}
		}
	}
	if host == "" {
		return fail("cluster %q has no server", clusterName)
	}
	var tokens *tokenSource
	var auth credentials
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		user := u.User
		if user.Exec != nil || user.AuthProvider != nil {
			return fail("user %q: exec and auth-provider credentials are not supported by the engine; use a token or a client certificate", userName)
		}
		switch {
		case user.Token != "":
			tokens = &tokenSource{token: user.Token}
		case user.TokenFile != "":
			tokens = &tokenSource{file: rel(user.TokenFile)}
		}
		auth = credentials{username: user.Username, password: user.Password, as: user.As, asGroups: user.AsGroups, asUID: user.AsUID}
		if user.ClientCertificate != "" || user.ClientCertificateData != "" {
			cert, key, err := pemPair(rel(user.ClientCertificate), user.ClientCertificateData, rel(user.ClientKey), user.ClientKeyData)
			if err != nil {
				return fail("user %q: %v", userName, err)
			}
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return fail("user %q: %v", userName, err)
			}
			tlsCfg.Certificates = []tls.Certificate{pair}
		}
	}
	c := newClient(host, tlsCfg, tokens)
	if auth.username != "" || auth.password != "" || auth.as != "" || auth.asUID != "" || len(auth.asGroups) > 0 {
		c.HTTP.Transport = &credentialsTransport{credentials: auth, next: c.HTTP.Transport}
	}
	return c, nil
}

// credentials are a kubeconfig user's basic authentication and impersonation (as, as-groups, as-uid).
type credentials struct {
	username, password, as, asUID string
	asGroups                      []string
}

type credentialsTransport struct {
	credentials
	next http.RoundTripper
}

func (t *credentialsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if t.username != "" || t.password != "" {
		r.SetBasicAuth(t.username, t.password)
	}
	if t.as != "" {
		r.Header.Set("Impersonate-User", t.as)
	}
	for _, g := range t.asGroups {
		r.Header.Add("Impersonate-Group", g)
	}
	if t.asUID != "" {
		r.Header.Set("Impersonate-Uid", t.asUID)
	}
	return t.next.RoundTrip(r)
}

func newClient(host string, tlsCfg *tls.Config, tokens *tokenSource) *Client {
	base := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 2,
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	var rt http.RoundTripper = base
	if tokens != nil {
		rt = &bearer{tokens: tokens, next: base}
	}
	return &Client{Host: host, HTTP: &http.Client{Transport: rt}}
}

// certPool trusts the PEM certificates of file or of data (base64, as in a kubeconfig).
func certPool(file, data string) (*x509.CertPool, error) {
	pem, err := fileOrData(file, data)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("certificate authority: no PEM certificate")
	}
	return pool, nil
}

func pemPair(certFile, certData, keyFile, keyData string) (cert, key []byte, err error) {
	if cert, err = fileOrData(certFile, certData); err != nil {
		return nil, nil, fmt.Errorf("client certificate: %w", err)
	}
	if key, err = fileOrData(keyFile, keyData); err != nil {
		return nil, nil, fmt.Errorf("client key: %w", err)
	}
	return cert, key, nil
}

func fileOrData(file, data string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	return os.ReadFile(file)
}

// tokenSource is a fixed bearer token or one read from a file, re-read after tokenReload.
type tokenSource struct {
	token string
	file  string

	mu   sync.Mutex
	read time.Time
}

func (s *tokenSource) get() (string, error) {
	if s.file == "" {
		return s.token, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" || time.Since(s.read) > tokenReload {
		b, err := os.ReadFile(s.file)
		if err != nil {
			if s.token != "" {
				return s.token, nil // keep using the last token; the next request tries again
			}
			return "", fmt.Errorf("reading the token: %w", err)
		}
		s.token, s.read = strings.TrimSpace(string(b)), time.Now()
	}
	return s.token, nil
}

// bearer adds the Authorization header.
type bearer struct {
	tokens *tokenSource
	next   http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	token, err := b.tokens.get()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return b.next.RoundTrip(r)
}
