package ftpd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PortRange is a contiguous range of passive ports. The listened port and the
// port announced to clients are kept apart: a load balancer or NAT may map
// AdvertisedStart+i to Start+i. By default (AdvertisedStart == 0) they are
// equal.
type PortRange struct {
	Start, End      int // listened ports, inclusive
	AdvertisedStart int // 0 means equal to Start
}

// ParsePortRange parses "30000-30015" or a single port "30000". An optional
// advertised start may follow after "=": "30000-30015=40000".
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return PortRange{}, errors.New("empty port range")
	}
	rng, adv, hasAdv := strings.Cut(s, "=")
	lo, hi, isRange := strings.Cut(rng, "-")
	if !isRange {
		hi = lo
	}
	start, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: start: %w", s, err)
	}
	end, err := strconv.Atoi(strings.TrimSpace(hi))
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: end: %w", s, err)
	}
	r := PortRange{Start: start, End: end}
	if hasAdv {
		if r.AdvertisedStart, err = strconv.Atoi(strings.TrimSpace(adv)); err != nil {
			return PortRange{}, fmt.Errorf("port range %q: advertised start: %w", s, err)
		}
	}
	return r, r.Validate()
}

// Validate reports whether the range is usable.
func (r PortRange) Validate() error {
	if r.Start < 1024 || r.End > 65535 || r.Start > r.End {
		return fmt.Errorf("port range %d-%d: want 1024 <= start <= end <= 65535", r.Start, r.End)
	}
	if r.AdvertisedStart != 0 && (r.AdvertisedStart < 1 || r.AdvertisedStart+r.Len()-1 > 65535) {
		return fmt.Errorf("advertised ports %d-%d out of range", r.AdvertisedStart, r.AdvertisedStart+r.Len()-1)
	}
	return nil
}

// Len is the number of ports in the range.
func (r PortRange) Len() int { return r.End - r.Start + 1 }

// Advertised maps a listened port to the port announced to clients.
func (r PortRange) Advertised(listened int) int {
	if r.AdvertisedStart == 0 {
		return listened
	}
	return listened - r.Start + r.AdvertisedStart
}

// String formats the range the way ParsePortRange reads it.
func (r PortRange) String() string {
	s := fmt.Sprintf("%d-%d", r.Start, r.End)
	if r.AdvertisedStart != 0 {
		s += fmt.Sprintf("=%d", r.AdvertisedStart)
	}
	return s
}
