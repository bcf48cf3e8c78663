package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEngineOnlyBuildDependencies: the engine-only build (-tags ftpdonly, what the FTP pods run) links none of the
// packages it does not need and that cost it memory (issue 10 §3). The Prometheus Go client and the protobuf
// runtime it brings were 2.4 MB of the 12.3 MB binary and ~3 MB of resident memory from start (1.9 MiB of mapped
// binary, 1 MiB of heap built at init); the engine writes its metrics with internal/promtext.
func TestEngineOnlyBuildDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "ftpdonly", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/prometheus/", "google.golang.org/protobuf/"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("the engine-only build links %s", pkg)
			}
		}
	}
}
