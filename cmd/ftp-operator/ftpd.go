package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/logformat"
	"github.com/ftp-operator/ftp-operator/internal/promtext"
)

// engineGCPercent is the engine's GOGC unless the environment sets one. Its live heap is small (about 1 MiB with 100
// sessions moving data), so Go's heap floor of 4 MB at GOGC=100 is most of its heap: over a long run with many
// short sessions the garbage of their logins and commands piles up to that floor between collections. At +50 %
// the floor is 2 MB; the extra collections of a 1 MiB heap cost no measurable CPU (docs/benchmarks.md, "Engine
// memory over a long run").
const engineGCPercent = 50

// runFTPD runs the `ftpd` subcommand until ctx is cancelled, then drains.
func runFTPD(ctx context.Context, args []string) error {
	defaultGCPercent(engineGCPercent)
	cfg, err := engineconfig.Parse(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := logformat.NewSlogLogger(os.Stderr, cfg.SlogLevel())
	reg := promtext.NewRegistry()
	reg.CollectRuntime()
	metrics := ftpd.NewMetrics(reg)
	metrics.SetBuildInfo(version)
	srv, closers, err := buildServer(cfg, logger, metrics)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()

	if srv.Relay != nil && !cfg.Address.Follow.IsZero() {
		// The relay's peers by their names under the headless Service, or from the API where no cluster DNS answers.
		kc, err := kubeClient()
		if err != nil {
			return err
		}
		srv.Resolver = addressfollow.PeerResolver{DNS: net.DefaultResolver, Client: kc, Namespace: cfg.Address.Follow.Namespace,
			Domain: cfg.Relay.PeerDomain}
	}
	if cfg.Address.File != "" {
		go srv.WatchAddressFile(ctx, cfg.Address.File, time.Second)
	}
	// Serve first, follow the address in the background: an engine that starts while the API server is unreachable
	// must still open its port (liveness), serve logins and EPSV, and answer PASV with 425 until the address is known.
	if !cfg.Address.Follow.IsZero() {
		if err := followFTPServerAddress(ctx, cfg.Address.Follow, srv.SetPublicAddress, logger); err != nil {
			return err
		}
	}
	// The storage's health goes to the operator through the same ConfigMap, so that the FTPServer says why it is
	// not Ready; the key is withdrawn when the engine stops (healthDone).
	var healthDone <-chan struct{}
	if h, ok := srv.Storage.(storageHealth); ok && !cfg.Address.Follow.IsZero() {
		if healthDone, err = publishStorageHealth(ctx, cfg.Address.Follow, h, logger); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	if srv.TLSMode == ftpd.TLSImplicit {
		il, err := net.Listen("tcp", cfg.ImplicitListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listening on %s: %w", cfg.ImplicitListen, err)
		}
		go func() { errc <- srv.ServeImplicitTLS(il) }()
	}
	var health *http.Server
	if cfg.HealthListen != "" {
		health = healthServer(cfg.HealthListen, srv, reg)
		hl, err := net.Listen("tcp", cfg.HealthListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listening on %s: %w", cfg.HealthListen, err)
		}
		go func() {
			if err := health.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("health server: %w", err)
			}
		}()
	}
	logger.Info("ftpd started", "listen", cfg.Listen, "root", cfg.Root, "passivePorts", srv.PassivePorts.String(),
		"publicAddress", srv.PublicAddress, "tlsMode", string(srv.TLSMode), "activeMode", srv.ActiveMode)

	select {
	case <-ctx.Done():
	case err := <-errc:
		srv.Close()
		return err
	}
	logger.Info("shutting down, draining transfers", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// The health server keeps serving while the sessions drain: /readyz answers 503 from the first moment of the
	// shutdown (Serving is false), so no new control connection is sent here, while /healthz stays 200, so the
	// kubelet does not kill a pod that is finishing its transfers, and /metrics shows the drain.
	drainErr := srv.Shutdown(sctx)
	if healthDone != nil {
		<-healthDone
	}
	if health != nil {
		_ = health.Shutdown(sctx)
	}
	if drainErr != nil {
		srv.Close()
		return fmt.Errorf("draining sessions: %w", drainErr)
	}
	return nil
}

// buildServer builds the engine from its configuration, which Parse has validated; it only opens what the
// configuration names (users file, certificate, transfer log). metrics may be nil.
func buildServer(cfg engineconfig.Config, logger *slog.Logger, metrics *ftpd.Metrics) (*ftpd.Server, []io.Closer, error) {
	var closers []io.Closer
	if fi, err := os.Stat(cfg.Root); !cfg.S3.Enabled() && (err != nil || !fi.IsDir()) {
		return nil, nil, fmt.Errorf("--root %s: not a directory", cfg.Root)
	}
	auth, err := ftpd.NewFileAuthenticator(cfg.Users)
	if err != nil {
		return nil, nil, err
	}
	ports, err := cfg.Passive.PortsFor(os.Getenv(engineconfig.PodNameEnv))
	if err != nil {
		return nil, nil, err
	}
	srv := &ftpd.Server{
		Addr:             cfg.Listen,
		Auth:             auth,
		FileSystems:      ftpd.RootFS{Dir: cfg.Root},
		PassivePorts:     ports,
		PassiveHost:      cfg.Passive.Host,
		PassiveMux:       cfg.Passive.Mux,
		PublicAddress:    cfg.Address.Static,
		AddressOverrides: cfg.Address.Overrides,
		ProxyProtocol:    cfg.ProxyProtocol.Enabled,
		ProxyTrusted:     cfg.ProxyProtocol.Trusted,
		ActiveMode:       cfg.ActiveMode,
		TLSMode:          cfg.TLS.Mode,
		IdleTimeout:      cfg.Limits.IdleTimeout,
		DataTimeout:      cfg.Limits.DataTimeout,
		LoginTimeout:     cfg.Limits.LoginTimeout,
		MaxSessions:      cfg.Limits.MaxSessions,
		MaxSessionsPerIP: cfg.Limits.MaxSessionsPerIP,
		BandwidthLimit:   cfg.Limits.BandwidthLimit,
		SyncUploads:      cfg.FsyncUploads,
		Lockout:          ftpd.LockoutPolicy{Threshold: cfg.Limits.LockoutThreshold, Backoff: cfg.Limits.LockoutBackoff},
		XferLogFormat:    cfg.XferLogFormat,
		Logger:           logger,
		Metrics:          metrics,
	}
	if srv.Relay, err = cfg.ServerRelay(os.Getenv(engineconfig.PodNameEnv)); err != nil {
		return nil, nil, err
	}
	if cfg.S3.Enabled() {
		st, err := newS3Storage(cfg.S3)
		if err != nil {
			return nil, nil, err
		}
		srv.Storage = st
	}
	if cfg.TLS.Cert != "" {
		cr, err := ftpd.NewCertReloader(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return nil, nil, err
		}
		cr.OnLoad(metrics.CertificateLoaded)
		srv.TLSConfig = cr.TLSConfig()
		srv.TLSSessionReuseOptional = !cfg.TLS.RequireSessionReuse
	}
	switch cfg.XferLog {
	case "":
	case "-":
		srv.XferLog = os.Stdout
	default:
		f, err := os.OpenFile(cfg.XferLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--xferlog: %w", err)
		}
		srv.XferLog = f
		closers = append(closers, f)
	}
	return srv, closers, nil
}

func healthServer(addr string, srv *ftpd.Server, reg *promtext.Registry) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !srv.Serving() {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		if a, ok := srv.Auth.(*ftpd.FileAuthenticator); ok && !a.Ready() {
			http.Error(w, "users not loaded", http.StatusServiceUnavailable)
			return
		}
		if h, ok := srv.Storage.(storageHealth); ok {
			if err := h.Health(r.Context()); err != nil {
				http.Error(w, "storage unavailable: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/metrics", reg)
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}
