package ftpd

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line    string
		verb    string
		arg     string
		wantErr bool
	}{
		{line: "USER acme\r\n", verb: "USER", arg: "acme"},
		{line: "noop\r\n", verb: "NOOP"},
		{line: "STOR name with  spaces \r\n", verb: "STOR", arg: "name with  spaces "},
		{line: "CWD héllo wörld\n", verb: "CWD", arg: "héllo wörld"},
		{line: "\xff\xf4\xff\xf2ABOR\r\n", verb: "ABOR"},
		{line: "  PWD", verb: "PWD"},
		{line: "\r\n", wantErr: true},
		{line: "US3R x", wantErr: true},
		{line: "VERYLONGVERB x", wantErr: true},
		{line: "RETR a\x00b", wantErr: true},
		{line: "A \r\n\n", wantErr: true},
		{line: "RETR a\rb\r\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.line)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseCommand(%q) error = %v, wantErr %v", tt.line, err, tt.wantErr)
		}
		if err == nil && (got.Verb != tt.verb || got.Arg != tt.arg) {
			t.Errorf("ParseCommand(%q) = %+v, want %s %q", tt.line, got, tt.verb, tt.arg)
		}
	}
}

func TestParsePORT(t *testing.T) {
	tests := []struct {
		arg     string
		want    string
		wantErr bool
	}{
		{arg: "127,0,0,1,4,1", want: "127.0.0.1:1025"},
		{arg: "10,1,2,3,0,20", want: "10.1.2.3:20"},
		{arg: "127,0,0,1,4", wantErr: true},
		{arg: "256,0,0,1,4,1", wantErr: true},
		{arg: "127,0,0,1,4,-1", wantErr: true},
		{arg: "a,b,c,d,e,f", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParsePORT(tt.arg)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParsePORT(%q) error = %v", tt.arg, err)
		}
		if err == nil && got.String() != tt.want {
			t.Errorf("ParsePORT(%q) = %v, want %v", tt.arg, got, tt.want)
		}
	}
}

func TestParseEPRT(t *testing.T) {
	tests := []struct {
		arg     string
		want    string
		wantErr bool
	}{
		{arg: "|1|132.235.1.2|6275|", want: "132.235.1.2:6275"},
		{arg: "|2|1080::8:800:200C:417A|5282|", want: "[1080::8:800:200c:417a]:5282"},
		{arg: "!1!127.0.0.1!2000!", want: "127.0.0.1:2000"},
		{arg: "|1|::1|5282|", wantErr: true},
		{arg: "|2|127.0.0.1|5282|", wantErr: true},
		{arg: "|3|127.0.0.1|5282|", wantErr: true},
		{arg: "|1|127.0.0.1|70000|", wantErr: true},
		{arg: "|1|127.0.0.1|0|", wantErr: true},
		{arg: "|1|127.0.0.1|5282", wantErr: true},
		{arg: "1127.0.0.11522221", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseEPRT(tt.arg)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseEPRT(%q) error = %v", tt.arg, err)
		}
		if err == nil && got.String() != tt.want {
			t.Errorf("ParseEPRT(%q) = %v, want %v", tt.arg, got, tt.want)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"USER a\r\n", "STOR a b\r\n", "\xff\xf4\xff\xf2ABOR\r\n", "", " ", "X\xff", "RETR \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := ParseCommand(line)
		if err != nil {
			return
		}
		if cmd.Verb == "" || len(cmd.Verb) > maxVerbLen || strings.ToUpper(cmd.Verb) != cmd.Verb {
			t.Fatalf("bad verb %q from %q", cmd.Verb, line)
		}
		if strings.ContainsAny(cmd.Arg, "\x00\r\n") {
			t.Fatalf("bad arg %q from %q", cmd.Arg, line)
		}
	})
}

func FuzzParsePORT(f *testing.F) {
	for _, s := range []string{"127,0,0,1,4,1", "1,2,3,4,5,6", "999,1,1,1,1,1", ",,,,,", "1,2,3,4,5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := ParsePORT(arg)
		if err != nil {
			return
		}
		if !ap.Addr().Is4() {
			t.Fatalf("PORT %q gave non-IPv4 %v", arg, ap)
		}
		a := ap.Addr().As4()
		round := strings.Join([]string{itoa(int(a[0])), itoa(int(a[1])), itoa(int(a[2])), itoa(int(a[3])), itoa(int(ap.Port() >> 8)), itoa(int(ap.Port() & 0xff))}, ",")
		again, err := ParsePORT(round)
		if err != nil || again != ap {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", arg, ap, round, again, err)
		}
	})
}

func FuzzParseEPRT(f *testing.F) {
	for _, s := range []string{"|1|132.235.1.2|6275|", "|2|::1|5282|", "!1!1.2.3.4!1!", "|||", "|1|1.2.3.4|99999|"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := ParseEPRT(arg)
		if err != nil {
			return
		}
		if ap.Port() == 0 || !ap.Addr().IsValid() || ap.Addr().Zone() != "" {
			t.Fatalf("EPRT %q gave %v", arg, ap)
		}
		if _, err := netip.ParseAddr(ap.Addr().String()); err != nil {
			t.Fatalf("EPRT %q gave unparsable address %v", arg, ap)
		}
	})
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{digits[n%10]}, b...)
		n /= 10
	}
	return string(b)
}
