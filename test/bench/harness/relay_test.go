package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRelayBenchMeasuresBothPaths: the relay row downloads the whole file both ways (a short run: 4 MiB, or
// BENCH_SIZE, BENCH_REPS times), and its section reports both rates and their ratio.
func TestRelayBenchMeasuresBothPaths(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl not installed")
		}
		t.Skip("curl not installed")
	}
	c := config{size: envInt("BENCH_SIZE", 4<<20), reps: int(envInt("BENCH_REPS", 1))}
	row, err := relayBench(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(row.direct) != c.reps || len(row.relayed) != c.reps || row.ratio() <= 0 {
		t.Fatalf("row %+v", row)
	}
	md := row.markdown()
	if !strings.Contains(md, "relayed / direct") {
		t.Fatalf("section:\n%s", md)
	}
	t.Logf("%s RETR, %d reps: direct %v MiB/s, relayed %v MiB/s, ratio of medians %.2f", human(row.size), c.reps, row.direct, row.relayed, row.ratio())
}
