package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/controllers"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// runManager runs the operator until ctx ends.
func runManager(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	pool := fs.String("passive-port-pool", "30000-32767", "ports the operator hands out as passive ranges (START-END); the default lies in the NodePort range")
	image := fs.String("ftpd-image", os.Getenv("FTPD_IMAGE"), "image of the FTP server pods (the operator's own image; env FTPD_IMAGE)")
	pullPolicy := fs.String("ftpd-image-pull-policy", string(corev1.PullIfNotPresent), "pull policy of the FTP server pods: Always, IfNotPresent or Never")
	leaderElect := fs.Bool("leader-elect", true, "elect a leader so that only one replica allocates ports")
	leaderNS := fs.String("leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's namespace)")
	metricsAddr := fs.String("metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (0 disables)")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	workers := fs.Int("max-concurrent-reconciles", 4, "FTPServers reconciled at once")
	leaseDuration := fs.Duration("leader-election-lease-duration", 15*time.Second, "how long a standby waits after the leader's last renewal before it takes over")
	renewDeadline := fs.Duration("leader-election-renew-deadline", 10*time.Second, "how long the leader retries renewing before it gives up leadership (less than the lease duration)")
	retryPeriod := fs.Duration("leader-election-retry-period", 2*time.Second, "how often candidates try to acquire or renew the lease")
	opts := zap.Options{Development: false}
	opts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	r, err := portalloc.ParseRange(*pool)
	if err != nil {
		return fmt.Errorf("--passive-port-pool: %w", err)
	}
	if *image == "" {
		return errors.New("--ftpd-image is required (the operator's own image)")
	}
	switch corev1.PullPolicy(*pullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("--ftpd-image-pull-policy %q: want Always, IfNotPresent or Never", *pullPolicy)
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
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "ftp-operator.ftpoperator.io",
		LeaderElectionNamespace: *leaderNS,
		// A new leader must not allocate before the old one has stopped.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 leaseDuration,
		RenewDeadline:                 renewDeadline,
		RetryPeriod:                   retryPeriod,
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
	rec := &controllers.FTPServerReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  scheme,
		Recorder:                mgr.GetEventRecorder("ftp-operator"),
		Allocator:               portalloc.New(r),
		Render:                  render.Options{Image: *image, ImagePullPolicy: corev1.PullPolicy(*pullPolicy)},
		MaxConcurrentReconciles: *workers,
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FTPServer controller: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting manager", "version", version, "passivePortPool", r.String(), "ftpdImage", *image)
	return mgr.Start(ctx)
}
