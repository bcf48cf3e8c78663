package main

import (
	"path/filepath"
	"testing"
	"time"
)

// withClientCost charges the curl of one upload to the target: a CPU time per GiB and a context-switch count.
func TestWithClientCost(t *testing.T) {
	dir := t.TempDir()
	r, err := startRaw(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.l.Close()
	src := filepath.Join(t.TempDir(), "src.bin")
	const size = 32 << 20
	if err := writeFile(src, size); err != nil {
		t.Fatal(err)
	}
	res := newResults(nil)
	tgt := rawTarget{r}
	x, err := withClientCost(res, tgt.name(), size, func() (xfer, error) { return stor(tgt, src, size, time.Minute) })
	if err != nil {
		t.Fatal(err)
	}
	if x.bytes != size {
		t.Fatalf("uploaded %d bytes", x.bytes)
	}
	cpu, ok := res.value("storclientcpu", tgt.name())
	if !ok || cpu <= 0 {
		t.Errorf("storclientcpu = %v (recorded %v), want curl's CPU time > 0", cpu, ok)
	}
	if _, ok := res.value("storclientnivcsw", tgt.name()); !ok {
		t.Error("storclientnivcsw not recorded")
	}
}
