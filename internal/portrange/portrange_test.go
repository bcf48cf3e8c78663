package portrange

import "testing"

func TestParse(t *testing.T) {
	r, err := Parse("30000-30015=40000")
	if err != nil || r.Start != 30000 || r.End != 30015 || r.Advertised(30003) != 40003 || r.String() != "30000-30015=40000" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = Parse("30000-30015")
	if err != nil || r.Advertised(30003) != 30003 || r.Size() != 16 || !r.Contains(30015) || r.Contains(30016) {
		t.Fatalf("%+v %v", r, err)
	}
	// Below 1024 is a range like any other: the pod's sysctl (or the OS) decides whether it may be bound.
	if r, err := Parse("900"); err != nil || r != (Range{Start: 900, End: 900}) {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"", "0-10", "3000-2000", "x-1", "60000-70000", "30000-30001=65535", "1-99999999999", "5-6=x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestStringRoundTrip: String is what Parse reads, also when the advertised start equals the start.
func TestStringRoundTrip(t *testing.T) {
	for _, r := range []Range{{Start: 1, End: 1}, {Start: 30000, End: 30015}, {Start: 30000, End: 30015, AdvertisedStart: 30000},
		{Start: 1024, End: 1030, AdvertisedStart: 65529}} {
		got, err := Parse(r.String())
		if err != nil || got != r {
			t.Errorf("%+v → %q → %+v, %v", r, r.String(), got, err)
		}
	}
}
