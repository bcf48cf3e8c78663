// Package portrange is the one Go type for a range of TCP ports below the API edge: the allocator hands them out
// (internal/portalloc), the engine listens on them (internal/ftpd), and the operator converts the API's
// ftpv1.PortRange to it in one place (render.PortRange).
package portrange

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Range is an inclusive range of ports. The listened ports and the ports announced to clients are kept apart: a
// load balancer or NAT may map AdvertisedStart+i to Start+i. By default (AdvertisedStart == 0) they are equal. The
// allocator never sets AdvertisedStart.
type Range struct {
	Start, End      int32 // listened ports, inclusive
	AdvertisedStart int32 // 0 means equal to Start
}

// Size is the number of ports in r.
func (r Range) Size() int32 { return r.End - r.Start + 1 }

// Contains reports whether port p is in r.
func (r Range) Contains(p int32) bool { return p >= r.Start && p <= r.End }

// Advertised maps a listened port to the port announced to clients.
func (r Range) Advertised(listened int32) int32 {
	if r.AdvertisedStart == 0 {
		return listened
	}
	return listened - r.Start + r.AdvertisedStart
}

// Validate reports whether r is a usable range of TCP ports. Ports below 1024 are valid: whether the process may
// bind them is the OS's decision (the operator's pods get the unprivileged-port sysctl for them).
func (r Range) Validate() error {
	if r.Start < 1 || r.End > 65535 || r.Start > r.End {
		return fmt.Errorf("port range %d-%d: want 1 <= start <= end <= 65535", r.Start, r.End)
	}
	if r.AdvertisedStart != 0 && (r.AdvertisedStart < 1 || int(r.AdvertisedStart)+int(r.Size())-1 > 65535) {
		return fmt.Errorf("advertised ports %d-%d out of range", r.AdvertisedStart, int(r.AdvertisedStart)+int(r.Size())-1)
	}
	return nil
}

// String formats r the way Parse reads it: "START-END", and "=ADVERTISED_START" when one is set.
func (r Range) String() string {
	s := fmt.Sprintf("%d-%d", r.Start, r.End)
	if r.AdvertisedStart != 0 {
		s += fmt.Sprintf("=%d", r.AdvertisedStart)
	}
	return s
}

// Parse reads "30000-30015" or a single port "30000", optionally followed by an advertised start after "=":
// "30000-30015=40000", and validates the range.
func Parse(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Range{}, errors.New("empty port range")
	}
	rng, adv, hasAdv := strings.Cut(s, "=")
	lo, hi, isRange := strings.Cut(rng, "-")
	if !isRange {
		hi = lo
	}
	start, err := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
	if err != nil {
		return Range{}, fmt.Errorf("port range %q: start: %w", s, err)
	}
	end, err := strconv.ParseInt(strings.TrimSpace(hi), 10, 32)
	if err != nil {
		return Range{}, fmt.Errorf("port range %q: end: %w", s, err)
	}
	r := Range{Start: int32(start), End: int32(end)}
	if hasAdv {
		a, err := strconv.ParseInt(strings.TrimSpace(adv), 10, 32)
		if err != nil {
			return Range{}, fmt.Errorf("port range %q: advertised start: %w", s, err)
		}
		r.AdvertisedStart = int32(a)
	}
	return r, r.Validate()
}

// Slice is the i-th of n equal, contiguous slices of r, for a server whose pods each own one slice (pod ordinal i
// of n replicas): slice i holds ports Start+i*w to Start+(i+1)*w-1, w = Size()/n, and keeps the advertised mapping.
// n must divide Size() and 0 <= i < n. Slice i depends only on Start, w and i: scaling with the same width per pod
// (the range grown or shrunk at its end) never moves the slice of a pod that keeps running.
func (r Range) Slice(i, n int32) (Range, error) {
	if n < 1 || i < 0 || i >= n || r.Size()%n != 0 {
		return Range{}, fmt.Errorf("slice %d of %d of port range %s: want 0 <= slice < %d and %d ports divisible by %d", i, n, r, n, r.Size(), n)
	}
	return r.First(r.Size() / n).Shift(i), nil
}

// SliceOf is the ordinal of the slice of n that holds port p (the pod that owns p, see Slice).
func (r Range) SliceOf(p, n int32) (int32, error) {
	if n < 1 || r.Size()%n != 0 || !r.Contains(p) {
		return 0, fmt.Errorf("port %d in %d slices of port range %s: want a port of the range, divisible by %d", p, n, r, n)
	}
	return (p - r.Start) / (r.Size() / n), nil
}

// First is the first w ports of r (its slice 0 when w ports go to each pod).
func (r Range) First(w int32) Range {
	return Range{Start: r.Start, End: r.Start + w - 1, AdvertisedStart: r.AdvertisedStart}
}

// Shift is the range of r's size that starts i sizes after r: r itself for i = 0, the next Size() ports for 1, and
// so on. The advertised ports move with the listened ones.
func (r Range) Shift(i int32) Range {
	d := i * r.Size()
	s := Range{Start: r.Start + d, End: r.End + d}
	if r.AdvertisedStart != 0 {
		s.AdvertisedStart = r.AdvertisedStart + d
	}
	return s
}
