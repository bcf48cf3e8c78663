// Package opmetrics is the operator's own Prometheus metrics: the passive-port pool and the FTPServers by
// condition, computed when they are scraped.
package opmetrics

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
)

// Metrics is the operator's own metrics, computed when they are scraped: the passive-port pool from the allocator,
// and the FTPServers by condition from the manager's cache (so a deleted server leaves no stale series). Register
// it with controller-runtime's metrics.Registry, which the manager serves on --metrics-bind-address. The pool's
// numbers are those of the leader: a standby replica has replayed no grants and reports none allocated.
type Metrics struct {
	pool    *portalloc.Allocator
	servers client.Reader
	version string

	buildInfo, poolSize, allocated, free, count, conditions *prometheus.Desc
}

// New returns the collector of the metrics of the pool (the reconciler's allocator) and of the FTPServers that
// servers (the manager's cached client) lists; version is the operator's (and its engine's) version.
func New(pool *portalloc.Allocator, servers client.Reader, version string) *Metrics {
	return &Metrics{
		pool:    pool,
		servers: servers,
		version: version,
		buildInfo: prometheus.NewDesc("ftp_operator_build_info",
			"Always 1; the labels say which build of the operator runs (its engine, the ftpd subcommand of the same image, is the same version).",
			[]string{"version", "goversion"}, nil),
		poolSize: prometheus.NewDesc("ftp_operator_passive_port_pool_size",
			"Ports in the operator's passive-port pool (--passive-port-pool).", nil, nil),
		allocated: prometheus.NewDesc("ftp_operator_passive_ports_allocated",
			"Passive ports granted to FTPServers, including grants kept outside a pool that was changed.", nil, nil),
		free: prometheus.NewDesc("ftp_operator_passive_ports_free",
			"Ports of the pool that are neither granted nor blocked (for example by another Service's nodePort).", nil, nil),
		count: prometheus.NewDesc("ftp_operator_ftpservers",
			"FTPServers the operator watches.", nil, nil),
		conditions: prometheus.NewDesc("ftp_operator_ftpserver_conditions",
			"FTPServers by condition type, status and reason, for example Ready/False/ImagePullBackOff or Stalled/True/PoolExhausted.",
			[]string{"condition", "status", "reason"}, nil),
	}
}

var _ prometheus.Collector = (*Metrics)(nil)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.buildInfo, m.poolSize, m.allocated, m.free, m.count, m.conditions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(m.buildInfo, prometheus.GaugeValue, 1, m.version, runtime.Version())
	a := m.pool
	ch <- prometheus.MustNewConstMetric(m.poolSize, prometheus.GaugeValue, float64(a.Pool().Size()))
	ch <- prometheus.MustNewConstMetric(m.allocated, prometheus.GaugeValue, float64(a.Allocated()))
	ch <- prometheus.MustNewConstMetric(m.free, prometheus.GaugeValue, float64(a.Free()))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list ftpv1.FTPServerList
	if err := m.servers.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing FTPServers for the metrics")
		ch <- prometheus.NewInvalidMetric(m.count, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(m.count, prometheus.GaugeValue, float64(len(list.Items)))
	type key struct{ typ, status, reason string }
	counts := map[key]int{}
	for i := range list.Items {
		for _, c := range list.Items[i].Status.Conditions {
			counts[key{c.Type, string(c.Status), c.Reason}]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.conditions, prometheus.GaugeValue, float64(n), k.typ, k.status, k.reason)
	}
}
