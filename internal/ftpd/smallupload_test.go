package ftpd

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestSmallUploadIsNotHeldByTheGrace: the close grace scales with the upload's time (a quarter of it), so a 1 KiB
// upload that took a fraction of a millisecond must get its 226 about as fast as with no grace at all. An engine
// that sleeps a sub-millisecond grace on a runtime timer pays a millisecond or more per file (the timers wake
// through epoll in whole milliseconds): a curl batch of small files then takes twice vsftpd's time.
//
// Both engines run side by side and the uploads alternate, so a loaded machine slows both alike; the bound is on
// the difference of the medians.
func TestSmallUploadIsNotHeldByTheGrace(t *testing.T) {
	type target struct {
		name string
		r    *raw
		lat  []time.Duration
	}
	var targets []*target
	for _, grace := range []time.Duration{0, -1} { // the default, and none
		e := newEnv(t, func(s *Server) { s.UploadCloseGrace = grace })
		r := dialRaw(t, e.addr, "")
		r.login("acme", "secret")
		targets = append(targets, &target{name: fmt.Sprintf("grace %v", grace), r: r})
	}
	payload := make([]byte, 1024)
	const rounds = 60
	for i := range rounds {
		for _, tg := range targets {
			dc := dialData(t, tg.r.epsv(), "")
			if code, msg := tg.r.cmd("STOR small%d.bin", i); code != 150 {
				t.Fatalf("%s: STOR: %d %s", tg.name, code, msg)
			}
			if _, err := dc.Write(payload); err != nil {
				t.Fatal(err)
			}
			closed := time.Now()
			dc.Close()
			tg.r.expect(226)
			tg.lat = append(tg.lat, time.Since(closed))
		}
	}
	median := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)/2] }
	withGrace, without := median(targets[0].lat), median(targets[1].lat)
	t.Logf("close → 226, median of %d: default grace %v, no grace %v", rounds, withGrace, without)
	if withGrace-without > 500*time.Microsecond {
		t.Fatalf("a 1 KiB upload's 226 comes %v later with the default grace than without one (median of %d); "+
			"the grace of a sub-millisecond upload must not cost a timer's millisecond", withGrace-without, rounds)
	}
}
