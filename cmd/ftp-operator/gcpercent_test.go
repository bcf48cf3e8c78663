package main

import (
	"runtime/debug"
	"testing"
)

// The engine collects at +50 % unless GOGC says otherwise (issue 10 §3: its live heap is about 1 MiB, under Go's
// 4 MB floor at GOGC=100).
func TestEngineGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	_, _, stop := startLocalFTPD(t)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != engineGCPercent {
		t.Fatalf("GOGC unset: the engine runs at %d %%, want %d", got, engineGCPercent)
	}
}
