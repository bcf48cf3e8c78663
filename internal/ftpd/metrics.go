package ftpd

import (
	"crypto/x509"
	"errors"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus collectors. A nil *Metrics is valid and
// records nothing.
type Metrics struct {
	sessionsActive   prometheus.Gauge
	sessionsTotal    prometheus.Counter
	sessionsRejected *prometheus.CounterVec
	logins           *prometheus.CounterVec
	bytes            *prometheus.CounterVec
	transfers        *prometheus.CounterVec
	passiveInUse     prometheus.Gauge
	passiveWaits     *prometheus.CounterVec
	passiveWaitTime  prometheus.Histogram
	passiveExpiries  prometheus.Counter
	dataRejected     prometheus.Counter
	replyErrors      *prometheus.CounterVec
	lockouts         prometheus.Counter
	staleFiles       prometheus.Counter
	staleBytes       prometheus.Counter
	buildInfo        *prometheus.GaugeVec
	xferSeconds      *prometheus.HistogramVec
	xferSize         *prometheus.HistogramVec
	passivePorts     prometheus.Gauge
	certExpiry       *prometheus.GaugeVec
	relayed          *prometheus.CounterVec
}

// Histogram buckets for transfers: FTP moves anything from a few bytes to
// many GiB, over milliseconds to hours.
var (
	transferSizeBuckets     = prometheus.ExponentialBuckets(1024, 4, 13)                                // 1 KiB .. 16 GiB
	transferDurationBuckets = []float64{.01, .05, .25, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400} // 10 ms .. 4 h
)

// NewMetrics creates the collectors and registers them with reg (if non-nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sessionsActive: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ftpd_sessions_active", Help: "Open control connections."}),
		sessionsTotal:  prometheus.NewCounter(prometheus.CounterOpts{Name: "ftpd_sessions_total", Help: "Accepted control connections."}),
		sessionsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_sessions_rejected_total",
			Help: "Control connections refused, by reason."}, []string{"reason"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_logins_total",
			Help: "Login attempts by result (ok, failed, locked)."}, []string{"result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_transfer_bytes_total",
			Help: "Bytes moved on data connections by direction (in = upload, out = download)."}, []string{"direction"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_transfers_total",
			Help: "File transfers by direction and result."}, []string{"direction", "result"}),
		passiveInUse: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ftpd_passive_ports_in_use", Help: "Passive listeners open."}),
		passiveWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_passive_waits_total",
			Help: "PASV/EPSV commands that found every passive port taken and waited, by result (served, timeout)."},
			[]string{"result"}),
		passiveWaitTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ftpd_passive_wait_seconds",
			Help:    "How long PASV/EPSV waited for a free passive port (only commands that waited).",
			Buckets: []float64{.001, .005, .025, .1, .5, 2.5, 10, 30}}),
		passiveExpiries: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftpd_passive_expired_total",
			Help: "Passive ports given back because no transfer used them within the data timeout."}),
		dataRejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftpd_data_connections_rejected_total",
			Help: "Data connections refused because no session of that client IP was waiting."}),
		replyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_reply_errors_total",
			Help: "Error replies (4xx and 5xx) by code."}, []string{"code"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftpd_lockouts_total", Help: "Lockouts after failed logins (of a user from an IP, of a user, or of an IP)."}),
		staleFiles: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftpd_stale_uploads_removed_total",
			Help: "Temporary files of interrupted uploads (left by a crash or a kill) removed at start."}),
		staleBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftpd_stale_upload_bytes_removed_total",
			Help: "Bytes of the temporary upload files removed at start."}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ftpd_build_info",
			Help: "Always 1; the labels say which build of the engine runs (set by SetBuildInfo)."},
			[]string{"version", "goversion"}),
		xferSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftpd_transfer_duration_seconds",
			Help:    "Duration of file transfers (RETR, STOR, APPE, STOU) by direction (upload, download) and result (ok, failed, aborted).",
			Buckets: transferDurationBuckets}, []string{"direction", "result"}),
		xferSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftpd_transfer_size_bytes",
			Help:    "Bytes moved per file transfer by direction (upload, download) and result (ok, failed, aborted).",
			Buckets: transferSizeBuckets}, []string{"direction", "result"}),
		passivePorts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ftpd_passive_ports",
			Help: "Ports in the engine's passive range (compare with ftpd_passive_ports_in_use)."}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ftpd_tls_certificate_expiry_timestamp_seconds",
			Help: "NotAfter (unix time) of the TLS certificate served, updated on every (re)load; absent without TLS."}, nil),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_relayed_connections_total",
			Help: "Data connections for another pod's slice (Relay routing) by result: relayed (ended cleanly), broken (a side reset or timed out; passed on as a reset), unreachable (the owner did not answer), refused (too many relayed at once)."},
			[]string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.sessionsActive, m.sessionsTotal, m.sessionsRejected, m.logins, m.bytes, m.transfers,
			m.passiveInUse, m.passiveWaits, m.passiveWaitTime, m.passiveExpiries, m.dataRejected, m.replyErrors, m.lockouts,
			m.staleFiles, m.staleBytes, m.buildInfo, m.xferSeconds, m.xferSize, m.passivePorts, m.certExpiry, m.relayed)
	}
	return m
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
		m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
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
