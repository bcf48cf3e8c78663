package engineconfig

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/portrange"
)

// flagDef declares one setting: its flag, and where it lives in Config. Args and Parse both go through this table.
type flagDef struct {
	name, usage string
	// always writes the flag even when it holds the default, so a reader of the pod sees it (and tools such as
	// hack/demo can find it).
	always bool
	field  func(c *Config) flag.Value
}

var flags = []flagDef{
	{"listen", "control connection address", true, func(c *Config) flag.Value { return str(&c.Listen) }},
	{"root", "directory holding the users' homes (required)", true, func(c *Config) flag.Value { return str(&c.Root) }},
	{"users", "users file, YAML or JSON, re-read when it changes (required)", true, func(c *Config) flag.Value { return str(&c.Users) }},
	{"passive-ports", "passive port range LOW-HIGH, optionally =ADVERTISED_LOW when a NAT maps ports", true,
		func(c *Config) flag.Value { return portRange{&c.Passive.Ports} }},
	{"health-listen", "address serving /healthz, /readyz and /metrics (empty disables)", true,
		func(c *Config) flag.Value { return str(&c.HealthListen) }},
	{"kubernetes-ftpserver", "NAMESPACE/NAME: follow the address the operator publishes for this FTPServer (its <NAME>-ftpd ConfigMap) live (in-cluster credentials; set by the operator)", false,
		func(c *Config) flag.Value { return followTarget{&c.Address.Follow} }},
	{"active-mode", "Enabled or Disabled: PORT/EPRT (only to the client's own IP, never to ports < 1024)", true,
		func(c *Config) flag.Value { return enabled{&c.ActiveMode} }},
	{"proxy-protocol", "require a PROXY protocol v1/v2 header on control and data connections", false,
		func(c *Config) flag.Value { return boolean(&c.ProxyProtocol.Enabled) }},
	{"proxy-protocol-trusted", "with --proxy-protocol: CIDRs of the load balancers (comma-separated); only they must and may send a header, other peers are served under their own address", false,
		func(c *Config) flag.Value { return prefixes{&c.ProxyProtocol.Trusted} }},
	{"tls-cert", "TLS certificate file (PEM), reloaded when it changes", false, func(c *Config) flag.Value { return str(&c.TLS.Cert) }},
	{"tls-key", "TLS private key file (PEM)", false, func(c *Config) flag.Value { return str(&c.TLS.Key) }},
	{"tls-mode", "Explicit (AUTH TLS optional), Required (TLS for login and data) or Implicit (also serve --implicit-listen; TLS required)", false,
		func(c *Config) flag.Value { return tlsMode{&c.TLS.Mode} }},
	{"tls-require-session-reuse", "PROT P data connections must resume the TLS session of their own control connection (vsftpd's require_ssl_reuse): nobody who races for a passive port gets or supplies the data; false also serves clients that cannot resume", false,
		func(c *Config) flag.Value { return boolean(&c.TLS.RequireSessionReuse) }},
	{"implicit-listen", "implicit FTPS address (only with --tls-mode Implicit)", false, func(c *Config) flag.Value { return str(&c.ImplicitListen) }},
	{"passive-host", "IP the passive listeners bind to (default all interfaces)", false, func(c *Config) flag.Value { return str(&c.Passive.Host) }},
	{"passive-mux", "let different client IPs share passive ports (data connection matched by client IP)", false,
		func(c *Config) flag.Value { return boolean(&c.Passive.Mux) }},
	{"passive-slice-by-ordinal", "--passive-ports is the slice of ordinal 0; a StatefulSet's pod serves it shifted by its size times the ordinal ending $POD_NAME", false,
		func(c *Config) flag.Value { return boolean(&c.Passive.SliceByOrdinal) }},
	{"relay-replicas", "Relay routing: the server's range is this many slices of --passive-ports (with --passive-slice-by-ordinal); also accept data connections for the other pods' slices and relay them to their owner pods (0 = no relay)", false,
		func(c *Config) flag.Value { return integer(&c.Relay.Replicas) }},
	{"relay-peer-domain", "with --relay-replicas: the headless Service under which the pod of ordinal K is <set>-K.DOMAIN", false,
		func(c *Config) flag.Value { return str(&c.Relay.PeerDomain) }},
	{"public-address", "address announced in PASV replies: IP or DNS name; empty = not known yet", false,
		func(c *Config) flag.Value { return str(&c.Address.Static) }},
	{"address-file", "file holding the public address, re-read when it changes (overrides --public-address once it exists)", false,
		func(c *Config) flag.Value { return str(&c.Address.File) }},
	{"address-overrides", "per-client-CIDR PASV addresses: CIDR=ADDR[,CIDR=ADDR...]", false,
		func(c *Config) flag.Value { return overrides{&c.Address.Overrides} }},
	{"xferlog", "append wu-ftpd compatible transfer log lines to this file (\"-\" = stdout)", false, func(c *Config) flag.Value { return str(&c.XferLog) }},
	{"xferlog-format", "format of --xferlog: xferlog (wu-ftpd lines) or json (one object per transfer)", false,
		func(c *Config) flag.Value { return xferLogFormat{&c.XferLogFormat} }},
	{"idle-timeout", "close control connections idle this long", false, func(c *Config) flag.Value { return duration(&c.Limits.IdleTimeout) }},
	{"login-timeout", "close connections not logged in this long after connecting (negative = only --idle-timeout)", false,
		func(c *Config) flag.Value { return duration(&c.Limits.LoginTimeout) }},
	{"data-timeout", "timeout for opening or stalling a data connection; also how long an unused passive port stays reserved and PASV/EPSV waits for a free one", false,
		func(c *Config) flag.Value { return duration(&c.Limits.DataTimeout) }},
	{"max-sessions", "maximum concurrent sessions (negative = unlimited)", false, func(c *Config) flag.Value { return integer(&c.Limits.MaxSessions) }},
	{"max-sessions-per-ip", "maximum concurrent sessions per client IP (negative = unlimited)", false,
		func(c *Config) flag.Value { return integer(&c.Limits.MaxSessionsPerIP) }},
	{"bandwidth-limit", "bytes per second per data connection (0 = unlimited)", false, func(c *Config) flag.Value { return int64Value(&c.Limits.BandwidthLimit) }},
	{"lockout-threshold", "failed logins of one user from one IP before that pair is locked out (the user from all IPs: 4x, one IP over all users: 10x)", false,
		func(c *Config) flag.Value { return integer(&c.Limits.LockoutThreshold) }},
	{"lockout-backoff", "first lockout duration; doubles on each repeat, up to 15m", false, func(c *Config) flag.Value { return duration(&c.Limits.LockoutBackoff) }},
	{"log-level", "debug, info, warn or error", false, func(c *Config) flag.Value { return str(&c.LogLevel) }},
	{"fsync-uploads", "fsync each upload before renaming it into place (survives power loss; slower)", false,
		func(c *Config) flag.Value { return boolean(&c.FsyncUploads) }},
	{"s3-endpoint", "keep the users' files in an S3-compatible bucket at this URL, http(s)://host[:port], instead of under --root", false,
		func(c *Config) flag.Value { return str(&c.S3.Endpoint) }},
	{"s3-bucket", "with --s3-endpoint: the bucket", false, func(c *Config) flag.Value { return str(&c.S3.Bucket) }},
	{"s3-prefix", "with --s3-endpoint: key prefix of the users' homes (PREFIX/HOME/...)", false, func(c *Config) flag.Value { return str(&c.S3.Prefix) }},
	{"s3-region", "with --s3-endpoint: the bucket's region", false, func(c *Config) flag.Value { return str(&c.S3.Region) }},
	{"s3-force-path-style", "with --s3-endpoint: address the bucket as ENDPOINT/BUCKET (MinIO, SeaweedFS, Ceph)", false,
		func(c *Config) flag.Value { return boolean(&c.S3.ForcePathStyle) }},
	{"s3-access-key-id-file", "with --s3-endpoint: file holding the access key ID (re-read when it changes; without it AWS_ACCESS_KEY_ID)", false,
		func(c *Config) flag.Value { return str(&c.S3.AccessKeyIDFile) }},
	{"s3-secret-access-key-file", "with --s3-endpoint: file holding the secret access key (without it AWS_SECRET_ACCESS_KEY)", false,
		func(c *Config) flag.Value { return str(&c.S3.SecretAccessKeyFile) }},
	{"s3-ca-bundle", "with an https --s3-endpoint: PEM file of the CAs to trust (default the system's)", false,
		func(c *Config) flag.Value { return str(&c.S3.CABundle) }},
	{"shutdown-timeout", "how long to drain transfers on SIGTERM", false, func(c *Config) flag.Value { return duration(&c.ShutdownTimeout) }},
}

// Args are the engine's arguments (after the subcommand) for c: every flag whose value differs from Default, and
// the ones a reader of the pod expects to see. Parse(c.Args()) is c for every valid c.
func (c Config) Args() []string {
	def := Default()
	var args []string
	for _, f := range flags {
		v := f.field(&c).String()
		if f.always || v != f.field(&def).String() {
			args = append(args, "--"+f.name+"="+v)
		}
	}
	return args
}

// Parse reads the engine's arguments (after the subcommand), starting from Default, and validates the result.
// Errors and -help go to stderr; -help returns flag.ErrHelp.
func Parse(args []string, stderr io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("ftpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, f := range flags {
		fs.Var(f.field(&c), f.name, f.usage)
	}
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
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// The flag.Value kinds of the table. Each String is the exact text its Set reads back. A nil pointer (flag's
// zero-value probe in PrintDefaults) formats as "".

type stringValue struct{ p *string }

func str(p *string) flag.Value { return stringValue{p} }

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v stringValue) Set(s string) error { *v.p = s; return nil }

type boolValue struct{ p *bool }

func boolean(p *bool) flag.Value { return boolValue{p} }

func (v boolValue) String() string { return strconv.FormatBool(v.p != nil && *v.p) }
func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*v.p = b
	return nil
}
func (boolValue) IsBoolFlag() bool { return true }

type intValue struct{ p *int }

func integer(p *int) flag.Value { return intValue{p} }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}
func (v intValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return errors.New("want an integer")
	}
	*v.p = int(n)
	return nil
}

type int64Val struct{ p *int64 }

func int64Value(p *int64) flag.Value { return int64Val{p} }

func (v int64Val) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(*v.p, 10)
}
func (v int64Val) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return errors.New("want an integer")
	}
	*v.p = n
	return nil
}

type durationValue struct{ p *time.Duration }

func duration(p *time.Duration) flag.Value { return durationValue{p} }

func (v durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}
func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 30s")
	}
	*v.p = d
	return nil
}

// enabled is a bool written Enabled or Disabled (any case), like the API's enums.
type enabled struct{ p *bool }

func (v enabled) String() string {
	if v.p != nil && *v.p {
		return "Enabled"
	}
	return "Disabled"
}
func (v enabled) Set(s string) error {
	switch strings.ToLower(s) {
	case "enabled":
		*v.p = true
	case "disabled":
		*v.p = false
	default:
		return fmt.Errorf("%q: want Enabled or Disabled", s)
	}
	return nil
}

type tlsMode struct{ p *ftpd.TLSMode }

func (v tlsMode) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}
func (v tlsMode) Set(s string) error { *v.p = ftpd.TLSMode(s); return nil } // Validate checks the value

type xferLogFormat struct{ p *ftpd.XferLogFormat }

func (v xferLogFormat) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}
func (v xferLogFormat) Set(s string) error { *v.p = ftpd.XferLogFormat(s); return nil } // Validate checks the value

type portRange struct{ p *ftpd.PortRange }

func (v portRange) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}
func (v portRange) Set(s string) error {
	r, err := portrange.Parse(s)
	if err != nil {
		return err
	}
	*v.p = r
	return nil
}

type followTarget struct{ p *FollowTarget }

func (v followTarget) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}
func (v followTarget) Set(s string) error {
	if s == "" {
		*v.p = FollowTarget{}
		return nil
	}
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("%q: want NAMESPACE/NAME", s)
	}
	*v.p = FollowTarget{Namespace: ns, Name: name}
	return nil
}

type prefixes struct{ p *[]netip.Prefix }

func (v prefixes) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, p := range *v.p {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
func (v prefixes) Set(s string) error {
	var out []netip.Prefix
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return err
		}
		out = append(out, p.Masked())
	}
	*v.p = out
	return nil
}

type overrides struct{ p *[]ftpd.AddressOverride }

func (v overrides) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, o := range *v.p {
		s[i] = o.Prefix.String() + "=" + o.Address
	}
	return strings.Join(s, ",")
}
func (v overrides) Set(s string) error {
	o, err := ftpd.ParseAddressOverrides(s)
	if err != nil {
		return err
	}
	*v.p = o
	return nil
}
