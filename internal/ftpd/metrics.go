package ftpd

import (
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
}

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
	}
	if reg != nil {
		reg.MustRegister(m.sessionsActive, m.sessionsTotal, m.sessionsRejected, m.logins, m.bytes, m.transfers,
			m.passiveInUse, m.passiveWaits, m.passiveWaitTime, m.passiveExpiries, m.dataRejected, m.replyErrors, m.lockouts,
			m.staleFiles, m.staleBytes)
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

func (m *Metrics) transfer(dir string, n int64, ok bool) {
	if m == nil {
		return
	}
	m.bytes.WithLabelValues(dir).Add(float64(n))
	res := "ok"
	if !ok {
		res = "failed"
	}
	m.transfers.WithLabelValues(dir, res).Inc()
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
