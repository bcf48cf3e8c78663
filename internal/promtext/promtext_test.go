package promtext_test

import (
	"bytes"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ftp-operator/ftp-operator/internal/promtext"
	"github.com/ftp-operator/ftp-operator/internal/promtext/promtexttest"
)

// TestExposition: what a registry writes is what the Prometheus client's parser reads back as the values recorded:
// families sorted, series sorted by label values, escaped help and label values, cumulative histogram buckets with
// +Inf, _sum and _count, vectors absent until a series is used.
func TestExposition(t *testing.T) {
	r := promtext.NewRegistry()
	c := r.Counter("t_requests_total", "Requests.")
	g := r.Gauge("t_open", `Open "things" \ now`+"\nsecond line.")
	cv := r.CounterVec("t_errors_total", "Errors by code.", "code")
	gv := r.GaugeVec("t_expiry", "Absent until set.")
	h := r.HistogramVec("t_size", "Sizes.", []float64{1, 10, 100}, "dir", "result")
	r.CounterVec("t_unused_total", "Never used.", "x")

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc()
				g.Add(0.5)
			}
		})
	}
	wg.Wait()
	g.Dec()
	cv.WithLabelValues("550").Add(2)
	cv.WithLabelValues("425").Inc()
	cv.WithLabelValues(`a"b\c` + "\n").Inc()
	for _, v := range []float64{0.5, 1, 7, 10, 50, 1e9} {
		h.WithLabelValues("in", "ok").Observe(v)
	}
	h.WithLabelValues("out", "failed").Observe(3)

	want := `
# HELP t_errors_total Errors by code.
# TYPE t_errors_total counter
t_errors_total{code="425"} 1
t_errors_total{code="550"} 2
t_errors_total{code="a\"b\\c\n"} 1
# HELP t_open Open "things" \\ now\nsecond line.
# TYPE t_open gauge
t_open 3999
# HELP t_requests_total Requests.
# TYPE t_requests_total counter
t_requests_total 8000
# HELP t_size Sizes.
# TYPE t_size histogram
t_size_bucket{dir="in",result="ok",le="1"} 2
t_size_bucket{dir="in",result="ok",le="10"} 4
t_size_bucket{dir="in",result="ok",le="100"} 5
t_size_bucket{dir="in",result="ok",le="+Inf"} 6
t_size_sum{dir="in",result="ok"} 1.0000000685e+09
t_size_count{dir="in",result="ok"} 6
t_size_bucket{dir="out",result="failed",le="1"} 0
t_size_bucket{dir="out",result="failed",le="10"} 1
t_size_bucket{dir="out",result="failed",le="100"} 1
t_size_bucket{dir="out",result="failed",le="+Inf"} 1
t_size_sum{dir="out",result="failed"} 3
t_size_count{dir="out",result="failed"} 1
`
	if err := testutil.GatherAndCompare(promtexttest.Gatherer(r), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	gv.WithLabelValues().Set(math.Inf(1))
	if n, err := testutil.GatherAndCount(promtexttest.Gatherer(r), "t_expiry"); err != nil || n != 1 {
		t.Fatalf("t_expiry: %d series (%v), want 1 once set", n, err)
	}
	// The text itself, byte for byte, for one family: the order of label pairs is the order registered.
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "t_size_bucket{dir=\"in\",result=\"ok\",le=\"+Inf\"} 6\n") ||
		!strings.Contains(b.String(), "t_expiry +Inf\n") {
		t.Fatalf("unexpected text:\n%s", b.String())
	}
	if got := strings.Join(r.Names(), " "); got != "t_errors_total t_expiry t_open t_requests_total t_size_bucket t_size_count t_size_sum t_unused_total" {
		t.Errorf("Names() = %s", got)
	}
}

// TestRuntimeSeries: CollectRuntime serves the Go client's names for the runtime's and the process's gauges (the
// benchmark harness and dashboards read them), with plausible values.
func TestRuntimeSeries(t *testing.T) {
	r := promtext.NewRegistry()
	r.CollectRuntime()
	mfs, err := promtexttest.Gatherer(r).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	for _, name := range []string{"go_goroutines", "go_threads", "go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes",
		"go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_mspan_inuse_bytes",
		"go_memstats_other_sys_bytes", "go_memstats_sys_bytes", "process_resident_memory_bytes", "process_open_fds",
		"process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name])
		}
	}
	if _, ok := got["process_cpu_seconds_total"]; !ok {
		t.Error("process_cpu_seconds_total missing")
	}
	if got["process_resident_memory_bytes"] < 1<<20 || got["process_resident_memory_bytes"] > 1<<30 {
		t.Errorf("process_resident_memory_bytes = %v, not a resident size", got["process_resident_memory_bytes"])
	}
}
