package ftpd

import (
	"bytes"
	"crypto/tls"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/promtext"
	"github.com/ftp-operator/ftp-operator/internal/promtext/promtexttest"
	"github.com/jlaffaye/ftp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type histo struct {
	count    uint64
	sum, top float64 // top = largest finite bucket bound
}

// histogram returns the histogram of name whose labels are exactly labels (nil if none).
func histogram(t testing.TB, reg *promtext.Registry, name string, labels map[string]string) *histo {
	t.Helper()
	mfs, err := promtexttest.Gatherer(reg).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			h := m.GetHistogram()
			b := h.GetBucket()
			return &histo{count: h.GetSampleCount(), sum: h.GetSampleSum(), top: b[len(b)-1].GetUpperBound()}
		}
	}
	return nil
}

func TestTransferHistograms(t *testing.T) {
	reg := promtext.NewRegistry()
	e := newEnv(t, func(s *Server) { s.Metrics = NewMetrics(reg) })
	e.write(t, "acme/down.bin", strings.Repeat("d", 7000))

	c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("acme", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("up.bin", strings.NewReader(strings.Repeat("u", 5000))); err != nil {
		t.Fatal(err)
	}
	rr, err := c.Retr("down.bin")
	if err != nil {
		t.Fatal(err)
	}
	if s := readAll(t, rr); len(s) != 7000 {
		t.Fatalf("RETR got %d bytes", len(s))
	}
	rr.Close()

	// An upload aborted with ABOR and one whose data connection is reset.
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	for _, how := range []string{"abor", "reset"} {
		dc := dialData(t, r.epsv(), "")
		r.must(150, "STOR %s.bin", how)
		if _, err := dc.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
			t.Fatal(err)
		}
		// Mid-transfer: the engine has received part of it (the lower bound of 1 byte below).
		waitFor(t, 5*time.Second, "upload data in the temp file", func() bool { return uploadReceiving(t, e) })
		if how == "abor" {
			if code, _ := r.cmd("ABOR"); code != 426 {
				t.Fatalf("ABOR first reply %d, want 426", code)
			}
			r.expect(226)
			dc.Close()
		} else {
			dc.(*net.TCPConn).SetLinger(0)
			dc.Close()
			if code, msg := r.read(); code != 426 {
				t.Fatalf("after reset: %d %s, want 426", code, msg)
			}
		}
		waitFor(t, 5*time.Second, "temp file removed", func() bool { return len(tempFiles(t, e)) == 0 })
	}

	for _, tt := range []struct {
		direction, result string
		size              float64 // exact for ok, a lower bound otherwise
	}{
		{"upload", "ok", 5000},
		{"download", "ok", 7000},
		{"upload", "aborted", 1},
		{"upload", "failed", 1},
	} {
		labels := map[string]string{"direction": tt.direction, "result": tt.result}
		size := histogram(t, reg, "ftpd_transfer_size_bytes", labels)
		dur := histogram(t, reg, "ftpd_transfer_duration_seconds", labels)
		if size == nil || dur == nil {
			t.Errorf("%v: no histogram (size %v, duration %v)", labels, size, dur)
			continue
		}
		if size.count != 1 || dur.count != 1 {
			t.Errorf("%v: counts size %d duration %d, want 1", labels, size.count, dur.count)
		}
		if tt.result == "ok" && size.sum != tt.size || size.sum < tt.size {
			t.Errorf("%v: size sum %v, want %v", labels, size.sum, tt.size)
		}
		if d := dur.sum; d <= 0 || d > 10 {
			t.Errorf("%v: duration %vs", labels, d)
		}
	}
	if h := histogram(t, reg, "ftpd_transfer_size_bytes", map[string]string{"direction": "download", "result": "failed"}); h != nil {
		t.Errorf("download failed observed %d", h.count)
	}
	// Buckets fit FTP: sizes up to GiBs, durations up to hours.
	if top := histogram(t, reg, "ftpd_transfer_size_bytes", map[string]string{"direction": "upload", "result": "ok"}).top; top < 4<<30 {
		t.Errorf("largest size bucket %v, want >= 4 GiB", top)
	}
	if top := histogram(t, reg, "ftpd_transfer_duration_seconds", map[string]string{"direction": "upload", "result": "ok"}).top; top < 3600 {
		t.Errorf("largest duration bucket %vs, want >= 1h", top)
	}
}

func TestBuildInfoMetric(t *testing.T) {
	reg := promtext.NewRegistry()
	m := NewMetrics(reg)
	m.SetBuildInfo("v1.2.3")
	want := `
# HELP ftpd_build_info Always 1; the labels say which build of the engine runs (set by SetBuildInfo).
# TYPE ftpd_build_info gauge
ftpd_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(promtexttest.Gatherer(reg), strings.NewReader(want), "ftpd_build_info"); err != nil {
		t.Fatal(err)
	}
}

func TestPassivePortsMetric(t *testing.T) {
	reg := promtext.NewRegistry()
	e := newEnv(t, func(s *Server) { s.Metrics = NewMetrics(reg) })
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	r.epsv()
	if got, want := metricValue(t, reg, "ftpd_passive_ports", ""), float64(e.srv.PassivePorts.Size()); got != want || want != 50 {
		t.Errorf("ftpd_passive_ports = %v, want %v (50)", got, want)
	}
	if got := metricValue(t, reg, "ftpd_passive_ports_in_use", ""); got != 1 {
		t.Errorf("ftpd_passive_ports_in_use = %v, want 1", got)
	}
}

func TestCertificateExpiryMetric(t *testing.T) {
	dir := t.TempDir()
	cr, first := certReloader(t, dir, "first")
	cr.CheckInterval = 10 * time.Millisecond
	reg := promtext.NewRegistry()
	m := NewMetrics(reg)
	const name = "ftpd_tls_certificate_expiry_timestamp_seconds"
	if n, err := testutil.GatherAndCount(promtexttest.Gatherer(reg), name); err != nil || n != 0 {
		t.Fatalf("%s present before a certificate is loaded (%d series, %v)", name, n, err)
	}
	cr.OnLoad(m.CertificateLoaded)
	if got := metricValue(t, reg, name, ""); got != float64(first.NotAfter.Unix()) {
		t.Fatalf("%s = %v, want %d", name, got, first.NotAfter.Unix())
	}
	e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig(); s.Metrics = m })
	time.Sleep(1100 * time.Millisecond) // the next certificate expires at least a second later
	_, _, second := selfSigned(t, dir, "second")
	if second.NotAfter.Unix() == first.NotAfter.Unix() {
		t.Fatal("test certificates expire in the same second")
	}
	// A handshake on the real server reloads the files and updates the gauge.
	waitFor(t, 5*time.Second, "gauge follows the reloaded certificate", func() bool {
		r := dialRaw(t, e.addr, "")
		r.must(234, "AUTH TLS")
		tc := tls.Client(r.c, clientTLS())
		_ = tc.Handshake()
		tc.Close()
		return metricValue(t, reg, name, "") == float64(second.NotAfter.Unix())
	})
}
