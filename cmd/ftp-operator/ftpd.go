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
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// ftpdConfig holds the parsed flags of the ftpd subcommand.
type ftpdConfig struct {
	listen, implicitListen, healthListen string
	root, users                          string
	passivePorts, passiveHost            string
	passiveMux                           bool
	publicAddress, addressFile           string
	kubernetesFTPServer                  string
	addressOverrides                     string
	tlsCert, tlsKey, tlsMode             string
	tlsRequireSessionReuse               bool
	activeMode                           string
	proxyProtocol                        bool
	proxyTrusted                         string
	xferlog                              string
	idleTimeout, dataTimeout             time.Duration
	loginTimeout                         time.Duration
	maxSessions, maxSessionsPerIP        int
	bandwidth                            int64
	lockoutThreshold                     int
	lockoutBackoff                       time.Duration
	logLevel                             string
	fsyncUploads                         bool
	shutdownTimeout                      time.Duration
}

func parseFTPDFlags(args []string, stderr io.Writer) (*ftpdConfig, error) {
	c := &ftpdConfig{}
	fs := flag.NewFlagSet("ftpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", ":21", "control connection address")
	fs.StringVar(&c.implicitListen, "implicit-listen", ":990", "implicit FTPS address (only with --tls-mode Implicit)")
	fs.StringVar(&c.healthListen, "health-listen", ":8080", "address serving /healthz, /readyz and /metrics (empty disables)")
	fs.StringVar(&c.root, "root", "", "directory holding the users' homes (required)")
	fs.StringVar(&c.users, "users", "", "users file, YAML or JSON, re-read when it changes (required)")
	fs.StringVar(&c.passivePorts, "passive-ports", "30000-30015", "passive port range LOW-HIGH, optionally =ADVERTISED_LOW when a NAT maps ports")
	fs.StringVar(&c.passiveHost, "passive-host", "", "IP the passive listeners bind to (default all interfaces)")
	fs.BoolVar(&c.passiveMux, "passive-mux", false, "let different client IPs share passive ports (data connection matched by client IP)")
	fs.StringVar(&c.publicAddress, "public-address", "", "address announced in PASV replies: IP or DNS name; empty = not known yet")
	fs.StringVar(&c.addressFile, "address-file", "", "file holding the public address, re-read when it changes (overrides --public-address once it exists)")
	fs.StringVar(&c.kubernetesFTPServer, "kubernetes-ftpserver", "", "NAMESPACE/NAME: follow the address the operator publishes for this FTPServer (its <NAME>-ftpd ConfigMap) live (in-cluster credentials; set by the operator)")
	fs.StringVar(&c.addressOverrides, "address-overrides", "", "per-client-CIDR PASV addresses: CIDR=ADDR[,CIDR=ADDR...]")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM), reloaded when it changes")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.tlsMode, "tls-mode", "Explicit", "Explicit (AUTH TLS optional), Required (TLS for login and data) or Implicit (also serve --implicit-listen; TLS required)")
	fs.BoolVar(&c.tlsRequireSessionReuse, "tls-require-session-reuse", true, "PROT P data connections must resume the TLS session of their own control connection (vsftpd's require_ssl_reuse): nobody who races for a passive port gets or supplies the data; false also serves clients that cannot resume")
	fs.StringVar(&c.activeMode, "active-mode", "Enabled", "Enabled or Disabled: PORT/EPRT (only to the client's own IP, never to ports < 1024)")
	fs.BoolVar(&c.proxyProtocol, "proxy-protocol", false, "require a PROXY protocol v1/v2 header on control and data connections")
	fs.StringVar(&c.proxyTrusted, "proxy-protocol-trusted", "", "with --proxy-protocol: CIDRs of the load balancers (comma-separated); only they must and may send a header, other peers are served under their own address")
	fs.StringVar(&c.xferlog, "xferlog", "", "append wu-ftpd compatible transfer log lines to this file (\"-\" = stdout)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", ftpd.DefaultIdleTimeout, "close control connections idle this long")
	fs.DurationVar(&c.loginTimeout, "login-timeout", ftpd.DefaultLoginTimeout, "close connections not logged in this long after connecting (negative = only --idle-timeout)")
	fs.DurationVar(&c.dataTimeout, "data-timeout", 30*time.Second, "timeout for opening or stalling a data connection; also how long an unused passive port stays reserved and PASV/EPSV waits for a free one")
	fs.IntVar(&c.maxSessions, "max-sessions", ftpd.DefaultMaxSessions, "maximum concurrent sessions (negative = unlimited)")
	fs.IntVar(&c.maxSessionsPerIP, "max-sessions-per-ip", ftpd.DefaultMaxSessionsPerIP, "maximum concurrent sessions per client IP (negative = unlimited)")
	fs.Int64Var(&c.bandwidth, "bandwidth-limit", 0, "bytes per second per data connection (0 = unlimited)")
	fs.IntVar(&c.lockoutThreshold, "lockout-threshold", ftpd.DefaultLockoutThreshold, "failed logins of one user from one IP before that pair is locked out (the user from all IPs: 4x, one IP over all users: 10x)")
	fs.DurationVar(&c.lockoutBackoff, "lockout-backoff", ftpd.DefaultLockoutBackoff, "first lockout duration; doubles on each repeat, up to 15m")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&c.fsyncUploads, "fsync-uploads", false, "fsync each upload before renaming it into place (survives power loss; slower)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to drain transfers on SIGTERM")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: ftp-operator ftpd --root DIR --users FILE [flags]

Serves FTP/FTPS from DIR. The users file (YAML or JSON):

  users:
    - name: acme
      passwordFile: /var/run/ftpd/secrets/acme/password  # plain or bcrypt ($2a$/$2b$/$2y$)
      # or password: "plain" / passwordHash: "$2b$..."
      home: /acme          # relative to --root, created if missing (default /NAME)
      access: ReadWrite    # ReadWrite | ReadOnly | WriteOnly

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.root == "" || c.users == "" {
		return nil, errors.New("--root and --users are required")
	}
	return c, nil
}

// runFTPD runs the `ftpd` subcommand until ctx is cancelled, then drains.
func runFTPD(ctx context.Context, args []string) error {
	cfg, err := parseFTPDFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, closers, err := buildServer(cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv.Metrics = ftpd.NewMetrics(reg)

	if cfg.addressFile != "" {
		go srv.WatchAddressFile(ctx, cfg.addressFile, time.Second)
	}
	// Serve first, follow the address in the background: an engine that starts while the API server is unreachable
	// must still open its port (liveness), serve logins and EPSV, and answer PASV with 425 until the address is known.
	if cfg.kubernetesFTPServer != "" {
		if err := followFTPServerAddress(ctx, cfg.kubernetesFTPServer, srv.SetPublicAddress, logger); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	if srv.TLSMode == ftpd.TLSImplicit {
		il, err := net.Listen("tcp", cfg.implicitListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listening on %s: %w", cfg.implicitListen, err)
		}
		go func() { errc <- srv.ServeImplicitTLS(il) }()
	}
	var health *http.Server
	if cfg.healthListen != "" {
		health = healthServer(cfg.healthListen, srv, reg)
		hl, err := net.Listen("tcp", cfg.healthListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listening on %s: %w", cfg.healthListen, err)
		}
		go func() {
			if err := health.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("health server: %w", err)
			}
		}()
	}
	logger.Info("ftpd started", "listen", cfg.listen, "root", cfg.root, "passivePorts", srv.PassivePorts.String(),
		"publicAddress", srv.PublicAddress, "tlsMode", string(srv.TLSMode), "activeMode", srv.ActiveMode)

	select {
	case <-ctx.Done():
	case err := <-errc:
		srv.Close()
		return err
	}
	logger.Info("shutting down, draining transfers", "timeout", cfg.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if health != nil {
		_ = health.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("draining sessions: %w", err)
	}
	return nil
}

func buildServer(cfg *ftpdConfig, logger *slog.Logger) (*ftpd.Server, []io.Closer, error) {
	var closers []io.Closer
	if fi, err := os.Stat(cfg.root); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("--root %s: not a directory", cfg.root)
	}
	auth, err := ftpd.NewFileAuthenticator(cfg.users)
	if err != nil {
		return nil, nil, err
	}
	ports, err := ftpd.ParsePortRange(cfg.passivePorts)
	if err != nil {
		return nil, nil, fmt.Errorf("--passive-ports: %w", err)
	}
	overrides, err := ftpd.ParseAddressOverrides(cfg.addressOverrides)
	if err != nil {
		return nil, nil, fmt.Errorf("--address-overrides: %w", err)
	}
	var trusted []netip.Prefix
	for _, c := range strings.Split(cfg.proxyTrusted, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, nil, fmt.Errorf("--proxy-protocol-trusted: %w", err)
		}
		trusted = append(trusted, p.Masked())
	}
	srv := &ftpd.Server{
		Addr:             cfg.listen,
		Auth:             auth,
		FileSystems:      ftpd.RootFS{Dir: cfg.root},
		PassivePorts:     ports,
		PassiveHost:      cfg.passiveHost,
		PassiveMux:       cfg.passiveMux,
		PublicAddress:    cfg.publicAddress,
		AddressOverrides: overrides,
		ProxyProtocol:    cfg.proxyProtocol,
		ProxyTrusted:     trusted,
		IdleTimeout:      cfg.idleTimeout,
		DataTimeout:      cfg.dataTimeout,
		LoginTimeout:     cfg.loginTimeout,
		MaxSessions:      cfg.maxSessions,
		MaxSessionsPerIP: cfg.maxSessionsPerIP,
		BandwidthLimit:   cfg.bandwidth,
		SyncUploads:      cfg.fsyncUploads,
		Lockout:          ftpd.LockoutPolicy{Threshold: cfg.lockoutThreshold, Backoff: cfg.lockoutBackoff},
		Logger:           logger,
	}
	switch strings.ToLower(cfg.activeMode) {
	case "enabled":
		srv.ActiveMode = true
	case "disabled":
	default:
		return nil, nil, fmt.Errorf("--active-mode %q: want Enabled or Disabled", cfg.activeMode)
	}
	switch mode := ftpd.TLSMode(cfg.tlsMode); mode {
	case ftpd.TLSExplicit, ftpd.TLSRequired, ftpd.TLSImplicit:
		srv.TLSMode = mode
	default:
		return nil, nil, fmt.Errorf("--tls-mode %q: want Explicit, Required or Implicit", cfg.tlsMode)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.tlsCert != "" {
		cr, err := ftpd.NewCertReloader(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, nil, err
		}
		srv.TLSConfig = cr.TLSConfig()
		srv.TLSSessionReuseOptional = !cfg.tlsRequireSessionReuse
	} else if srv.TLSMode != ftpd.TLSExplicit {
		return nil, nil, fmt.Errorf("--tls-mode %s needs --tls-cert and --tls-key", srv.TLSMode)
	}
	switch cfg.xferlog {
	case "":
	case "-":
		srv.XferLog = os.Stdout
	default:
		f, err := os.OpenFile(cfg.xferlog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--xferlog: %w", err)
		}
		srv.XferLog = f
		closers = append(closers, f)
	}
	return srv, closers, nil
}

func healthServer(addr string, srv *ftpd.Server, reg *prometheus.Registry) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !srv.Serving() {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		if a, ok := srv.Auth.(*ftpd.FileAuthenticator); ok && !a.Ready() {
			http.Error(w, "users not loaded", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}
