package addressfollow_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// The engine's own REST client against a real API server, loaded from a kubeconfig file the way a developer runs
// the engine (CA and client certificate inline): Follow gets the published address at once and every change of it
// over its watch, and the Publisher sets and withdraws the pod's key in the health ConfigMap.
func TestClientFollowsAndPublishes(t *testing.T) {
	if err := support.UseEnvtestAssets(); err != nil {
		t.Skip(err)
	}
	e := support.EnvtestFor(t, support.EnvtestOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := engineconfig.FollowTarget{Namespace: "team-a", Name: "srv"}
	k := e.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: target.Namespace}}); err != nil {
		t.Fatal(err)
	}
	addr := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: target.Namespace, Name: target.ConfigMapName()},
		Data: map[string]string{engineconfig.AddressKey: "192.0.2.10"}}
	// Another ConfigMap in the namespace must not reach the follower (it watches its one name).
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: target.Namespace, Name: "other-ftpd"},
		Data: map[string]string{engineconfig.AddressKey: "198.51.100.1"}}
	health := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: target.Namespace, Name: target.HealthConfigMapName()}}
	for _, o := range []client.Object{addr, other, health} {
		if err := k.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	cfg := e.Config
	b64 := base64.StdEncoding.EncodeToString
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: `+cfg.Host+`
    certificate-authority-data: `+b64(cfg.CAData)+`
users:
- name: admin
  user:
    client-certificate-data: `+b64(cfg.CertData)+`
    client-key-data: `+b64(cfg.KeyData)+`
contexts:
- name: envtest
  context: {cluster: envtest, user: admin}
current-context: envtest
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing")+string(os.PathListSeparator)+kubeconfig)
	c, err := addressfollow.LoadClient()
	if err != nil {
		t.Fatal(err)
	}

	got := make(chan string, 16)
	if err := addressfollow.Follow(ctx, c, target, func(a string) { got <- a }); err != nil {
		t.Fatal(err)
	}
	expect := func(want string) {
		t.Helper()
		for {
			select {
			case a := <-got:
				if a == want {
					return
				}
				if a != "192.0.2.10" {
					t.Fatalf("follower got %q, want %q", a, want)
				}
			case <-ctx.Done():
				t.Fatalf("follower never got %q", want)
			}
		}
	}
	expect("192.0.2.10")
	other.Data[engineconfig.AddressKey] = "198.51.100.2"
	if err := k.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	addr.Data[engineconfig.AddressKey] = "192.0.2.20"
	if err := k.Update(ctx, addr); err != nil {
		t.Fatal(err)
	}
	expect("192.0.2.20")

	pub := addressfollow.NewPublisher(c, target, "srv-0")
	key := engineconfig.StorageHealthKey("srv-0")
	if err := pub.Publish(ctx, "StorageUnreachable: no route"); err != nil {
		t.Fatal(err)
	}
	if err := k.Get(ctx, client.ObjectKeyFromObject(health), health); err != nil || health.Data[key] != "StorageUnreachable: no route" {
		t.Fatalf("health ConfigMap after Publish: %v %v", health.Data, err)
	}
	if err := pub.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Get(ctx, client.ObjectKeyFromObject(health), health); err != nil {
		t.Fatal(err)
	} else if _, ok := health.Data[key]; ok {
		t.Fatalf("health ConfigMap after Withdraw: %v", health.Data)
	}
	// The kubeconfig's impersonation (as:) is honoured: an identity without rights is refused.
	nobody := filepath.Join(t.TempDir(), "kubeconfig")
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nobody, []byte(strings.Replace(string(b), "  user:\n", "  user:\n    as: system:serviceaccount:team-a:nobody\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", nobody)
	nc, err := addressfollow.LoadClient()
	if err != nil {
		t.Fatal(err)
	}
	if err := addressfollow.NewPublisher(nc, target, "srv-0").Publish(ctx, "Healthy"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Publish as an identity without rights: %v, want a 403 error", err)
	}
	// A ConfigMap a patch cannot create is an error with the API server's answer, not a silent success.
	err = addressfollow.NewPublisher(c, engineconfig.FollowTarget{Namespace: target.Namespace, Name: "gone"}, "srv-0").Publish(ctx, "Healthy")
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Publish to a missing ConfigMap: %v, want a 404 error", err)
	}
}

// Without a kubeconfig the client is the pod's: in-cluster credentials, and a clear error outside a cluster.
func TestLoadClientOutsideACluster(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := addressfollow.LoadClient(); err == nil || !strings.Contains(err.Error(), "not in a cluster") {
		t.Fatalf("LoadClient outside a cluster: %v", err)
	}
}
