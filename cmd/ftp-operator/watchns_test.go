//go:build !ftpdonly

package main

import (
	"maps"
	"slices"
	"testing"
)

func TestWatchNamespaces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil: every namespace
		err  bool
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "team-a", want: []string{"team-a"}},
		{in: "team-a, team-b,team-a", want: []string{"team-a", "team-b"}},
		{in: "team-a,", err: true},
		{in: "Team_A", err: true},
	} {
		got, err := watchNamespaces(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: accepted as %v", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("%q: %v, want %v", tc.in, keys, tc.want)
		}
	}
}
