//go:build !ftpdonly

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestSecureMetricsOnAPIServer runs the manager with --metrics-secure against a real API server (envtest) and
// scrapes it: no token, a token the API server does not know and a ServiceAccount without the metrics-reader
// ClusterRole are refused (401, 401, 403); a ServiceAccount bound to config/rbac/metrics_reader_role.yaml gets the
// operator's metrics; plain HTTP gets nothing.
func TestSecureMetricsOnAPIServer(t *testing.T) {
	if err := support.UseEnvtestAssets(); err != nil {
		t.Skip(err)
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The scrapers: one bound to the metrics-reader ClusterRole as config/rbac ships it, one not.
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var reader rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &reader); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(sa string) string {
		if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("token for %s: %v", sa, err)
		}
		return tr.Status.Token
	}
	promToken, strangerToken := token("prometheus"), token("stranger")
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: "default"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Setenv("KUBECONFIG", support.Kubeconfig(t, env, "operator"))
	addr := fmt.Sprintf("127.0.0.1:%d", support.FreePort(t))
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runManager(mctx, []string{"--ftpd-image=x", "--leader-elect=false", "--health-probe-bind-address=0",
			"--metrics-bind-address=" + addr, "--metrics-secure"})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(scheme, bearer string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	// Wait for the endpoint (the manager starts it with its caches).
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, err := get("https", ""); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("metrics endpoint %s not up: %v", addr, err)
		}
		select {
		case err := <-done:
			t.Fatalf("manager exited: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}

	for _, tc := range []struct {
		name, bearer string
		want         int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "not-a-token", http.StatusUnauthorized},
		{"ServiceAccount without metrics-reader", strangerToken, http.StatusForbidden},
		{"ServiceAccount with metrics-reader", promToken, http.StatusOK},
	} {
		code, body, err := get("https", tc.bearer)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if code != tc.want {
			t.Errorf("%s: HTTP %d, want %d: %.200s", tc.name, code, tc.want, body)
		}
		if hasMetrics := strings.Contains(body, "ftp_operator_build_info"); hasMetrics != (tc.want == http.StatusOK) {
			t.Errorf("%s: metrics in the answer: %v (%.200s)", tc.name, hasMetrics, body)
		}
	}
	if code, body, err := get("http", promToken); err == nil && (code == http.StatusOK || strings.Contains(body, "ftp_operator_build_info")) {
		t.Errorf("plain HTTP served the metrics: %d", code)
	}
}

// TestMetricsServerOptions: plain HTTP unless --metrics-secure; a certificate folder needs --metrics-secure and
// must hold tls.crt and tls.key (controller-runtime would silently fall back to a self-signed certificate).
func TestMetricsServerOptions(t *testing.T) {
	o, err := metricsServerOptions(":8080", false, "")
	if err != nil || o.SecureServing || o.FilterProvider != nil {
		t.Errorf("plain: %+v %v", o, err)
	}
	o, err = metricsServerOptions(":8443", true, "")
	if err != nil || !o.SecureServing || o.FilterProvider == nil || len(o.TLSOpts) != 1 {
		t.Errorf("secure: %+v %v", o, err)
	}
	c := &tls.Config{NextProtos: []string{"h2"}}
	o.TLSOpts[0](c)
	if strings.Join(c.NextProtos, ",") != "http/1.1" {
		t.Errorf("secure endpoint offers %v, want HTTP/1.1 only", c.NextProtos)
	}
	dir := t.TempDir()
	if _, err := metricsServerOptions(":8443", false, dir); err == nil || !strings.Contains(err.Error(), "needs --metrics-secure") {
		t.Errorf("cert dir without --metrics-secure: %v", err)
	}
	if _, err := metricsServerOptions(":8443", true, dir); err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("empty cert dir: %v", err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if o, err := metricsServerOptions(":8443", true, dir); err != nil || o.CertDir != dir {
		t.Errorf("cert dir: %+v %v", o, err)
	}
}

type fakeReviews struct {
	calls int
	user  string // "" : not authenticated
	err   error
}

func (f *fakeReviews) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := tr.DeepCopy()
	out.Status = authenticationv1.TokenReviewStatus{Authenticated: f.user != "", User: authenticationv1.UserInfo{Username: f.user,
		Groups: []string{"system:serviceaccounts"}, Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}}
	return out, nil
}

type fakeAccess struct {
	calls int
	allow bool
	last  authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeAccess) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f.calls++
	f.last = sar.Spec
	out := sar.DeepCopy()
	out.Status.Allowed = f.allow
	return out, nil
}

// TestMetricsAuthCache: answers are cached per token (allowed for allowTTL, refused for denyTTL), the review asks
// about the request's path and verb for the token's user, and an API error gives 500 and is not cached.
func TestMetricsAuthCache(t *testing.T) {
	now := time.Unix(1000, 0)
	rev, acc := &fakeReviews{user: "system:serviceaccount:monitoring:prometheus"}, &fakeAccess{allow: true}
	a := &metricsAuth{reviews: rev, access: acc, allowTTL: 5 * time.Minute, denyTTL: 30 * time.Second, now: func() time.Time { return now }}
	h, _ := a.filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics") }))
	do := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, "https://x/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := do("t1"); c != http.StatusOK || rev.calls != 1 || acc.calls != 1 {
		t.Fatalf("first: %d, %d reviews, %d access reviews", c, rev.calls, acc.calls)
	}
	if acc.last.User != rev.user || acc.last.NonResourceAttributes == nil || *acc.last.NonResourceAttributes != (authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}) ||
		len(acc.last.Groups) != 1 || acc.last.Extra["k"][0] != "v" {
		t.Errorf("SubjectAccessReview %+v", acc.last)
	}
	now = now.Add(4 * time.Minute)
	if c := do("t1"); c != http.StatusOK || rev.calls != 1 {
		t.Errorf("within allowTTL: %d, %d reviews (want the cached answer)", c, rev.calls)
	}
	now = now.Add(2 * time.Minute)
	if do("t1"); rev.calls != 2 {
		t.Errorf("after allowTTL: %d reviews, want a new one", rev.calls)
	}

	acc.allow = false
	if c := do("t2"); c != http.StatusForbidden {
		t.Errorf("refused: %d", c)
	}
	acc.allow = true
	now = now.Add(20 * time.Second)
	if c := do("t2"); c != http.StatusForbidden || rev.calls != 3 {
		t.Errorf("within denyTTL: %d, %d reviews", c, rev.calls)
	}
	now = now.Add(20 * time.Second)
	if c := do("t2"); c != http.StatusOK || rev.calls != 4 {
		t.Errorf("after denyTTL (now bound): %d, %d reviews", c, rev.calls)
	}

	rev.err = errors.New("API server down")
	if c := do("t3"); c != http.StatusInternalServerError {
		t.Errorf("API error: %d", c)
	}
	rev.err = nil
	if c := do("t3"); c != http.StatusOK || rev.calls != 6 {
		t.Errorf("after an API error: %d, %d reviews (errors are not cached)", c, rev.calls)
	}
	rev.user = ""
	if c := do("t4"); c != http.StatusUnauthorized {
		t.Errorf("unauthenticated: %d", c)
	}
}
