//go:build !ftpdonly

package main

import (
	"runtime/debug"
	"testing"
)

// The manager collects at +50 % unless GOGC says otherwise.
func TestManagerGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if got := defaultGCPercent(managerGCPercent); got != managerGCPercent || debug.SetGCPercent(100) != managerGCPercent {
		t.Fatalf("GOGC unset: percent %d, want %d", got, managerGCPercent)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200) // what the runtime read from GOGC at start
	if got := defaultGCPercent(managerGCPercent); got != 200 || debug.SetGCPercent(200) != 200 {
		t.Fatalf("GOGC=200: percent %d, want 200", got)
	}
}
