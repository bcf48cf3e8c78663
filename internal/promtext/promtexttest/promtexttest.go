// Package promtexttest reads a promtext.Registry back with the Prometheus client's own parser, for tests: a
// scrape parsed by an implementation that is not ours, in the client's data model, so tests can use its testutil.
package promtexttest

import (
	"bytes"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ftp-operator/ftp-operator/internal/promtext"
)

// Gatherer scrapes reg (its text output, parsed) at every Gather.
func Gatherer(reg *promtext.Registry) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		var b bytes.Buffer
		if _, err := reg.WriteTo(&b); err != nil {
			return nil, err
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		byName, err := p.TextToMetricFamilies(&b)
		if err != nil {
			return nil, err
		}
		mfs := make([]*dto.MetricFamily, 0, len(byName))
		for _, mf := range byName {
			mfs = append(mfs, mf)
		}
		slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
		return mfs, nil
	})
}
