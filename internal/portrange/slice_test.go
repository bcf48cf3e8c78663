package portrange

import "testing"

// TestSliceSplitsContiguousEqualDisjoint: for every divisor n of the range's size, the n slices are equal in
// size, disjoint, in ordinal order with no gap, and together are the range (advertised ports included).
func TestSliceSplitsContiguousEqualDisjoint(t *testing.T) {
	for _, r := range []Range{{Start: 30000, End: 30015}, {Start: 1024, End: 1047, AdvertisedStart: 40000}, {Start: 65530, End: 65535}} {
		for n := int32(1); n <= r.Size(); n++ {
			if r.Size()%n != 0 {
				if _, err := r.Slice(0, n); err == nil {
					t.Errorf("%s split into %d: no error", r, n)
				}
				continue
			}
			next := r.Start
			owner := map[int32]int32{}
			for i := range n {
				s, err := r.Slice(i, n)
				if err != nil {
					t.Fatalf("%s slice %d of %d: %v", r, i, n, err)
				}
				if s.Start != next || s.Size() != r.Size()/n || s.Validate() != nil {
					t.Fatalf("%s slice %d of %d is %s: want %d ports from %d", r, i, n, s, r.Size()/n, next)
				}
				for p := s.Start; p <= s.End; p++ {
					if o, taken := owner[p]; taken {
						t.Fatalf("%s: port %d in slices %d and %d of %d", r, p, o, i, n)
					}
					owner[p] = i
					if s.Advertised(p) != r.Advertised(p) {
						t.Fatalf("%s slice %d of %d advertises %d for %d, the range %d", r, i, n, s.Advertised(p), p, r.Advertised(p))
					}
				}
				next = s.End + 1
			}
			if next != r.End+1 || int32(len(owner)) != r.Size() {
				t.Fatalf("%s in %d slices covers %d ports up to %d", r, n, len(owner), next-1)
			}
		}
	}
	for _, bad := range [][2]int32{{-1, 4}, {4, 4}, {0, 0}, {0, 3}} {
		if _, err := (Range{Start: 30000, End: 30015}).Slice(bad[0], bad[1]); err == nil {
			t.Errorf("slice %d of %d accepted", bad[0], bad[1])
		}
	}
}

// TestSliceOfSurvivingPodNeverMoves: scaling 1 -> 3 -> 2 -> 4 with four ports per pod, the grant growing and
// shrinking at its end (as the allocator does when the next ports are free), every pod that keeps running keeps
// its exact slice.
func TestSliceOfSurvivingPodNeverMoves(t *testing.T) {
	const width = 4
	seen := map[int32]Range{}
	for _, replicas := range []int32{1, 3, 2, 4, 1} {
		grant := Range{Start: 31000, End: 31000 + replicas*width - 1}
		for i := range replicas {
			s, err := grant.Slice(i, replicas)
			if err != nil {
				t.Fatal(err)
			}
			if before, ok := seen[i]; ok && before != s {
				t.Fatalf("replicas %d: pod %d moved from %s to %s", replicas, i, before, s)
			}
			seen[i] = s
			// The engine's view: the first slice shifted by the ordinal is the same slice.
			if e := grant.First(width).Shift(i); e != s {
				t.Fatalf("replicas %d: pod %d computes %s, the operator %s", replicas, i, e, s)
			}
		}
	}
}

// TestSliceOfIsTheOwnerOfEveryPort: SliceOf(p) is the i whose Slice(i) holds p, for every port of the range.
func TestSliceOfIsTheOwnerOfEveryPort(t *testing.T) {
	r := Range{Start: 31000, End: 31011}
	for i := range int32(3) {
		s, err := r.Slice(i, 3)
		if err != nil {
			t.Fatal(err)
		}
		for p := s.Start; p <= s.End; p++ {
			if got, err := r.SliceOf(p, 3); err != nil || got != i {
				t.Fatalf("SliceOf(%d) = %d, %v; want %d", p, got, err, i)
			}
		}
	}
	for _, bad := range [][2]int32{{30999, 3}, {31012, 3}, {31000, 5}, {31000, 0}} {
		if _, err := r.SliceOf(bad[0], bad[1]); err == nil {
			t.Errorf("SliceOf(%d, %d) of %s: no error", bad[0], bad[1], r)
		}
	}
}
