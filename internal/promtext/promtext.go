// Package promtext is the engine's metrics registry: counters, gauges and histograms (with or without labels) that
// it serves in the Prometheus text exposition format (version 0.0.4).
//
// The engine used the Prometheus Go client for this. That client links the protobuf runtime (its data model is
// protobuf messages) and its collectors: 2.4 MB of the engine-only binary, most of the binary being resident from
// start whichever code runs, and 1 MiB of heap built at init. The engine needs none of it to write a few dozen
// series as text (issue 10 §3: peak RSS under the benchmark load; docs/benchmarks.md). The operator's manager keeps
// the client (controller-runtime's registry); this package has no dependency outside the standard library.
package promtext

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metric families and writes them sorted by name.
type Registry struct {
	mu         sync.Mutex
	families   map[string]*family
	collectors []func(*Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

type family struct {
	name, help, typ string
	labels          []string
	buckets         []float64 // histograms
	mu              sync.Mutex
	series          map[string]*series // by the joined label values
}

type series struct {
	values []string
	val    atomicFloat     // counter, gauge
	counts []atomic.Uint64 // histogram: per bucket (not cumulative), then +Inf
	sum    atomicFloat
}

func (r *Registry) add(name, help, typ string, buckets []float64, labels []string) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[name]; dup {
		panic("promtext: metric " + name + " registered twice")
	}
	f := &family{name: name, help: help, typ: typ, labels: labels, buckets: buckets, series: map[string]*series{}}
	r.families[name] = f
	return f
}

func (f *family) with(values []string) *series {
	if len(values) != len(f.labels) {
		panic("promtext: " + f.name + ": " + strconv.Itoa(len(values)) + " label values for " + strconv.Itoa(len(f.labels)) + " labels")
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.series[key]
	if s == nil {
		s = &series{values: slices.Clone(values)}
		if f.typ == "histogram" {
			s.counts = make([]atomic.Uint64, len(f.buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

// Counter is a value that only goes up.
type Counter struct{ s *series }

// Inc adds 1.
func (c Counter) Inc() { c.s.val.add(1) }

// Add adds v (v must not be negative).
func (c Counter) Add(v float64) { c.s.val.add(v) }

// Gauge is a value that goes up and down.
type Gauge struct{ s *series }

// Set sets the value.
func (g Gauge) Set(v float64) { g.s.val.store(v) }

// Add adds v (negative: subtracts).
func (g Gauge) Add(v float64) { g.s.val.add(v) }

// Inc adds 1.
func (g Gauge) Inc() { g.s.val.add(1) }

// Dec subtracts 1.
func (g Gauge) Dec() { g.s.val.add(-1) }

// Histogram counts observations in buckets.
type Histogram struct {
	s       *series
	buckets []float64
}

// Observe records v.
func (h Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.buckets, v) // the first bucket whose upper bound is >= v
	h.s.counts[i].Add(1)
	h.s.sum.add(v)
}

// Counter registers a counter without labels (present from the start, at 0).
func (r *Registry) Counter(name, help string) Counter {
	return Counter{r.add(name, help, "counter", nil, nil).with(nil)}
}

// Gauge registers a gauge without labels (present from the start, at 0).
func (r *Registry) Gauge(name, help string) Gauge {
	return Gauge{r.add(name, help, "gauge", nil, nil).with(nil)}
}

// Histogram registers a histogram without labels; buckets are the upper bounds, ascending (+Inf is implied).
func (r *Registry) Histogram(name, help string, buckets []float64) Histogram {
	return Histogram{r.add(name, help, "histogram", buckets, nil).with(nil), buckets}
}

// CounterVec is a counter per combination of label values; a series appears when first used.
type CounterVec struct{ f *family }

// CounterVec registers a counter with labels.
func (r *Registry) CounterVec(name, help string, labels ...string) CounterVec {
	return CounterVec{r.add(name, help, "counter", nil, labels)}
}

// WithLabelValues returns the counter of these label values, in the order the labels were registered.
func (v CounterVec) WithLabelValues(values ...string) Counter { return Counter{v.f.with(values)} }

// GaugeVec is a gauge per combination of label values; a series appears when first used.
type GaugeVec struct{ f *family }

// GaugeVec registers a gauge with labels (none: a gauge absent until first set).
func (r *Registry) GaugeVec(name, help string, labels ...string) GaugeVec {
	return GaugeVec{r.add(name, help, "gauge", nil, labels)}
}

// WithLabelValues returns the gauge of these label values.
func (v GaugeVec) WithLabelValues(values ...string) Gauge { return Gauge{v.f.with(values)} }

// HistogramVec is a histogram per combination of label values.
type HistogramVec struct{ f *family }

// HistogramVec registers a histogram with labels.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labels ...string) HistogramVec {
	return HistogramVec{r.add(name, help, "histogram", buckets, labels)}
}

// WithLabelValues returns the histogram of these label values.
func (v HistogramVec) WithLabelValues(values ...string) Histogram {
	return Histogram{v.f.with(values), v.f.buckets}
}

// Names lists the series names the registered families can export, observed or not (a histogram's _bucket, _sum
// and _count), sorted; the families of Collect functions are not included.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for name, f := range r.families {
		if f.typ == "histogram" {
			names = append(names, name+"_bucket", name+"_sum", name+"_count")
		} else {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Collect adds a function that writes further families (read at scrape time, such as the Go runtime's) after the
// registered ones.
func (r *Registry) Collect(f func(*Writer)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, f)
}

// WriteTo writes every family with at least one series in the text format, sorted by name.
func (r *Registry) WriteTo(out io.Writer) (int64, error) {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	collectors := slices.Clone(r.collectors)
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })

	cw := &countWriter{w: out}
	w := &Writer{b: bufio.NewWriter(cw)}
	for _, f := range fams {
		f.write(w)
	}
	for _, c := range collectors {
		c(w)
	}
	err := w.b.Flush()
	return cw.n, err
}

// ServeHTTP serves the registry as a scrape.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = r.WriteTo(w)
}

func (f *family) write(w *Writer) {
	f.mu.Lock()
	ss := make([]*series, 0, len(f.series))
	for _, s := range f.series {
		ss = append(ss, s)
	}
	f.mu.Unlock()
	if len(ss) == 0 {
		return
	}
	slices.SortFunc(ss, func(a, b *series) int { return slices.Compare(a.values, b.values) })
	w.header(f.name, f.help, f.typ)
	for _, s := range ss {
		if f.typ != "histogram" {
			w.sample(f.name, "", f.labels, s.values, "", s.val.load())
			continue
		}
		var cum uint64
		for i, ub := range f.buckets {
			cum += s.counts[i].Load()
			w.sample(f.name, "_bucket", f.labels, s.values, formatFloat(ub), float64(cum))
		}
		cum += s.counts[len(f.buckets)].Load()
		w.sample(f.name, "_bucket", f.labels, s.values, "+Inf", float64(cum))
		w.sample(f.name, "_sum", f.labels, s.values, "", s.sum.load())
		w.sample(f.name, "_count", f.labels, s.values, "", float64(cum))
	}
}

// Writer writes samples in the text format; collectors get one.
type Writer struct{ b *bufio.Writer }

// Gauge writes a gauge family of one series without labels.
func (w *Writer) Gauge(name, help string, v float64) {
	w.header(name, help, "gauge")
	w.sample(name, "", nil, nil, "", v)
}

// Counter writes a counter family of one series without labels.
func (w *Writer) Counter(name, help string, v float64) {
	w.header(name, help, "counter")
	w.sample(name, "", nil, nil, "", v)
}

// GaugeLabels writes a gauge family of one series with labels.
func (w *Writer) GaugeLabels(name, help string, labels, values []string, v float64) {
	w.header(name, help, "gauge")
	w.sample(name, "", labels, values, "", v)
}

func (w *Writer) header(name, help, typ string) {
	w.b.WriteString("# HELP ")
	w.b.WriteString(name)
	w.b.WriteByte(' ')
	w.b.WriteString(helpEscaper.Replace(help))
	w.b.WriteString("\n# TYPE ")
	w.b.WriteString(name)
	w.b.WriteByte(' ')
	w.b.WriteString(typ)
	w.b.WriteByte('\n')
}

func (w *Writer) sample(name, suffix string, labels, values []string, le string, v float64) {
	w.b.WriteString(name)
	w.b.WriteString(suffix)
	if len(labels) > 0 || le != "" {
		w.b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(l)
			w.b.WriteString(`="`)
			w.b.WriteString(valueEscaper.Replace(values[i]))
			w.b.WriteByte('"')
		}
		if le != "" {
			if len(labels) > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(`le="`)
			w.b.WriteString(le)
			w.b.WriteByte('"')
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(formatFloat(v))
	w.b.WriteByte('\n')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// atomicFloat is a float64 updated without a lock.
type atomicFloat struct{ bits atomic.Uint64 }

func (a *atomicFloat) load() float64   { return math.Float64frombits(a.bits.Load()) }
func (a *atomicFloat) store(v float64) { a.bits.Store(math.Float64bits(v)) }
func (a *atomicFloat) add(v float64) {
	for {
		old := a.bits.Load()
		if a.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
