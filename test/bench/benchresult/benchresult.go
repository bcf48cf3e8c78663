// Package benchresult is what the operator benchmarks (test/bench, `go test -tags bench`) hand to the report writer
// (test/bench/harness): a JSON array of Row, in the file $BENCH_OPERATOR_OUT names.
package benchresult

// Row is one line of the operator section of docs/benchmarks.md.
type Row struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Pass   *bool   `json:"pass,omitempty"`
	Note   string  `json:"note,omitempty"`
}
