package ftpd

import (
	"crypto/x509"
	"errors"
	"runtime"
	"strconv"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/promtext"
)

// Metrics are the engine's Prometheus collectors. A nil *Metrics is valid and
// records nothing.
type Metrics struct {
	sessionsActive   promtext.Gauge
	sessionsTotal    promtext.Counter
	sessionsRejected promtext.CounterVec
	logins           promtext.CounterVec
	bytes            promtext.CounterVec
	transfers        promtext.CounterVec
	passiveInUse     promtext.Gauge
	passiveWaits     promtext.CounterVec
	passiveWaitTime  promtext.Histogram
	passiveExpiries  promtext.Counter
	dataRejected     promtext.Counter
	replyErrors      promtext.CounterVec
	lockouts         promtext.Counter
	staleFiles       promtext.Counter
	staleBytes       promtext.Counter
	buildInfo        promtext.GaugeVec
	xferSeconds      promtext.HistogramVec
	xferSize         promtext.HistogramVec
	passivePorts     promtext.Gauge
	certExpiry       promtext.GaugeVec
	relayed          promtext.CounterVec
}

// Histogram buckets for transfers: FTP moves anything from a few bytes to
// many GiB, over milliseconds to hours.
var (
	transferSizeBuckets     = exponentialBuckets(1024, 4, 13)                                           // 1 KiB .. 16 GiB
	transferDurationBuckets = []float64{.01, .05, .25, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400} // 10 ms .. 4 h
)

// NewMetrics creates the engine's series in reg (a registry of their own if nil).
func NewMetrics(reg *promtext.Registry) *Metrics {
	if reg == nil {
		reg = promtext.NewRegistry()
	}
	return &Metrics{
		sessionsActive:   reg.Gauge("ftpd_sessions_active", "Open control connections."),
		sessionsTotal:    reg.Counter("ftpd_sessions_total", "Accepted control connections."),
		sessionsRejected: reg.CounterVec("ftpd_sessions_rejected_total", "Control connections refused, by reason.", "reason"),
		logins:           reg.CounterVec("ftpd_logins_total", "Login attempts by result (ok, failed, locked).", "result"),
		bytes: reg.CounterVec("ftpd_transfer_bytes_total",
			"Bytes moved on data connections by direction (in = upload, out = download).", "direction"),
		transfers:    reg.CounterVec("ftpd_transfers_total", "File transfers by direction and result.", "direction", "result"),
		passiveInUse: reg.Gauge("ftpd_passive_ports_in_use", "Passive listeners open."),
		passiveWaits: reg.CounterVec("ftpd_passive_waits_total",
			"PASV/EPSV commands that found every passive port taken and waited, by result (served, timeout).", "result"),
		passiveWaitTime: reg.Histogram("ftpd_passive_wait_seconds",
			"How long PASV/EPSV waited for a free passive port (only commands that waited).",
			[]float64{.001, .005, .025, .1, .5, 2.5, 10, 30}),
		passiveExpiries: reg.Counter("ftpd_passive_expired_total",
			"Passive ports given back because no transfer used them within the data timeout."),
		dataRejected: reg.Counter("ftpd_data_connections_rejected_total",
			"Data connections refused because no session of that client IP was waiting."),
		replyErrors: reg.CounterVec("ftpd_reply_errors_total", "Error replies (4xx and 5xx) by code.", "code"),
		lockouts:    reg.Counter("ftpd_lockouts_total", "Lockouts after failed logins (of a user from an IP, of a user, or of an IP)."),
		staleFiles: reg.Counter("ftpd_stale_uploads_removed_total",
			"Temporary files of interrupted uploads (left by a crash or a kill) removed at start."),
		staleBytes: reg.Counter("ftpd_stale_upload_bytes_removed_total", "Bytes of the temporary upload files removed at start."),
		buildInfo: reg.GaugeVec("ftpd_build_info",
			"Always 1; the labels say which build of the engine runs (set by SetBuildInfo).", "goversion", "version"),
		xferSeconds: reg.HistogramVec("ftpd_transfer_duration_seconds",
			"Duration of file transfers (RETR, STOR, APPE, STOU) by direction (upload, download) and result (ok, failed, aborted).",
			transferDurationBuckets, "direction", "result"),
		xferSize: reg.HistogramVec("ftpd_transfer_size_bytes",
			"Bytes moved per file transfer by direction (upload, download) and result (ok, failed, aborted).",
			transferSizeBuckets, "direction", "result"),
		passivePorts: reg.Gauge("ftpd_passive_ports", "Ports in the engine's passive range (compare with ftpd_passive_ports_in_use)."),
		certExpiry: reg.GaugeVec("ftpd_tls_certificate_expiry_timestamp_seconds",
			"NotAfter (unix time) of the TLS certificate served, updated on every (re)load; absent without TLS."),
		relayed: reg.CounterVec("ftpd_relayed_connections_total",
			"Data connections for another pod's slice (Relay routing) by result: relayed (ended cleanly), broken (a side reset or timed out; passed on as a reset), unreachable (the owner did not answer), refused (too many relayed at once).",
			"result"),
	}
}

// exponentialBuckets returns n bucket bounds: start, start*factor, start*factor^2...
func exponentialBuckets(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

func (m *Metrics) sessionOpened() {
	if m != nil {
		m.sessionsActive.Inc()
		m.sessionsTotal.Inc()
	}
}

func (m *Metrics) sessionClosed() {
	if m != nil {
		m.sessionsActive.Dec()
	}
}

func (m *Metrics) rejected(reason string) {
	if m != nil {
		m.sessionsRejected.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

// SetBuildInfo sets ftpd_build_info for version (the binary's version; the Go
// version is the runtime's).
func (m *Metrics) SetBuildInfo(version string) {
	if m != nil {
		m.buildInfo.WithLabelValues(runtime.Version(), version).Set(1)
	}
}

// CertificateLoaded records the certificate now served; pass it to
// CertReloader.OnLoad.
func (m *Metrics) CertificateLoaded(cert *x509.Certificate) {
	if m != nil && cert != nil {
		m.certExpiry.WithLabelValues().Set(float64(cert.NotAfter.Unix()))
	}
}

func (m *Metrics) passiveRange(size int32) {
	if m != nil {
		m.passivePorts.Set(float64(size))
	}
}

// transfer records a finished transfer; dir is "in" (upload) or "out"
// (download), err its outcome (errTransferAbort = aborted by ABOR).
func (m *Metrics) transfer(dir string, n int64, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.bytes.WithLabelValues(dir).Add(float64(n))
	res := transferResult(err)
	// ftpd_transfers_total keeps its two results (ok, failed) for existing dashboards.
	if err == nil {
		m.transfers.WithLabelValues(dir, "ok").Inc()
	} else {
		m.transfers.WithLabelValues(dir, "failed").Inc()
	}
	direction := "download"
	if dir == "in" {
		direction = "upload"
	}
	m.xferSeconds.WithLabelValues(direction, res).Observe(d.Seconds())
	m.xferSize.WithLabelValues(direction, res).Observe(float64(n))
}

// transferResult names a transfer's outcome: ok, aborted (by ABOR) or failed.
func transferResult(err error) string {
	switch {
	case errors.Is(err, errTransferAbort):
		return "aborted"
	case err != nil:
		return "failed"
	}
	return "ok"
}

func (m *Metrics) passive(delta int) {
	if m != nil {
		m.passiveInUse.Add(float64(delta))
	}
}

func (m *Metrics) passiveWait(result string, d time.Duration) {
	if m != nil {
		m.passiveWaits.WithLabelValues(result).Inc()
		m.passiveWaitTime.Observe(d.Seconds())
	}
}

func (m *Metrics) passiveExpired() {
	if m != nil {
		m.passiveExpiries.Inc()
	}
}

func (m *Metrics) dataRefused() {
	if m != nil {
		m.dataRejected.Inc()
	}
}

func (m *Metrics) reply(code int) {
	if m != nil && code >= 400 {
		m.replyErrors.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}

func (m *Metrics) lockedOut() {
	if m != nil {
		m.lockouts.Inc()
	}
}

func (m *Metrics) staleUploads(files int, bytes int64) {
	if m != nil {
		m.staleFiles.Add(float64(files))
		m.staleBytes.Add(float64(bytes))
	}
}

// Results of ftpd_relayed_connections_total.
const (
	relayOK          = "relayed"
	relayBroken      = "broken"
	relayUnreachable = "unreachable"
	relayRefused     = "refused"
)

func (m *Metrics) relay(result string) {
	if m != nil {
		m.relayed.WithLabelValues(result).Inc()
	}
}
