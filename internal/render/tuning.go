package render

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// tuning sets the engine settings that come one-to-one from the spec: limits, passive multiplexing, address
// overrides, the transfer log, lockout and the shutdown timeout. Defaults come from the API package's OrDefault
// methods, so a spec read before admission defaulted it renders the same.
func tuning(srv *ftpv1.FTPServer, c *engineconfig.Config) {
	limits(srv.Spec.Limits, &c.Limits)
	lockout(srv.Spec.Lockout, &c.Limits)
	c.Passive.Mux = srv.Spec.PassivePorts.MultiplexingOrDefault() == ftpv1.PassiveMultiplexingEnabled
	c.Address.Overrides = addressOverrides(srv.Spec.AddressOverrides)
	c.XferLog, c.XferLogFormat = transferLog(srv.Spec.TransferLog)
	c.ShutdownTimeout = EngineShutdownTimeout(srv.Spec.ShutdownGracePeriodOrDefault())
}

func limits(l ftpv1.Limits, c *engineconfig.Limits) {
	c.MaxSessions = int(l.MaxSessionsOrDefault())
	c.MaxSessionsPerIP = int(l.MaxSessionsPerIPOrDefault())
	c.IdleTimeout = l.IdleTimeoutOrDefault()
	c.DataTimeout = l.DataTimeoutOrDefault()
	c.BandwidthLimit = l.BandwidthBytesPerSecond()
}

func lockout(l ftpv1.Lockout, c *engineconfig.Limits) {
	c.LockoutThreshold = int(l.ThresholdOrDefault())
	c.LockoutBackoff = l.BackoffOrDefault()
}

// addressOverrides are the spec's overrides, most specific CIDR first (the engine takes the first that holds the
// client), host bits masked. The API admits only CIDRs (CEL isCIDR parses them with netip.ParsePrefix too), so none
// is left out.
func addressOverrides(in []ftpv1.AddressOverride) []ftpd.AddressOverride {
	var out []ftpd.AddressOverride
	for _, o := range in {
		if p, err := netip.ParsePrefix(o.CIDR); err == nil {
			out = append(out, ftpd.AddressOverride{Prefix: p.Masked(), Address: o.Address})
		}
	}
	slices.SortStableFunc(out, func(a, b ftpd.AddressOverride) int { return cmp.Compare(b.Prefix.Bits(), a.Prefix.Bits()) })
	return out
}

// transferLog is the engine's transfer log file and format: the pod's standard output ("-") when the spec asks for
// one, none otherwise.
func transferLog(t *ftpv1.TransferLog) (string, ftpd.XferLogFormat) {
	if t == nil {
		return "", ftpd.XferLogWuFTPD
	}
	if t.FormatOrDefault() == ftpv1.TransferLogJSON {
		return "-", ftpd.XferLogJSON
	}
	return "-", ftpd.XferLogWuFTPD
}

// shutdownMargin is how long before the pod's grace period ends the engine closes the sessions still open, so that
// its 421 replies and final log lines go out before the kubelet kills the container.
const shutdownMargin = 5 * time.Second

// EngineShutdownTimeout is how long the engine drains sessions when its pod, with the grace period grace, is
// stopped: grace less shutdownMargin, or half of grace when grace is under twice the margin.
func EngineShutdownTimeout(grace time.Duration) time.Duration {
	return grace - min(shutdownMargin, grace/2)
}

// TerminationGracePeriodSeconds is the pod's grace period: spec.shutdownGracePeriod in whole seconds, rounded up.
func TerminationGracePeriodSeconds(srv *ftpv1.FTPServer) int64 {
	g := srv.Spec.ShutdownGracePeriodOrDefault()
	return int64((g + time.Second - 1) / time.Second)
}
