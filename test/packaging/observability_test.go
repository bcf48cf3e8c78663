package packaging

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/opmetrics"
	"github.com/ftp-operator/ftp-operator/internal/promtext"
)

// recorder is a prometheus.Registerer that keeps the collectors it is given, so that their descriptions (every
// metric they can ever export, observed or not) can be listed.
type recorder struct{ cs []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error   { r.cs = append(r.cs, c); return nil }
func (r *recorder) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }
func (r *recorder) Unregister(prometheus.Collector) bool    { return false }

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedMetrics lists the names of the series the operator (opmetrics.New, from the collectors' own descriptions)
// and the engine (ftpd.NewMetrics, from its registry) export; histograms add _bucket, _sum and _count.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	engine := promtext.NewRegistry()
	ftpd.NewMetrics(engine)
	for _, n := range engine.Names() {
		names[n] = true
	}
	rec := &recorder{cs: []prometheus.Collector{opmetrics.New(nil, nil, "test")}}
	for _, c := range rec.cs {
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		// A histogram is exported as its _bucket, _sum and _count series.
		var suffixes []string
		switch c.(type) {
		case prometheus.Histogram, *prometheus.HistogramVec:
			suffixes = []string{"_bucket", "_sum", "_count"}
		}
		for d := range ch {
			m := descName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[m[1]] = true
			for _, sfx := range suffixes {
				names[m[1]+sfx] = true
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d metric names found: %v", len(names), names)
	}
	return names
}

// metricRef finds the metric names in a PromQL expression: identifiers of the two prefixes the project uses.
var metricRef = regexp.MustCompile(`\b(ftpd|ftp_operator)_[a-z0-9_]+\b`)

// checkMetrics fails for every metric name in expr that the code does not export, and for an expression with
// unbalanced brackets.
func checkMetrics(t *testing.T, where, expr string, exported map[string]bool, used map[string]bool) {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	if len(refs) == 0 {
		t.Errorf("%s: %q uses no ftpd_/ftp_operator_ metric", where, expr)
	}
	for _, n := range refs {
		if !exported[n] {
			t.Errorf("%s: metric %s is not exported by the operator or the engine (%q)", where, n, expr)
		}
		used[n] = true
	}
	for _, p := range []string{"()", "{}", "[]"} {
		if strings.Count(expr, p[:1]) != strings.Count(expr, p[1:]) {
			t.Errorf("%s: unbalanced %s in %q", where, p, expr)
		}
	}
}

// TestGrafanaDashboard: grafanaDashboard.enabled ships the dashboard as a ConfigMap with the sidecar label (and the
// namespace and extra labels asked for); the dashboard is valid JSON and every query uses only metrics the operator
// or the engine export.
func TestGrafanaDashboard(t *testing.T) {
	if has(helmTemplate(t), "ConfigMap", release+"-dashboard") {
		t.Fatalf("dashboard ConfigMap rendered by default")
	}
	objs := helmTemplate(t, "--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring",
		"--set", "grafanaDashboard.annotations.grafana_folder=FTP")
	cm := find(t, objs, "ConfigMap", release+"-dashboard")
	if cm.GetNamespace() != "monitoring" || cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetAnnotations()["grafana_folder"] != "FTP" {
		t.Errorf("ConfigMap %s/%s labels %v annotations %v, want namespace monitoring, grafana_dashboard=1, grafana_folder=FTP",
			cm.GetNamespace(), cm.GetName(), cm.GetLabels(), cm.GetAnnotations())
	}
	// Another sidecar label, and the release namespace by default.
	cm2 := find(t, helmTemplate(t, "--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.labels.grafana_dashboard=null",
		"--set", "grafanaDashboard.labels.dashboards=ftp"), "ConfigMap", release+"-dashboard")
	if cm2.GetNamespace() != namespace || cm2.GetLabels()["dashboards"] != "ftp" || cm2.GetLabels()["grafana_dashboard"] != "" {
		t.Errorf("ConfigMap %s labels %v, want the release namespace and only the label asked for", cm2.GetNamespace(), cm2.GetLabels())
	}

	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	raw, ok := data["ftp-operator.json"]
	if !ok || len(data) != 1 {
		t.Fatalf("ConfigMap data keys %v, want ftp-operator.json", slices.Collect(mapKeys(data)))
	}
	var dash struct {
		UID, Title string
		Templating struct{ List []struct{ Name, Type string } }
		Panels     []struct {
			Title, Type string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(raw), &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard uid %q title %q", dash.UID, dash.Title)
	}
	var vars []string
	for _, v := range dash.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") {
		t.Errorf("dashboard variables %v: want a datasource variable (no fixed data source UID)", vars)
	}
	exported, used := exportedMetrics(t), map[string]bool{}
	var queries int
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			checkMetrics(t, "panel "+p.Title, tg.Expr, exported, used)
		}
	}
	// The dashboard covers both sides and the signals the alerts are about.
	for _, want := range []string{"ftp_operator_ftpserver_conditions", "ftp_operator_passive_ports_free", "ftpd_sessions_active",
		"ftpd_lockouts_total", "ftpd_transfers_total", "ftpd_transfer_duration_seconds_bucket", "ftpd_passive_ports_in_use",
		"ftpd_tls_certificate_expiry_timestamp_seconds", "ftpd_build_info", "ftp_operator_build_info"} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	t.Logf("%d panels, %d queries, %d metrics", len(dash.Panels), queries, len(used))
}

// TestPrometheusRule: prometheusRule.enabled renders the alerts the issue asks for, with the thresholds from the
// values, and every expression uses only metrics the operator or the engine export.
func TestPrometheusRule(t *testing.T) {
	if has(helmTemplate(t), "PrometheusRule", "") {
		t.Fatalf("PrometheusRule rendered by default (it needs the prometheus-operator CRD)")
	}
	objs := helmTemplate(t, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=prom",
		"--set", "prometheusRule.additionalRuleLabels.team=storage", "--set", "prometheusRule.poolFreeRatio=0.25",
		"--set", "prometheusRule.notReadyFor=30m")
	pr := find(t, objs, "PrometheusRule", release)
	if pr.GetLabels()["release"] != "prom" || pr.GetNamespace() != namespace {
		t.Errorf("PrometheusRule %s labels %v", pr.GetNamespace(), pr.GetLabels())
	}
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	exported, used := exportedMetrics(t), map[string]bool{}
	alerts := map[string]map[string]any{}
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			expr, _ := rule["expr"].(string)
			alerts[name] = rule
			checkMetrics(t, "alert "+name, expr, exported, used)
			labels, _ := rule["labels"].(map[string]any)
			if labels["severity"] == nil || labels["team"] != "storage" {
				t.Errorf("alert %s labels %v, want severity and team=storage", name, labels)
			}
			ann, _ := rule["annotations"].(map[string]any)
			if ann["summary"] == nil || ann["description"] == nil {
				t.Errorf("alert %s annotations %v", name, ann)
			}
		}
	}
	var names []string
	for n := range alerts {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"FTPOperatorPassivePortPoolNearlyExhausted", "FTPServerCertificateExpiresSoon", "FTPServerLockouts",
		"FTPServerNotReady", "FTPServerPassivePortsNearlyExhausted", "FTPServerTransferErrors"}
	if !slices.Equal(names, want) {
		t.Fatalf("alerts %v, want %v", names, want)
	}
	if e := alerts["FTPOperatorPassivePortPoolNearlyExhausted"]["expr"].(string); !strings.HasSuffix(e, "< 0.25") {
		t.Errorf("pool alert %q does not use poolFreeRatio 0.25", e)
	}
	if f := alerts["FTPServerNotReady"]["for"]; f != "30m" {
		t.Errorf("FTPServerNotReady for %v, want notReadyFor 30m", f)
	}
	if e := alerts["FTPServerNotReady"]["expr"].(string); !strings.Contains(e, `condition="Ready"`) || !strings.Contains(e, `status="False"`) {
		t.Errorf("FTPServerNotReady %q does not select Ready=False", e)
	}
	if e := alerts["FTPServerTransferErrors"]["expr"].(string); !strings.Contains(e, `result="failed"`) {
		t.Errorf("FTPServerTransferErrors %q does not select failed transfers", e)
	}
}

// TestMetricNameCheckCatchesUnknownNames keeps checkMetrics honest: a misspelt metric is reported.
func TestMetricNameCheckCatchesUnknownNames(t *testing.T) {
	exported := exportedMetrics(t)
	for _, n := range []string{"ftp_operator_passive_ports_free", "ftpd_transfer_size_bytes_bucket", "ftpd_transfer_size_bytes_count", "ftpd_logins_total"} {
		if !exported[n] {
			t.Errorf("%s not among the exported metrics", n)
		}
	}
	for _, n := range []string{"ftpd_logins", "ftpd_lockouts_total_bucket", "ftp_operator_ports_free"} {
		if exported[n] {
			t.Errorf("%s listed as exported", n)
		}
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestSecureMetricsRendering: metrics.secure (the default) passes --metrics-secure, grants the manager TokenReviews
// and SubjectAccessReviews and ships the metrics-reader ClusterRole, with the same rules as config/rbac (which
// config/default installs); off, none of that and a plain-HTTP ServiceMonitor; certSecret mounts the certificate.
func TestSecureMetricsRendering(t *testing.T) {
	chart, kust := helmTemplate(t), kustomizeBuild(t, "config/default")
	src := readYAML(t, "config/rbac/metrics_auth_role.yaml")
	reader := find(t, readYAML(t, "config/rbac/metrics_reader_role.yaml"), "ClusterRole", "metrics-reader")
	for name, objs := range map[string][]unstructured.Unstructured{"chart": chart, "kustomize": kust} {
		d := string(field(t, find(t, objs, "Deployment", release+"-controller-manager"), "spec", "template", "spec", "containers"))
		if !strings.Contains(d, `"--metrics-secure=true"`) {
			t.Errorf("%s: manager without --metrics-secure=true: %s", name, d)
		}
		auth := find(t, objs, "ClusterRole", release+"-metrics-auth-role")
		if a, b := field(t, auth, "rules"), field(t, find(t, src, "ClusterRole", "metrics-auth-role"), "rules"); string(a) != string(b) ||
			!strings.Contains(string(a), `"tokenreviews"`) || !strings.Contains(string(a), `"subjectaccessreviews"`) {
			t.Errorf("%s: metrics-auth-role rules %s, config/rbac has %s", name, a, b)
		}
		b := find(t, objs, "ClusterRoleBinding", release+"-metrics-auth-rolebinding")
		if got := string(field(t, b, "subjects")); got != `[{"kind":"ServiceAccount","name":"`+release+`-controller-manager","namespace":"`+namespace+`"}]` {
			t.Errorf("%s: metrics-auth binding subjects %s", name, got)
		}
		if got := string(field(t, b, "roleRef", "name")); got != `"`+release+`-metrics-auth-role"` {
			t.Errorf("%s: metrics-auth binding roleRef %s", name, got)
		}
		if a, b := field(t, find(t, objs, "ClusterRole", release+"-metrics-reader"), "rules"), field(t, reader, "rules"); string(a) != string(b) ||
			string(a) != `[{"nonResourceURLs":["/metrics"],"verbs":["get"]}]` {
			t.Errorf("%s: metrics-reader rules %s, config/rbac has %s", name, a, b)
		}
	}

	plain := helmTemplate(t, "--set", "metrics.secure=false", "--set", "metrics.serviceMonitor.enabled=true")
	for _, n := range []string{"-metrics-auth-role", "-metrics-reader"} {
		if has(plain, "ClusterRole", release+n) {
			t.Errorf("metrics.secure=false still renders ClusterRole %s", release+n)
		}
	}
	if d := string(field(t, find(t, plain, "Deployment", release+"-controller-manager"), "spec", "template", "spec", "containers")); !strings.Contains(d, `"--metrics-secure=false"`) {
		t.Errorf("metrics.secure=false: %s", d)
	}
	if got := string(field(t, find(t, plain, "ServiceMonitor", release+"-controller-manager-metrics-monitor"), "spec", "endpoints")); !strings.Contains(got, `"scheme":"http"`) ||
		strings.Contains(got, "bearerTokenFile") || strings.Contains(got, "tlsConfig") {
		t.Errorf("metrics.secure=false ServiceMonitor endpoints %s", got)
	}

	certs := find(t, helmTemplate(t, "--set", "metrics.certSecret=metrics-tls"), "Deployment", release+"-controller-manager")
	spec := string(field(t, certs, "spec", "template", "spec"))
	for _, want := range []string{`"--metrics-cert-dir=/var/run/metrics-certs"`, `{"mountPath":"/var/run/metrics-certs","name":"metrics-certs","readOnly":true}`,
		`{"name":"metrics-certs","secret":{"secretName":"metrics-tls"}}`} {
		if !strings.Contains(spec, want) {
			t.Errorf("metrics.certSecret: pod spec lacks %s: %s", want, spec)
		}
	}
}

// checkSecureMetrics scrapes the manager of release rel, running as its chart ServiceAccount with --metrics-secure:
// the chart's metrics-auth ClusterRole must let it review tokens (else 500), and a scraper needs the chart's
// metrics-reader ClusterRole (403 without, the operator's metrics with).
func checkSecureMetrics(t *testing.T, cs kubernetes.Interface, chart []unstructured.Unstructured, rel, relNS, addr string) {
	t.Helper()
	ctx := context.Background()
	reader := find(t, chart, "ClusterRole", rel+"-metrics-reader").GetName()
	token := func(sa string) string {
		if _, err := cs.CoreV1().ServiceAccounts(relNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts(relNS).CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	scraper, other := token("scraper"), token("not-a-scraper")
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: rel + "-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: relNS}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, tc := range []struct {
		who, token string
		want       int
	}{{"no token", "", http.StatusUnauthorized}, {"a ServiceAccount without metrics-reader", other, http.StatusForbidden},
		{"a ServiceAccount bound to " + reader, scraper, http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("scraping %s as %s: %v", addr, tc.who, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == http.StatusOK) != strings.Contains(string(body), "ftp_operator_build_info") {
			t.Errorf("scraping as %s: HTTP %d, want %d: %.300s", tc.who, resp.StatusCode, tc.want, body)
		}
	}
}
