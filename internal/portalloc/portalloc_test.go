package portalloc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// step is one operation in a scenario, run in order against one allocator.
type step struct {
	op      string // assign | allocate | reallocate | keep | release | block | limit (size)
	key     string
	r       Range // for assign; for block, r.Start is the port
	size    int32 // for allocate
	want    Range // expected grant (allocate)
	wantErr error // expected error class; *ConflictError matched by type
}

var errConflict = errors.New("conflict")

func TestScenarios(t *testing.T) {
	pool := Range{Start: 30000, End: 30009}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first fit from the bottom", []step{
			{op: "allocate", key: "a", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "allocate", key: "b", size: 4, want: Range{Start: 30004, End: 30007}},
		}},
		{"allocate is idempotent", []step{
			{op: "allocate", key: "a", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "allocate", key: "a", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "allocate", key: "b", size: 2, want: Range{Start: 30004, End: 30005}},
		}},
		{"b can't take a's range", []step{
			{op: "allocate", key: "a", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "assign", key: "b", r: Range{Start: 30002, End: 30005}, wantErr: errConflict},
			{op: "allocate", key: "c", size: 1, want: Range{Start: 30004, End: 30004}},
		}},
		{"restart replays a before b", []step{
			// a fresh allocator replays the grants from status before any new allocation
			{op: "assign", key: "b", r: Range{Start: 30004, End: 30007}},
			{op: "assign", key: "a", r: Range{Start: 30000, End: 30003}},
			{op: "allocate", key: "c", size: 2, want: Range{Start: 30008, End: 30009}},
			{op: "allocate", key: "d", size: 1, wantErr: ErrPoolExhausted},
		}},
		{"assign is idempotent", []step{
			{op: "assign", key: "a", r: Range{Start: 30002, End: 30003}},
			{op: "assign", key: "a", r: Range{Start: 30002, End: 30003}},
			{op: "allocate", key: "b", size: 2, want: Range{Start: 30000, End: 30001}},
		}},
		{"pinned range outside the pool", []step{
			{op: "assign", key: "a", r: Range{Start: 29999, End: 30001}, wantErr: ErrOutsidePool},
			{op: "assign", key: "a", r: Range{Start: 30009, End: 30010}, wantErr: ErrOutsidePool},
		}},
		{"exhaustion then recovery on release", []step{
			{op: "allocate", key: "a", size: 6, want: Range{Start: 30000, End: 30005}},
			{op: "allocate", key: "b", size: 5, wantErr: ErrPoolExhausted},
			{op: "release", key: "a"},
			{op: "allocate", key: "b", size: 5, want: Range{Start: 30000, End: 30004}},
		}},
		{"released range is reused", []step{
			{op: "allocate", key: "a", size: 3, want: Range{Start: 30000, End: 30002}},
			{op: "allocate", key: "b", size: 3, want: Range{Start: 30003, End: 30005}},
			{op: "release", key: "a"},
			{op: "allocate", key: "c", size: 3, want: Range{Start: 30000, End: 30002}},
		}},
		{"fragmented pool has no contiguous room", []step{
			{op: "assign", key: "a", r: Range{Start: 30003, End: 30003}},
			{op: "assign", key: "b", r: Range{Start: 30007, End: 30007}},
			{op: "allocate", key: "c", size: 4, wantErr: ErrPoolExhausted},
			{op: "allocate", key: "c", size: 3, want: Range{Start: 30000, End: 30002}},
		}},
		{"blocked port is skipped", []step{
			{op: "block", r: Range{Start: 30001, End: 30001}, key: "nodePort of default/web"},
			{op: "allocate", key: "a", size: 2, want: Range{Start: 30002, End: 30003}},
			{op: "assign", key: "b", r: Range{Start: 30000, End: 30001}, wantErr: errConflict},
		}},
		{"a held range with a port blocked since moves", []step{
			{op: "allocate", key: "a", size: 3, want: Range{Start: 30000, End: 30002}},
			{op: "block", r: Range{Start: 30001, End: 30001}, key: "nodePort of default/web"},
			{op: "allocate", key: "a", size: 3, want: Range{Start: 30002, End: 30004}},
			{op: "allocate", key: "b", size: 1, want: Range{Start: 30000, End: 30000}},
		}},
		{"growing keeps the start when it can", []step{
			{op: "allocate", key: "a", size: 2, want: Range{Start: 30000, End: 30001}},
			{op: "allocate", key: "a", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "allocate", key: "b", size: 1, want: Range{Start: 30004, End: 30004}},
		}},
		{"growing moves when blocked, shrinking keeps the start", []step{
			{op: "allocate", key: "a", size: 2, want: Range{Start: 30000, End: 30001}},
			{op: "allocate", key: "b", size: 1, want: Range{Start: 30002, End: 30002}},
			{op: "allocate", key: "a", size: 3, want: Range{Start: 30003, End: 30005}},
			{op: "allocate", key: "c", size: 2, want: Range{Start: 30000, End: 30001}},
			{op: "allocate", key: "a", size: 1, want: Range{Start: 30003, End: 30003}},
		}},
		{"failed re-pin keeps the old grant", []step{
			{op: "assign", key: "a", r: Range{Start: 30000, End: 30001}},
			{op: "assign", key: "b", r: Range{Start: 30002, End: 30003}},
			{op: "assign", key: "a", r: Range{Start: 30003, End: 30004}, wantErr: errConflict},
			{op: "allocate", key: "c", size: 2, want: Range{Start: 30004, End: 30005}},
		}},
		{"size zero is refused", []step{
			{op: "allocate", key: "a", size: 0, wantErr: ErrInvalidSize},
		}},
		{"a kept grant outside a smaller pool stays put", []step{
			// the pool shrank from 30000-30019 to 30000-30009 while a held 30008-30011 and b 30014-30015
			{op: "keep", key: "a", r: Range{Start: 30008, End: 30011}},
			{op: "keep", key: "b", r: Range{Start: 30014, End: 30015}},
			{op: "allocate", key: "a", size: 4, want: Range{Start: 30008, End: 30011}},
			{op: "assign", key: "a", r: Range{Start: 30008, End: 30011}},
			{op: "keep", key: "c", r: Range{Start: 30011, End: 30012}, wantErr: errConflict},
			{op: "allocate", key: "d", size: 2, want: Range{Start: 30000, End: 30001}},
			{op: "allocate", key: "e", size: 8, wantErr: ErrPoolExhausted}, // 30008-30009 are a's
			{op: "reallocate", key: "a", size: 4, want: Range{Start: 30002, End: 30005}},
			{op: "reallocate", key: "b", size: 8, wantErr: ErrPoolExhausted},
			{op: "allocate", key: "b", size: 2, want: Range{Start: 30014, End: 30015}}, // the failed move kept b's grant
			{op: "allocate", key: "e", size: 4, want: Range{Start: 30006, End: 30009}},
		}},
		{"namespace limit", []step{
			{op: "limit", size: 6},
			{op: "allocate", key: "t1/a", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "allocate", key: "t1/b", size: 3, wantErr: ErrNamespaceLimit},
			{op: "assign", key: "t1/b", r: Range{Start: 30004, End: 30006}, wantErr: ErrNamespaceLimit},
			{op: "allocate", key: "t1/b", size: 2, want: Range{Start: 30004, End: 30005}},
			{op: "allocate", key: "t2/a", size: 4, want: Range{Start: 30006, End: 30009}},
			{op: "allocate", key: "t1/a", size: 5, wantErr: ErrNamespaceLimit}, // growing counts too
			{op: "allocate", key: "t1/a", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "release", key: "t1/a"},
			{op: "allocate", key: "t1/c", size: 4, want: Range{Start: 30000, End: 30003}},
			{op: "keep", key: "t1/d", r: Range{Start: 30020, End: 30025}}, // replay is never refused
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(pool)
			for i, s := range tt.steps {
				var got Range
				var err error
				switch s.op {
				case "assign":
					err = a.Assign(s.key, s.r)
					got = s.r
				case "allocate":
					got, err = a.Allocate(s.key, s.size)
				case "keep":
					err = a.Keep(s.key, s.r)
					got = s.r
				case "reallocate":
					got, err = a.Reallocate(s.key, s.size)
				case "limit":
					a.SetNamespaceLimit(s.size)
				case "release":
					if !a.Release(s.key) {
						t.Fatalf("step %d: release %s: held nothing", i, s.key)
					}
				case "block":
					a.Block(s.r.Start, s.key)
				}
				checkErr(t, i, err, s.wantErr)
				if (s.op == "allocate" || s.op == "reallocate") && s.wantErr == nil && got != s.want {
					t.Fatalf("step %d: allocate %s %d = %s, want %s", i, s.key, s.size, got, s.want)
				}
				if s.op == "allocate" || s.op == "assign" || s.op == "reallocate" {
					for p := got.Start; err == nil && p <= got.End; p++ {
						if _, b := a.blocked[p]; b {
							t.Fatalf("step %d: blocked port %d granted to %s", i, p, s.key)
						}
					}
				}
				assertNoOverlap(t, a)
			}
		})
	}
}

func checkErr(t *testing.T, i int, err, want error) {
	t.Helper()
	var ce *ConflictError
	switch {
	case want == nil && err != nil:
		t.Fatalf("step %d: unexpected error %v", i, err)
	case want == errConflict && !errors.As(err, &ce):
		t.Fatalf("step %d: error %v, want a *ConflictError", i, err)
	case want != nil && want != errConflict && !errors.Is(err, want):
		t.Fatalf("step %d: error %v, want %v", i, err, want)
	}
}

// assertNoOverlap checks the invariant from the grants alone, independent of the holder index.
func assertNoOverlap(t *testing.T, a *Allocator) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[int32]string{}
	for k, r := range a.grants {
		if !a.InPool(r) && a.outside[r.End] != k && a.outside[r.Start] != k {
			t.Fatalf("%s holds %s outside pool %s, not kept", k, r, a.pool)
		}
		for p := r.Start; p <= r.End; p++ {
			if o, dup := seen[p]; dup {
				t.Fatalf("port %d granted to both %s and %s", p, o, k)
			}
			seen[p] = k
		}
	}
}

func TestConcurrentAllocationsNeverOverlap(t *testing.T) {
	a := New(Range{Start: 30000, End: 32767})
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 400 {
		wg.Go(func() {
			if _, err := a.Allocate(fmt.Sprintf("ns/s%d", i), int32(1+i%13)); err != nil && !errors.Is(err, ErrPoolExhausted) {
				errs <- err
			}
			if i%5 == 0 {
				a.Release(fmt.Sprintf("ns/s%d", i-1))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	assertNoOverlap(t, a)
}

func TestRandomOperationsKeepInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := New(Range{Start: 1000, End: 1199})
	for range 5000 {
		key := fmt.Sprintf("k%d", rng.IntN(40))
		switch rng.IntN(4) {
		case 0:
			a.Release(key)
		case 1:
			start := int32(1000 + rng.IntN(200))
			_ = a.Assign(key, Range{Start: start, End: min(start+int32(rng.IntN(8)), 1199)})
		default:
			_, _ = a.Allocate(key, int32(1+rng.IntN(16)))
		}
	}
	assertNoOverlap(t, a)
	used := 0
	for _, r := range a.grants {
		used += int(r.Size())
	}
	if got := a.Free(); got != 200-used {
		t.Fatalf("Free() = %d, want %d", got, 200-used)
	}
}

func TestParseRange(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Range
		ok   bool
	}{
		{"30000-32767", Range{Start: 30000, End: 32767}, true},
		{"21-21", Range{Start: 21, End: 21}, true},
		{"5-4", Range{}, false},
		{"0-10", Range{}, false},
		{"1-65536", Range{}, false},
		{"abc", Range{}, false},
	} {
		got, err := ParseRange(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRange(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func BenchmarkAllocateAsPoolFills(b *testing.B) {
	for _, fill := range []int{0, 50, 90} {
		b.Run(fmt.Sprintf("filled=%d%%", fill), func(b *testing.B) {
			a := New(Range{Start: 30000, End: 32767})
			for i := 0; a.Free() > 2768*(100-fill)/100+16; i++ {
				_, _ = a.Allocate(fmt.Sprintf("fill/%d", i), 16)
			}
			b.ResetTimer()
			for i := range b.N {
				k := fmt.Sprintf("b/%d", i%2)
				if _, err := a.Allocate(k, 16); err != nil {
					b.Fatal(err)
				}
				a.Release(k)
			}
		})
	}
}

// A conflict names the part of the asked range that the holder has, not just the highest port.
func TestConflictNamesTheOverlappingSpan(t *testing.T) {
	a := New(Range{Start: 30000, End: 30099})
	if err := a.Assign("ns/a", Range{Start: 30010, End: 30019}); err != nil {
		t.Fatal(err)
	}
	a.Block(30040, "a nodePort of another Service")
	a.Block(30041, "a nodePort of another Service")
	for _, tt := range []struct {
		asked   Range
		span    Range
		holder  string
		blocked bool
		msg     string
	}{
		{Range{Start: 30000, End: 30015}, Range{Start: 30010, End: 30015}, "ns/a", false, "30010-30015 of 30000-30015 is already held by ns/a"},
		{Range{Start: 30012, End: 30030}, Range{Start: 30012, End: 30019}, "ns/a", false, "30012-30019 of 30012-30030 is already held by ns/a"},
		{Range{Start: 30015, End: 30015}, Range{Start: 30015, End: 30015}, "ns/a", false, "30015-30015 of 30015-30015 is already held by ns/a"},
		{Range{Start: 30030, End: 30050}, Range{Start: 30040, End: 30041}, "a nodePort of another Service", true, "30040-30041 of 30030-30050 is already held by a nodePort of another Service"},
	} {
		err := a.Assign("ns/b", tt.asked)
		var ce *ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: error %v, want a *ConflictError", tt.asked, err)
		}
		if ce.Span != tt.span || ce.Asked != tt.asked || ce.Holder != tt.holder || ce.Blocked != tt.blocked {
			t.Fatalf("%s: got %+v, want span %s held by %s", tt.asked, *ce, tt.span, tt.holder)
		}
		if ce.Error() != tt.msg {
			t.Fatalf("%s: message %q, want %q", tt.asked, ce.Error(), tt.msg)
		}
	}
}

func TestAllocatedCountsGrantsInsideAndOutsideThePool(t *testing.T) {
	a := New(Range{Start: 100, End: 119})
	if _, err := a.Allocate("ns/a", 5); err != nil {
		t.Fatal(err)
	}
	if err := a.Keep("ns/b", Range{Start: 200, End: 202}); err != nil { // outside the pool
		t.Fatal(err)
	}
	a.Block(119, "a nodePort")
	if got, free := a.Allocated(), a.Free(); got != 8 || free != 14 {
		t.Fatalf("Allocated %d Free %d, want 8 and 14", got, free)
	}
	a.Release("ns/a")
	if got := a.Allocated(); got != 3 {
		t.Fatalf("Allocated %d after a release, want 3", got)
	}
}
