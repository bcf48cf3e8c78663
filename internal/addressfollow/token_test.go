package addressfollow

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// In a pod the client reads the ServiceAccount's CA and token from the kubelet's files, sends the token as a
// bearer token, and reads the file again after tokenReload, since the kubelet rotates projected tokens.
func TestInClusterClientRereadsRotatedToken(t *testing.T) {
	var seen []string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"metadata":{"resourceVersion":"1"},"items":[]}`))
	}))
	defer api.Close()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(api.URL, "https://"), ":")
	c, err := inClusterClient(dir, host, port)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != api.URL {
		t.Fatalf("host %q, want %q", c.Host, api.URL)
	}
	get := func() {
		t.Helper()
		resp, err := c.do(t.Context(), http.MethodGet, c.Host+"/api/v1/namespaces/ns/configmaps", "", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get()
	if err := os.WriteFile(token, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	get() // still within tokenReload: the token read before
	c.HTTP.Transport.(*bearer).tokens.read = time.Now().Add(-tokenReload - time.Second)
	get()
	want := []string{"Bearer first", "Bearer first", "Bearer second"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("Authorization headers %q, want %q", seen, want)
	}
	// The CA is the only one trusted: the system pool does not know httptest's certificate.
	if _, err := api.Certificate().Verify(x509.VerifyOptions{}); err == nil {
		t.Fatal("httptest's certificate verifies without our CA; the test proves nothing about the CA file")
	}
}
