//go:build bench

package bench

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// writeVerbs are the request verbs of apiserver_request_total that change state; readVerbs those that read once
// (a WATCH is counted when it starts, and says nothing of the events it carries).
var (
	writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}
	readVerbs  = map[string]bool{"GET": true, "LIST": true}
)

var requestLine = regexp.MustCompile(`^apiserver_request_total\{(.*)\} (\S+)$`)

// apiRequests reads the API server's request counters and sums the writes and reads by "resource[/subresource] VERB".
func apiRequests() (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		m := requestLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(m[1], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		if !writeVerbs[labels["verb"]] && !readVerbs[labels["verb"]] {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		key := labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		out[key+" "+labels["verb"]] += v
	}
	return out, nil
}

// requestsBetween is the number of requests of verbs from before to after, and the largest kinds of them per server.
func requestsBetween(before, after map[string]float64, servers int, verbs map[string]bool) (float64, string) {
	var total float64
	type kv struct {
		k string
		v float64
	}
	var parts []kv
	for k, v := range after {
		if _, verb, _ := strings.Cut(k, " "); !verbs[verb] {
			continue
		}
		if d := v - before[k]; d > 0 {
			total += d
			parts = append(parts, kv{k, d})
		}
	}
	slices.SortFunc(parts, func(a, b kv) int { return int(b.v - a.v) })
	var b strings.Builder
	for i, p := range parts {
		if i == 12 {
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.2f", p.k, p.v/float64(servers))
	}
	return total, b.String()
}
