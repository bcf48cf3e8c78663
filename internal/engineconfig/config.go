// Package engineconfig is the contract between the operator and the FTP engine: everything the operator tells one
// engine, as one typed value with no Kubernetes imports. The operator builds it from an FTPServer
// (render.EngineConfig) and writes it into the pod as arguments (Config.Args); the engine (`ftp-operator ftpd`)
// reads it back with Parse and builds its server from it. Each setting is declared once, in the flag table of
// flags.go, which both directions use, and a fuzzed round trip (Args → Parse) keeps them equal: a field added to
// Config without a flag fails that test.
package engineconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// Config is one engine's configuration. The zero value is not useful; start from Default.
type Config struct {
	// Listen is the control connection address; ImplicitListen serves implicit FTPS (TLS.Mode Implicit only);
	// HealthListen serves /healthz, /readyz and /metrics ("" disables it).
	Listen, ImplicitListen, HealthListen string
	// Root is the directory holding the users' homes (required unless S3 is set, which replaces it).
	Root string
	// Users is the path of the users file (ftpd.UsersFile, YAML or JSON), re-read when it changes (required).
	Users string

	Passive       Passive
	Address       Address
	TLS           TLS
	ProxyProtocol ProxyProtocol
	Limits        Limits
	// S3 keeps the users' files in an S3-compatible bucket instead of under Root (Endpoint "" = local disk).
	S3 S3
	// Relay relays data connections for the other pods' slices to their owners (Relay routing).
	Relay Relay

	// ActiveMode allows PORT/EPRT (only to the client's own IP, never to ports below 1024).
	ActiveMode bool
	// XferLog appends wu-ftpd compatible transfer log lines to this file ("-" = stdout, "" = none).
	XferLog string
	// XferLogFormat is the transfer log's format: xferlog (wu-ftpd lines) or json (one object per line).
	XferLogFormat ftpd.XferLogFormat
	// FsyncUploads fsyncs each upload before renaming it into place.
	FsyncUploads bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// ShutdownTimeout is how long to drain transfers on SIGTERM.
	ShutdownTimeout time.Duration

	// Room for what crosses this boundary next (storage backends, HA slices): add the field here and its flag in
	// flags.go; the round-trip test fails until both are there.
}

// S3 is object storage for the users' files: each home is the key prefix Prefix/<home>/ of Bucket. The
// credentials come from two files (mounted Secret keys, re-read when they change) or, when both are empty, from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment; never from an argument.
type S3 struct {
	// Endpoint is the S3 URL, http(s)://host[:port]; "" keeps files on local disk under Root.
	Endpoint string
	Bucket   string
	Prefix   string
	Region   string
	// ForcePathStyle addresses the bucket as Endpoint/Bucket (MinIO, SeaweedFS, Ceph) instead of as a host name.
	ForcePathStyle bool
	// AccessKeyIDFile and SecretAccessKeyFile hold the credentials (set both, or neither).
	AccessKeyIDFile, SecretAccessKeyFile string
	// CABundle is a PEM file of the CAs that verify an https endpoint ("" = the system's).
	CABundle string
}

// Enabled reports whether files live in S3.
func (s S3) Enabled() bool { return s.Endpoint != "" }

// Passive is the passive-mode data connection setup.
type Passive struct {
	// Ports are the passive ports the engine listens on (and advertises, see ftpd.PortRange).
	Ports ftpd.PortRange
	// Host is the IP the passive listeners bind to ("" = all interfaces).
	Host string
	// Mux lets different client IPs share passive ports (the data connection is matched by client IP).
	Mux bool
	// SliceByOrdinal makes Ports the slice of the pod with ordinal 0 of a StatefulSet: the pod with ordinal i
	// serves Ports shifted by i times its size (see PortsFor). The pod template stays the same for every pod and
	// for every replica count with the same ports per pod.
	SliceByOrdinal bool
}

// Relay is Relay routing (docs/high-availability.md): every pod of a StatefulSet receives data connections for
// every port of the server's range, and relays one for a port of another pod's slice to that pod. It needs
// Passive.SliceByOrdinal: the server's range is Replicas slices of the size of Passive.Ports, starting at its start.
type Relay struct {
	// Replicas is the number of pods (slices); 0 disables relaying.
	Replicas int
	// PeerDomain is the headless Service of the StatefulSet: the pod of ordinal k is <set>-<k>.<PeerDomain>, where
	// <set> is the pod's own name without its ordinal.
	PeerDomain string
}

// Enabled reports whether the engine relays.
func (r Relay) Enabled() bool { return r.Replicas > 0 }

// Grant is the server's whole range: the Replicas slices of the size of slice0, the slice of ordinal 0.
func (r Relay) Grant(slice0 ftpd.PortRange) ftpd.PortRange {
	g := slice0
	g.End = slice0.Start + int32(r.Replicas)*slice0.Size() - 1
	return g
}

// PeerHost is the host name of the pod of ordinal k, seen from the pod named podName.
func (r Relay) PeerHost(podName string, k int32) string {
	set := podName[:max(strings.LastIndexByte(podName, '-'), 0)]
	return set + "-" + strconv.Itoa(int(k)) + "." + r.PeerDomain
}

// ServerRelay is the engine's relay for the pod named podName (nil without relaying): the server's range, the pod's
// ordinal, and the peers' names under PeerDomain.
func (c Config) ServerRelay(podName string) (*ftpd.Relay, error) {
	r := c.Relay
	if !r.Enabled() {
		return nil, nil
	}
	self, err := Ordinal(podName)
	if err != nil {
		return nil, fmt.Errorf("--relay-replicas: %w", err)
	}
	if self >= int32(r.Replicas) {
		return nil, fmt.Errorf("--relay-replicas %d: pod %s has ordinal %d", r.Replicas, podName, self)
	}
	return &ftpd.Relay{Range: r.Grant(c.Passive.Ports), Slices: int32(r.Replicas), Self: self,
		Peer: func(k int32) string { return r.PeerHost(podName, k) }}, nil
}

func (r Relay) validate(p Passive) error {
	switch {
	case r == Relay{}:
		return nil
	case r.Replicas < 2 || r.Replicas > 64:
		return fmt.Errorf("--relay-replicas %d: want 2 to 64 (or 0: no relay)", r.Replicas)
	case !p.SliceByOrdinal:
		return errors.New("--relay-replicas needs --passive-slice-by-ordinal")
	case r.PeerDomain == "" || strings.IndexFunc(r.PeerDomain, func(c rune) bool { return c > unicode.MaxASCII || unicode.IsSpace(c) || c == '/' || c == ':' }) >= 0:
		return fmt.Errorf("--relay-peer-domain %q: want a DNS name (the StatefulSet's headless Service)", r.PeerDomain)
	}
	if err := r.Grant(p.Ports).Validate(); err != nil {
		return fmt.Errorf("--relay-replicas %d: the server's range: %w", r.Replicas, err)
	}
	return nil
}

// PodNameEnv is the environment variable (the downward API's metadata.name) from which a pod of a StatefulSet
// learns its name, and so its ordinal.
const PodNameEnv = "POD_NAME"

// PortsFor is the passive range the pod named podName serves: Ports, or with SliceByOrdinal, Ports shifted by the
// ordinal at the end of podName (a StatefulSet names its pods <set>-<ordinal>).
func (p Passive) PortsFor(podName string) (ftpd.PortRange, error) {
	if !p.SliceByOrdinal {
		return p.Ports, nil
	}
	i, err := Ordinal(podName)
	if err != nil {
		return ftpd.PortRange{}, fmt.Errorf("--passive-slice-by-ordinal: %w", err)
	}
	r := p.Ports.Shift(i)
	if err := r.Validate(); err != nil {
		return ftpd.PortRange{}, fmt.Errorf("--passive-slice-by-ordinal: the slice of ordinal %d: %w", i, err)
	}
	return r, nil
}

// Ordinal is the ordinal of a StatefulSet's pod: the number after the last '-' of its name.
func Ordinal(podName string) (int32, error) {
	i := strings.LastIndexByte(podName, '-')
	n, err := strconv.ParseInt(podName[i+1:], 10, 32)
	if i < 0 || err != nil || n < 0 {
		return 0, fmt.Errorf("pod name %q (from $%s) does not end in -<ordinal>", podName, PodNameEnv)
	}
	return int32(n), nil
}

// Address is where the address advertised in PASV replies comes from. Static applies at once; File, once it
// exists, overrides it and is re-read when it changes; Follow, when set, follows the address the operator
// publishes for that FTPServer live. Overrides advertise other addresses to clients in given CIDRs.
type Address struct {
	Static    string
	File      string
	Follow    FollowTarget
	Overrides []ftpd.AddressOverride
}

// FollowTarget names the FTPServer whose published address the engine follows. The zero value follows nothing.
type FollowTarget struct {
	Namespace, Name string
}

// AddressKey is the key of the server's address ConfigMap (ConfigMapName) that holds the address passive replies
// advertise. Only the operator writes it; the engine follows it live.
const AddressKey = "address"

// StorageHealthKeyPrefix starts the keys of the server's health ConfigMap (HealthConfigMapName) in which each
// engine pod publishes the health of its storage: key StorageHealthKeyPrefix+POD, value StorageHealthy or
// "REASON: message" (REASON one of the causes the S3 backend's health check names, such as CredentialsRejected). The
// engine writes only its own key (a merge patch, removed again when it stops); the operator reads them for the
// server's live pods. The health ConfigMap carries no address: the engine may patch it, never the address ConfigMap.
const StorageHealthKeyPrefix = "storage."

// StorageHealthy is the value of a storage health key whose storage works.
const StorageHealthy = "OK"

// StorageHealthKey is the key in which pod publishes the health of its storage.
func StorageHealthKey(pod string) string { return StorageHealthKeyPrefix + pod }

// ConfigMapName is the name of the address ConfigMap of the FTPServer named server, in its namespace.
func ConfigMapName(server string) string { return server + "-ftpd" }

// HealthConfigMapName is the name of the ConfigMap in which the engine pods of the FTPServer named server publish
// their storage health (StorageHealthKey). It never ends in "-ftpd", so it is never another server's address
// ConfigMap.
func HealthConfigMapName(server string) string { return server + "-ftpd-health" }

// HealthConfigMapName is the name of the ConfigMap the engine publishes its storage health in.
func (t FollowTarget) HealthConfigMapName() string { return HealthConfigMapName(t.Name) }

// ConfigMapName is the name of the ConfigMap the engine follows.
func (t FollowTarget) ConfigMapName() string { return ConfigMapName(t.Name) }

// IsZero reports whether t names no FTPServer.
func (t FollowTarget) IsZero() bool { return t == FollowTarget{} }

func (t FollowTarget) String() string {
	if t.IsZero() {
		return ""
	}
	return t.Namespace + "/" + t.Name
}

// TLS is FTPS. Cert and Key are PEM files, reloaded when they change; without them only Mode Explicit (no TLS
// offered) is valid.
type TLS struct {
	Cert, Key string
	// Mode is Explicit (AUTH TLS optional), Required (TLS for login and data) or Implicit (TLS from the first byte on
	// ImplicitListen as well).
	Mode ftpd.TLSMode
	// RequireSessionReuse makes PROT P data connections resume the TLS session of their own control connection.
	RequireSessionReuse bool
}

// ProxyProtocol is the PROXY protocol v1/v2 in front of control and data connections.
type ProxyProtocol struct {
	Enabled bool
	// Trusted are the load balancers' CIDRs: only they must and may send a header. Empty = every peer must.
	Trusted []netip.Prefix
}

// Limits are the timeouts and caps of the engine.
type Limits struct {
	IdleTimeout      time.Duration // close control connections idle this long
	LoginTimeout     time.Duration // close connections not logged in this long after connecting (negative = only IdleTimeout)
	DataTimeout      time.Duration // opening or stalling a data connection; also how long an unused passive port stays reserved
	MaxSessions      int           // concurrent sessions (negative = unlimited)
	MaxSessionsPerIP int           // concurrent sessions per client IP (negative = unlimited)
	BandwidthLimit   int64         // bytes per second per data connection (0 = unlimited)
	LockoutThreshold int           // failed logins of one user from one IP before that pair is locked out
	LockoutBackoff   time.Duration // first lockout duration; doubles on each repeat
}

// Default is the engine's configuration when no flag is given. Root and Users have no default.
func Default() Config {
	return Config{
		Listen:         ":21",
		ImplicitListen: ":990",
		HealthListen:   ":8080",
		Passive:        Passive{Ports: ftpd.PortRange{Start: 30000, End: 30015}},
		TLS:            TLS{Mode: ftpd.TLSExplicit, RequireSessionReuse: true},
		Limits: Limits{
			IdleTimeout:      ftpd.DefaultIdleTimeout,
			LoginTimeout:     ftpd.DefaultLoginTimeout,
			DataTimeout:      ftpd.DefaultDataTimeout,
			MaxSessions:      ftpd.DefaultMaxSessions,
			MaxSessionsPerIP: ftpd.DefaultMaxSessionsPerIP,
			LockoutThreshold: ftpd.DefaultLockoutThreshold,
			LockoutBackoff:   ftpd.DefaultLockoutBackoff,
		},
		ActiveMode:      true,
		XferLogFormat:   ftpd.XferLogWuFTPD,
		LogLevel:        "info",
		ShutdownTimeout: 30 * time.Second,
	}
}

// Validate reports the first setting the engine cannot run with, named by its flag.
func (c Config) Validate() error {
	if c.Users == "" || c.Root == "" && !c.S3.Enabled() {
		return errors.New("--root and --users are required (--s3-endpoint replaces --root)")
	}
	if err := c.S3.validate(); err != nil {
		return err
	}
	if err := c.Passive.Ports.Validate(); err != nil {
		return fmt.Errorf("--passive-ports: %w", err)
	}
	if err := c.Relay.validate(c.Passive); err != nil {
		return err
	}
	if t := c.Address.Follow; !t.IsZero() && (t.Namespace == "" || t.Name == "" || strings.Contains(t.Namespace+t.Name, "/")) {
		return fmt.Errorf("--kubernetes-ftpserver %q: want NAMESPACE/NAME", t.String())
	}
	for _, o := range c.Address.Overrides {
		// The flag's form is CIDR=ADDRESS[,...] with spaces trimmed: an address holding a comma or any
		// space (as strings.TrimSpace sees it) would not read back.
		if !o.Prefix.IsValid() || o.Prefix != o.Prefix.Masked() || o.Address == "" ||
			strings.ContainsRune(o.Address, ',') || strings.IndexFunc(o.Address, unicode.IsSpace) >= 0 {
			return fmt.Errorf("--address-overrides: %s=%q: want CIDR=ADDRESS", o.Prefix, o.Address)
		}
	}
	switch c.TLS.Mode {
	case ftpd.TLSExplicit, ftpd.TLSRequired, ftpd.TLSImplicit:
	default:
		return fmt.Errorf("--tls-mode %q: want Explicit, Required or Implicit", c.TLS.Mode)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.TLS.Cert == "" && c.TLS.Mode != ftpd.TLSExplicit {
		return fmt.Errorf("--tls-mode %s needs --tls-cert and --tls-key", c.TLS.Mode)
	}
	for _, p := range c.ProxyProtocol.Trusted {
		if !p.IsValid() || p != p.Masked() {
			return fmt.Errorf("--proxy-protocol-trusted: %s is not a network address", p)
		}
	}
	if c.XferLogFormat != ftpd.XferLogWuFTPD && c.XferLogFormat != ftpd.XferLogJSON {
		return fmt.Errorf("--xferlog-format %q: want %s or %s", c.XferLogFormat, ftpd.XferLogWuFTPD, ftpd.XferLogJSON)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	return nil
}

func (s S3) validate() error {
	if !s.Enabled() {
		if s != (S3{}) {
			return errors.New("--s3-bucket, --s3-prefix, --s3-region and the other --s3 flags need --s3-endpoint")
		}
		return nil
	}
	if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("--s3-endpoint %q: want http(s)://host[:port]", s.Endpoint)
	}
	if s.Bucket == "" {
		return errors.New("--s3-bucket is required with --s3-endpoint")
	}
	if (s.AccessKeyIDFile == "") != (s.SecretAccessKeyFile == "") {
		return errors.New("--s3-access-key-id-file and --s3-secret-access-key-file go together")
	}
	return nil
}

// SlogLevel is LogLevel as a slog.Level (info when it does not parse; Validate reports that).
func (c Config) SlogLevel() slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	return level
}
