package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent applies def as GOGC when the environment sets none, and returns the percent in force.
func defaultGCPercent(def int) int {
	if os.Getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(def)
	return def
}
