package support

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
)

// EngineClient is the engine's API client (addressfollow.Client) for cfg, with everything cfg carries (envtest's
// certificates, an impersonated engine ServiceAccount), so tests follow addresses the way the pod does.
func EngineClient(t testing.TB, cfg *rest.Config) *addressfollow.Client {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	return &addressfollow.Client{Host: strings.TrimSuffix(host, "/"), HTTP: hc}
}
