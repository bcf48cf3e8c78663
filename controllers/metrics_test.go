package controllers

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/opmetrics"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
)

// TestOperatorMetrics scrapes the operator's metrics: the pool's size, allocated and free ports, the servers by
// condition, build_info.
func TestOperatorMetrics(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, portalloc.Range{Start: 31300, End: 31319})
	create(t, newServer(t, ns, "six", count(6)))
	create(t, newServer(t, ns, "four", count(4)))
	create(t, newServer(t, ns, "huge", count(21)))
	waitGrant(t, ns, "six")
	waitGrant(t, ns, "four")
	waitCondition(t, ns, "six", ftpv1.ConditionReady, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress)
	waitCondition(t, ns, "four", ftpv1.ConditionReady, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress)
	waitCondition(t, ns, "huge", ftpv1.ConditionStalled, metav1.ConditionTrue, ftpv1.ReasonCountExceedsPool)
	// The cache the metrics list from has seen the statuses: wait until it counts the stalled server.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(opmetrics.New(op.rec.Allocator, op.rec.Client, "v1.2.3-test"))
	eventually(t, 10*time.Second, "the metrics to see every status", func() (bool, error) {
		mfs, err := reg.Gather()
		if err != nil {
			return false, err
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				name := mf.GetName()
				for _, l := range m.GetLabel() {
					name += " " + l.GetName() + "=" + l.GetValue()
				}
				got[name] = m.GetGauge().GetValue()
			}
		}
		for series, want := range map[string]float64{
			"ftp_operator_ftpserver_conditions condition=Ready reason=WaitingForAddress status=False": 2,
			"ftp_operator_ftpserver_conditions condition=Ready reason=CountExceedsPool status=False":  1,
			"ftp_operator_ftpserver_conditions condition=Stalled reason=CountExceedsPool status=True": 1,
			"ftp_operator_ftpserver_conditions condition=PortsAllocated reason=Allocated status=True": 2,
			"ftp_operator_build_info goversion=" + runtime.Version() + " version=v1.2.3-test":         1,
		} {
			if got[series] != want {
				return false, fmt.Errorf("%s = %v, want %v (all: %v)", series, got[series], want, got)
			}
		}
		return true, nil
	})
}
