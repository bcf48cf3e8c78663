package v1alpha1

import (
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of the engine settings below, one place each. The engine (internal/ftpd) has the same defaults for
// when it runs on its own; a test keeps both equal.
const (
	DefaultMaxSessions         int32 = 1024
	DefaultMaxSessionsPerIP    int32 = 64
	DefaultIdleTimeout               = 5 * time.Minute
	DefaultDataTimeout               = 30 * time.Second
	DefaultLockoutThreshold    int32 = 5
	DefaultLockoutBackoff            = 30 * time.Second
	DefaultShutdownGracePeriod       = 60 * time.Second
)

// Limits bounds what clients may hold and how long the server waits for them.
// +kubebuilder:validation:XValidation:rule="!has(self.maxSessionsPerIP) || self.maxSessionsPerIP <= (has(self.maxSessions) ? self.maxSessions : 1024)",message="limits.maxSessionsPerIP must not be greater than limits.maxSessions (1024 unless set)"
type Limits struct {
	// maxSessions is how many control connections the server holds at once; a client beyond it gets "421 Too many
	// users" and is disconnected. An idle session costs about 7 KiB of memory (plain control connection). Defaults to 1024.
	// +optional
	// +kubebuilder:default=1024
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxSessions *int32 `json:"maxSessions,omitempty"`

	// maxSessionsPerIP is how many control connections one client address holds at once; the next one gets "421
	// Too many connections from your address". Defaults to 64, or to maxSessions when that is lower. Clients
	// behind one NAT, or behind a load balancer that hides their addresses (externalTrafficPolicy Cluster without
	// proxyProtocol), share this limit.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxSessionsPerIP *int32 `json:"maxSessionsPerIP,omitempty"`

	// idleTimeout closes a control connection on which no command arrived for this long, with "421 Idle timeout".
	// A transfer in progress keeps its session alive. A Go duration from 1s to 24h; defaults to 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="idleTimeout must be a duration from 1s to 24h, such as 5m"
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`

	// dataTimeout bounds how long the server waits for a client to open a data connection, and for a stalled
	// transfer to move again; an unused passive port is kept reserved this long too. A Go duration from 1s to 1h;
	// defaults to 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="dataTimeout must be a duration from 1s to 1h, such as 30s"
	DataTimeout *metav1.Duration `json:"dataTimeout,omitempty"`

	// bandwidthPerConnection caps each data connection, in bytes per second, such as 10Mi (10 MiB/s) or 500k
	// (500 kB/s). Unset: no cap. Each transfer is capped on its own; a client with four parallel transfers gets
	// four times the rate.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="bandwidthPerConnection must be more than 0 bytes per second, such as 10Mi; leave it unset for no cap"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isLessThan(quantity('1Ti'))",message="bandwidthPerConnection must be less than 1Ti bytes per second"
	BandwidthPerConnection *resource.Quantity `json:"bandwidthPerConnection,omitempty"`
}

// MaxSessionsOrDefault is maxSessions, DefaultMaxSessions when unset.
func (l Limits) MaxSessionsOrDefault() int32 {
	if l.MaxSessions == nil {
		return DefaultMaxSessions
	}
	return *l.MaxSessions
}

// MaxSessionsPerIPOrDefault is maxSessionsPerIP; unset, DefaultMaxSessionsPerIP or maxSessions when that is lower.
func (l Limits) MaxSessionsPerIPOrDefault() int32 {
	if l.MaxSessionsPerIP == nil {
		return min(DefaultMaxSessionsPerIP, l.MaxSessionsOrDefault())
	}
	return *l.MaxSessionsPerIP
}

// IdleTimeoutOrDefault is idleTimeout, DefaultIdleTimeout when unset.
func (l Limits) IdleTimeoutOrDefault() time.Duration {
	return durationOr(l.IdleTimeout, DefaultIdleTimeout)
}

// DataTimeoutOrDefault is dataTimeout, DefaultDataTimeout when unset.
func (l Limits) DataTimeoutOrDefault() time.Duration {
	return durationOr(l.DataTimeout, DefaultDataTimeout)
}

// BandwidthBytesPerSecond is bandwidthPerConnection in bytes per second (rounded up), 0 (no cap) when unset.
func (l Limits) BandwidthBytesPerSecond() int64 {
	if l.BandwidthPerConnection == nil {
		return 0
	}
	return l.BandwidthPerConnection.Value()
}

// Lockout locks a user out of logging in from an address after failed logins. The user is also locked out from
// every address after 4×threshold failures, and an address for every user after 10×threshold.
type Lockout struct {
	// threshold is how many failed logins of one user from one client address lock that pair out. Defaults to 5.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Threshold *int32 `json:"threshold,omitempty"`

	// backoff is how long the first lockout lasts; each further lockout of the same pair doubles it, up to 15m.
	// Logins during a lockout are refused with 530 without checking the password. A Go duration from 1s to 15m;
	// defaults to 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('15m')",message="backoff must be a duration from 1s to 15m, such as 30s"
	Backoff *metav1.Duration `json:"backoff,omitempty"`
}

// ThresholdOrDefault is threshold, DefaultLockoutThreshold when unset.
func (l Lockout) ThresholdOrDefault() int32 {
	if l.Threshold == nil {
		return DefaultLockoutThreshold
	}
	return *l.Threshold
}

// BackoffOrDefault is backoff, DefaultLockoutBackoff when unset.
func (l Lockout) BackoffOrDefault() time.Duration {
	return durationOr(l.Backoff, DefaultLockoutBackoff)
}

// AddressOverride makes passive replies advertise address to clients whose address is inside cidr, instead of the
// server's address (status.address).
type AddressOverride struct {
	// cidr holds the client addresses this override applies to, such as 10.0.0.0/8 for clients inside the cluster.
	// Host bits are ignored (10.1.2.3/8 is 10.0.0.0/8).
	// +required
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be a CIDR such as 10.0.0.0/8"
	CIDR string `json:"cidr"`

	// address is what passive replies advertise to these clients: an IPv4 address or a DNS name that resolves to
	// one (PASV replies carry IPv4 only; EPSV carries no address).
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="(isIP(self) && ip(self).family() == 4) || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="address must be an IPv4 address or a DNS name"
	Address string `json:"address"`
}

// TransferLog writes one line per transfer to the server pod's standard output (the engine's own log goes to
// standard error), where `kubectl logs` and log collectors find it.
type TransferLog struct {
	// format of the lines: xferlog (the default: wu-ftpd/vsftpd xferlog lines that log analysers read) or json (one
	// object per transfer: time, remote, user, direction, path, bytes, durationSeconds, result, type: the keys of docs/logging.md).
	// +optional
	// +kubebuilder:default=xferlog
	Format TransferLogFormat `json:"format,omitempty"`
}

// TransferLogFormat is the format of the transfer log.
// +kubebuilder:validation:Enum=xferlog;json
type TransferLogFormat string

// Transfer log formats.
const (
	TransferLogXferlog TransferLogFormat = "xferlog"
	TransferLogJSON    TransferLogFormat = "json"
)

// FormatOrDefault is format, xferlog when unset.
func (t TransferLog) FormatOrDefault() TransferLogFormat {
	return orDefault(t.Format, TransferLogXferlog)
}

// PassiveMultiplexing says whether passive ports are shared between client addresses.
// +kubebuilder:validation:Enum=Disabled;Enabled
type PassiveMultiplexing string

// Passive multiplexing modes.
const (
	PassiveMultiplexingDisabled PassiveMultiplexing = "Disabled"
	PassiveMultiplexingEnabled  PassiveMultiplexing = "Enabled"
)

// MultiplexingOrDefault is multiplexing, Disabled when unset.
func (p PassivePorts) MultiplexingOrDefault() PassiveMultiplexing {
	return orDefault(p.Multiplexing, PassiveMultiplexingDisabled)
}

// ShutdownGracePeriodOrDefault is shutdownGracePeriod, DefaultShutdownGracePeriod when unset.
func (s FTPServerSpec) ShutdownGracePeriodOrDefault() time.Duration {
	return durationOr(s.ShutdownGracePeriod, DefaultShutdownGracePeriod)
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}
