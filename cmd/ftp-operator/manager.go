//go:build !ftpdonly

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/controllers"
	"github.com/ftp-operator/ftp-operator/internal/logformat"
	"github.com/ftp-operator/ftp-operator/internal/opmetrics"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// managerGCPercent is the manager's GOGC unless the environment sets one. Its heap is mostly its caches, which
// change slowly: collecting at +50 % instead of Go's +100 % keeps its resident memory closer to what it caches, for
// a few more collections of a small heap (docs/benchmarks.md, "Operator memory with unrelated objects").
const managerGCPercent = 50

// runManager runs the operator until ctx ends.
func runManager(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	pool := fs.String("passive-port-pool", "30000-32767", "ports the operator hands out as passive ranges (START-END); the default lies in the NodePort range")
	image := fs.String("ftpd-image", os.Getenv("FTPD_IMAGE"), "image of the FTP server pods (the operator's own image; env FTPD_IMAGE)")
	pullPolicy := fs.String("ftpd-image-pull-policy", string(corev1.PullIfNotPresent), "pull policy of the FTP server pods: Always, IfNotPresent or Never")
	leaderElect := fs.Bool("leader-elect", true, "elect a leader so that only one replica allocates ports")
	leaderNS := fs.String("leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's namespace)")
	metricsAddr := fs.String("metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (0 disables)")
	metricsSecure := fs.Bool("metrics-secure", false, "serve the metrics over HTTPS to authenticated and authorised clients only: each scrape's bearer token is checked with a TokenReview and a SubjectAccessReview for GET /metrics (the manager needs create on both)")
	metricsCertDir := fs.String("metrics-cert-dir", "", "folder holding tls.crt and tls.key of the HTTPS metrics endpoint, reloaded when they change (with --metrics-secure; empty: a self-signed certificate made at start)")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	pprofAddr := fs.String("pprof-bind-address", "0", "address of Go's /debug/pprof/ profiles, unauthenticated: keep it on localhost (0 disables)")
	workers := fs.Int("max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "FTPServers reconciled at once")
	// Several installs in one cluster: each watches its own namespaces (and needs a passive-port pool of its own).
	watchNS := fs.String("watch-namespaces", "", "comma-separated namespaces whose FTPServers this manager serves (default: every namespace); give each install its own --passive-port-pool")
	nsLimit := fs.Int("max-ports-per-namespace", 0, "passive ports that the FTPServers of one namespace may hold together (0: no limit)")
	leaseDuration := fs.Duration("leader-election-lease-duration", 15*time.Second, "how long a standby waits after the leader's last renewal before it takes over")
	renewDeadline := fs.Duration("leader-election-renew-deadline", 10*time.Second, "how long the leader retries renewing before it gives up leadership (less than the lease duration)")
	retryPeriod := fs.Duration("leader-election-retry-period", 2*time.Second, "how often candidates try to acquire or renew the lease")
	allowedAnnotations := fs.String("allowed-service-annotations", render.DefaultAllowedServiceAnnotations,
		"comma-separated Service annotation keys that tenants may set through spec.service.annotations: exact keys, prefix/* or * (every key); others are left off the Service")
	opts := managerLogOptions()
	opts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	defaultGCPercent(managerGCPercent)
	r, err := portalloc.ParseRange(*pool)
	if err != nil {
		return fmt.Errorf("--passive-port-pool: %w", err)
	}
	if err := checkPool(r, *metricsAddr, *probeAddr, *pprofAddr); err != nil {
		return err
	}
	if *nsLimit < 0 || *nsLimit > 65535 {
		return fmt.Errorf("--max-ports-per-namespace %d: want 0 (no limit) to 65535", *nsLimit)
	}
	metricsOpts, err := metricsServerOptions(*metricsAddr, *metricsSecure, *metricsCertDir)
	if err != nil {
		return err
	}
	if *image == "" {
		return errors.New("--ftpd-image is required (the operator's own image)")
	}
	switch corev1.PullPolicy(*pullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("--ftpd-image-pull-policy %q: want Always, IfNotPresent or Never", *pullPolicy)
	}

	annotations, err := render.ParseAnnotationPolicy(*allowedAnnotations)
	if err != nil {
		return fmt.Errorf("--allowed-service-annotations: %w", err)
	}

	watched, err := watchNamespaces(*watchNS)
	if err != nil {
		return fmt.Errorf("--watch-namespaces: %w", err)
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := ftpv1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, controllers.ScopeCache(ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  *probeAddr,
		PprofBindAddress:        *pprofAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "ftp-operator.ftpoperator.io",
		LeaderElectionNamespace: *leaderNS,
		// A new leader must not allocate before the old one has stopped.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 leaseDuration,
		RenewDeadline:                 renewDeadline,
		RetryPeriod:                   retryPeriod,
		// --watch-namespaces: nil watches every namespace.
		Cache: cache.Options{DefaultNamespaces: watched},
	}))
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	alloc := portalloc.New(r)
	alloc.SetNamespaceLimit(int32(*nsLimit))
	rec := &controllers.FTPServerReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  scheme,
		Recorder:                mgr.GetEventRecorder("ftp-operator"),
		Allocator:               alloc,
		Render:                  render.Options{Image: *image, ImagePullPolicy: corev1.PullPolicy(*pullPolicy), AllowedServiceAnnotations: &annotations},
		MaxConcurrentReconciles: *workers,
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FTPServer controller: %w", err)
	}
	// Served on --metrics-bind-address with controller-runtime's own metrics.
	if err := ctrlmetrics.Registry.Register(opmetrics.New(rec.Allocator, rec.Client, version)); err != nil {
		return fmt.Errorf("registering the operator's metrics: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting manager", "version", version, "passivePortPool", r.String(), "maxPortsPerNamespace", *nsLimit, "ftpdImage", *image)
	return mgr.Start(ctx)
}

// managerLogOptions writes the operator's log in the schema of internal/logformat, the engine's too.
func managerLogOptions() zap.Options {
	return zap.Options{Development: false, TimeEncoder: logformat.ZapTime,
		EncoderConfigOptions: []zap.EncoderConfigOption{logformat.ZapEncoderConfig}}
}

// metricsServerOptions serves the metrics on addr: plain HTTP, or with secure HTTPS behind a TokenReview and
// SubjectAccessReview filter (metricsAuthFilter, the checks of the kubebuilder scaffold's). HTTP/2 is off on that endpoint, as in
// the scaffold: its stream handling has had denial-of-service flaws (CVE-2023-44487) and a scrape gains nothing.
func metricsServerOptions(addr string, secure bool, certDir string) (metricsserver.Options, error) {
	o := metricsserver.Options{BindAddress: addr}
	if !secure {
		if certDir != "" {
			return o, errors.New("--metrics-cert-dir needs --metrics-secure")
		}
		return o, nil
	}
	if certDir != "" {
		// controller-runtime falls back to a self-signed certificate when the files are missing; a folder given on
		// purpose must hold them.
		for _, f := range []string{"tls.crt", "tls.key"} {
			if _, err := os.Stat(filepath.Join(certDir, f)); err != nil {
				return o, fmt.Errorf("--metrics-cert-dir: %w", err)
			}
		}
		o.CertDir = certDir
	}
	o.SecureServing = true
	o.FilterProvider = metricsAuthFilter
	o.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	return o, nil
}

// checkPool refuses a pool that holds a port with another use: the Service's control ports (21, 990), the ports the
// engine listens on in its pod (a passive listener there would collide with them) and the operator's own metrics,
// health and pprof ports.
func checkPool(pool portalloc.Range, metricsAddr, probeAddr, pprofAddr string) error {
	reserved := []struct {
		port int32
		use  string
	}{
		{render.ServiceControlPort, "the FTP control port of every FTPServer's Service"},
		{render.ServiceImplicitPort, "the implicit-FTPS port of every FTPServer's Service"},
		{render.ContainerControlPort, "the engine's control port in its pod"},
		{render.ContainerImplicitPort, "the engine's implicit-FTPS port in its pod"},
		{render.ContainerHealthPort, "the engine's health port in its pod"},
	}
	for _, a := range []struct{ flag, addr string }{{"--metrics-bind-address", metricsAddr}, {"--health-probe-bind-address", probeAddr}, {"--pprof-bind-address", pprofAddr}} {
		if a.addr == "" || a.addr == "0" {
			continue
		}
		_, port, err := net.SplitHostPort(a.addr)
		if err != nil {
			return fmt.Errorf("%s %q: %w", a.flag, a.addr, err)
		}
		n, err := strconv.ParseInt(port, 10, 32)
		if err != nil {
			return fmt.Errorf("%s %q: port %q is not a number", a.flag, a.addr, port)
		}
		reserved = append(reserved, struct {
			port int32
			use  string
		}{int32(n), "the operator's " + strings.TrimPrefix(a.flag, "--")})
	}
	for _, p := range reserved {
		if pool.Contains(p.port) {
			return fmt.Errorf("--passive-port-pool %s holds port %d, %s; choose a pool without it, such as the default 30000-32767", pool, p.port, p.use)
		}
	}
	return nil
}
