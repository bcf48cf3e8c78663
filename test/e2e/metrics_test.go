//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestOperatorMetricsAuth: the chart's default (metrics.secure) serves the manager's /metrics over HTTPS to a
// ServiceAccount bound to the chart's metrics-reader ClusterRole only, checked by the cluster's own API server
// (TokenReview, SubjectAccessReview) with the chart's RBAC for the manager.
func TestOperatorMetricsAuth(t *testing.T) {
	ctx := context.Background()
	var pods corev1.PodList
	if err := k8s.List(ctx, &pods, client.InNamespace(config.namespace),
		client.MatchingLabels{"app.kubernetes.io/name": "ftp-operator", "app.kubernetes.io/instance": config.release}); err != nil {
		t.Fatal(err)
	}
	var podIP string
	for _, p := range pods.Items {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			podIP = p.Status.PodIP
		}
	}
	if podIP == "" {
		t.Fatalf("no manager pod with an address among %d", len(pods.Items))
	}
	ns := newNamespace(t, "e2e-metrics")
	token := func(sa string) string {
		if _, err := clientset.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	prom, other := token("prometheus"), token("someone")
	// The chart's metrics-reader ClusterRole (its name follows the release's full name).
	var roles rbacv1.ClusterRoleList
	if err := k8s.List(ctx, &roles, client.MatchingLabels{"app.kubernetes.io/instance": config.release}); err != nil {
		t.Fatal(err)
	}
	var reader string
	for _, r := range roles.Items {
		if strings.HasSuffix(r.Name, "-metrics-reader") {
			reader = r.Name
		}
	}
	if reader == "" {
		t.Fatalf("the release has no metrics-reader ClusterRole")
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}},
	}
	if err := k8s.Create(ctx, crb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), crb) })

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := "https://" + net.JoinHostPort(podIP, "8080") + "/metrics"
	get := func(bearer string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A binding reaches the API server's authorizer within a moment, but a refusal before that stays in the
	// manager's cache for 30 s: allow a minute.
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := get(prom)
		if code == http.StatusOK && strings.Contains(body, "ftp_operator_build_info") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bound ServiceAccount: HTTP %d: %.300s", code, body)
		}
		time.Sleep(time.Second)
	}
	for _, tc := range []struct {
		who, token string
		want       int
	}{{"no token", "", http.StatusUnauthorized}, {"a ServiceAccount without metrics-reader", other, http.StatusForbidden}} {
		if code, body := get(tc.token); code != tc.want {
			t.Errorf("%s: HTTP %d, want %d: %.300s", tc.who, code, tc.want, body)
		}
	}
	fmt.Printf("e2e: operator metrics at %s: 401 without a token, 403 without metrics-reader, 200 with it\n", url)
}
