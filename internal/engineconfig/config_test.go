package engineconfig

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// valid is a Config that Validate accepts.
func valid() Config {
	c := Default()
	c.Root, c.Users = "/data", "/etc/ftpd/users/users.yaml"
	return c
}

// TestEveryFieldHasAFlag: changing any leaf field of Config away from a valid value changes Args. A field added to
// Config without a flag in the table fails here (and in the fuzzed round trip).
func TestEveryFieldHasAFlag(t *testing.T) {
	base := full()
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	baseArgs := strings.Join(base.Args(), " ")
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(ftpd.PortRange{}) || v.Type() == reflect.TypeOf(netip.Prefix{}) {
				break
			}
			for i := range v.NumField() {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
			return
		}
		c := full()
		target := fieldByPath(reflect.ValueOf(&c).Elem(), strings.Split(path, ".")[1:])
		switch target.Kind() {
		case reflect.String:
			target.SetString(target.String() + "x")
		case reflect.Bool:
			target.SetBool(!target.Bool())
		case reflect.Int, reflect.Int64:
			target.SetInt(target.Int() + 1)
		case reflect.Slice:
			target.Set(reflect.Zero(target.Type()))
		case reflect.Struct: // PortRange
			target.Set(reflect.ValueOf(ftpd.PortRange{Start: 40000, End: 40001, AdvertisedStart: 50000}))
		default:
			t.Fatalf("%s: kind %s not covered", path, target.Kind())
		}
		if strings.Join(c.Args(), " ") == baseArgs {
			t.Errorf("Config%s does not reach the arguments", path)
		}
	}
	walk(reflect.ValueOf(base), "")
}

func fieldByPath(v reflect.Value, path []string) reflect.Value {
	for _, p := range path {
		v = v.FieldByName(p)
	}
	return v
}

// full is a valid Config with every field away from its default.
func full() Config {
	return Config{
		Listen: ":2121", ImplicitListen: ":9990", HealthListen: "127.0.0.1:8081",
		Root: "/data", Users: "/u.yaml",
		Passive: Passive{Ports: ftpd.PortRange{Start: 31000, End: 31015, AdvertisedStart: 41000}, Host: "10.0.0.1", Mux: true, SliceByOrdinal: true},
		Relay:   Relay{Replicas: 3, PeerDomain: "s-pods"},
		Address: Address{Static: "ftp.example.com", File: "/addr", Follow: FollowTarget{Namespace: "ns", Name: "s"},
			Overrides: []ftpd.AddressOverride{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Address: "10.1.2.3"}}},
		TLS:           TLS{Cert: "/c", Key: "/k", Mode: ftpd.TLSImplicit, RequireSessionReuse: false},
		ProxyProtocol: ProxyProtocol{Enabled: true, Trusted: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}},
		Limits: Limits{IdleTimeout: time.Minute, LoginTimeout: -1, DataTimeout: time.Second, MaxSessions: 7,
			MaxSessionsPerIP: 3, BandwidthLimit: 1 << 20, LockoutThreshold: 9, LockoutBackoff: time.Hour},
		ActiveMode: false, XferLog: "-", XferLogFormat: ftpd.XferLogJSON, FsyncUploads: true, LogLevel: "debug", ShutdownTimeout: time.Minute,
		S3: S3{Endpoint: "https://s3.example.com:9000", Bucket: "b", Prefix: "p", Region: "r", ForcePathStyle: true,
			AccessKeyIDFile: "/s/ak", SecretAccessKeyFile: "/s/sk", CABundle: "/s/ca.crt"},
	}
}

func roundTrip(t *testing.T, c Config) {
	t.Helper()
	got, err := Parse(c.Args(), io.Discard)
	if err != nil {
		t.Fatalf("Parse(%q): %v", c.Args(), err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip through %q:\n got %+v\nwant %+v", c.Args(), got, c)
	}
}

func TestRoundTrip(t *testing.T) {
	roundTrip(t, valid())
	roundTrip(t, full())
	c := valid()
	c.Passive.Ports = ftpd.PortRange{Start: 31000, End: 31003, AdvertisedStart: 31000} // written out, not dropped
	roundTrip(t, c)
}

// FuzzConfigRoundTrip: any valid Config → Args → Parse is the same Config.
func FuzzConfigRoundTrip(f *testing.F) {
	f.Add("/data", "/u.yaml", ":2121", "", uint16(31000), uint16(15), uint16(0), "ns", "s", "10.0.0.0", uint8(8), "1.2.3.4",
		"Required", "/c", "/k", true, true, int64(time.Second), -1, int64(100), "info", "", "a=b,c", "-x")
	f.Add("/r", "/u", "", "x=y,z", uint16(1024), uint16(0), uint16(1), "", "", "::1", uint8(128), "a,b",
		"Implicit", "", "", false, false, int64(-5), 0, int64(0), "WARN", "-", "", "\n")
	f.Fuzz(func(t *testing.T, root, users, listen, static string, start, n, adv uint16, ns, name, cidr string, bits uint8,
		addr, mode, cert, key string, active, reuse bool, d int64, sessions int, bw int64, level, xferlog, s1, s2 string) {
		c := Default()
		c.Root, c.Users, c.Listen, c.Address.Static = root, users, listen, static
		c.Passive.Ports = ftpd.PortRange{Start: int32(start), End: int32(start) + int32(n), AdvertisedStart: int32(adv)}
		c.Address.Follow = FollowTarget{Namespace: ns, Name: name}
		if a, err := netip.ParseAddr(cidr); err == nil {
			if p, err := a.Prefix(int(bits)); err == nil {
				c.ProxyProtocol = ProxyProtocol{Enabled: active, Trusted: []netip.Prefix{p}}
				c.Address.Overrides = []ftpd.AddressOverride{{Prefix: p, Address: addr}}
			}
		}
		c.TLS = TLS{Cert: cert, Key: key, Mode: ftpd.TLSMode(mode), RequireSessionReuse: reuse}
		c.ActiveMode = active
		c.Limits.IdleTimeout, c.Limits.LoginTimeout = time.Duration(d), time.Duration(-d)
		c.Limits.MaxSessions, c.Limits.BandwidthLimit = sessions, bw
		c.LogLevel, c.XferLog, c.XferLogFormat = level, xferlog, ftpd.XferLogWuFTPD
		if reuse != active {
			c.XferLogFormat = ftpd.XferLogJSON
		}
		c.ImplicitListen, c.HealthListen, c.Passive.Host, c.Address.File = s1, s2, s2+s1, s1+s2
		c.Passive.Mux, c.FsyncUploads, c.ProxyProtocol.Enabled, c.Passive.SliceByOrdinal = reuse, !reuse, active, !active
		c.Limits.DataTimeout, c.Limits.LockoutBackoff, c.ShutdownTimeout = time.Duration(bw), time.Duration(-bw), time.Duration(d)
		c.Limits.MaxSessionsPerIP, c.Limits.LockoutThreshold = -sessions, sessions+1
		if c.Validate() != nil {
			t.Skip()
		}
		roundTrip(t, c)
	})
}

// TestParseRejectsBadInput: what the engine cannot run with is refused when the arguments are read, naming the flag.
func TestParseRejectsBadInput(t *testing.T) {
	base := []string{"--root=/r", "--users=/u"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--users=/u"}, "--root and --users"},
		{[]string{"--root=/r"}, "--root and --users"},
		{append(base, "extra"), "unexpected arguments"},
		{append(base, "--tls-mode=Sometimes"), "--tls-mode"},
		{append(base, "--tls-mode=Required"), "needs --tls-cert"},
		{append(base, "--active-mode=Maybe"), "active-mode"},
		{append(base, "--passive-ports=0-20"), "passive-ports"},
		{append(base, "--tls-cert=x"), "--tls-cert and --tls-key"},
		{append(base, "--address-overrides=nonsense"), "address-overrides"},
		{append(base, "--proxy-protocol-trusted=10.0.0.0/33"), "proxy-protocol-trusted"},
		{append(base, "--kubernetes-ftpserver=noslash"), "kubernetes-ftpserver"},
		{append(base, "--log-level=loud"), "--log-level"},
		{append(base, "--idle-timeout=soon"), "idle-timeout"},
		{append(base, "--xferlog-format=csv"), "--xferlog-format"},
	} {
		_, err := Parse(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one naming %q", tt.args, err, tt.want)
		}
	}
	if _, err := Parse([]string{"-help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

// TestParseAcceptsHandWrittenForms: people start the engine by hand too (bare booleans, spaced values, any case).
func TestParseAcceptsHandWrittenForms(t *testing.T) {
	c, err := Parse([]string{"--root", "/r", "--users", "/u", "--proxy-protocol", "--proxy-protocol-trusted", "10.1.0.0/8, ::1/128",
		"--active-mode", "disabled", "--tls-require-session-reuse=false", "--passive-ports", "30000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := valid()
	want.Root, want.Users = "/r", "/u"
	want.ProxyProtocol = ProxyProtocol{Enabled: true, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	want.ActiveMode, want.TLS.RequireSessionReuse = false, false
	want.Passive.Ports = ftpd.PortRange{Start: 30000, End: 30000}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

// TestPortsForTakesTheSliceOfTheOrdinal: with SliceByOrdinal, the pod named <set>-<i> serves the i-th slice after
// --passive-ports (advertised ports too); without it every pod serves --passive-ports; a name without an ordinal,
// or a slice beyond port 65535, is an error that names the flag.
func TestPortsForTakesTheSliceOfTheOrdinal(t *testing.T) {
	p := Passive{Ports: ftpd.PortRange{Start: 31000, End: 31003, AdvertisedStart: 41000}, SliceByOrdinal: true}
	for pod, want := range map[string]ftpd.PortRange{
		"ftp-0":        {Start: 31000, End: 31003, AdvertisedStart: 41000},
		"ftp-2":        {Start: 31008, End: 31011, AdvertisedStart: 41008},
		"my-ftp-ha-15": {Start: 31060, End: 31063, AdvertisedStart: 41060},
	} {
		if got, err := p.PortsFor(pod); err != nil || got != want {
			t.Errorf("%s: %s, %v; want %s", pod, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp", "ftp-x", "ftp-1a"} {
		if _, err := p.PortsFor(bad); err == nil || !strings.Contains(err.Error(), "--passive-slice-by-ordinal") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	high := Passive{Ports: ftpd.PortRange{Start: 65000, End: 65299}, SliceByOrdinal: true}
	if _, err := high.PortsFor("ftp-2"); err == nil {
		t.Error("a slice beyond 65535 accepted")
	}
	whole := Passive{Ports: ftpd.PortRange{Start: 31000, End: 31015}}
	if got, err := whole.PortsFor(""); err != nil || got != whole.Ports {
		t.Errorf("without slicing: %s, %v", got, err)
	}
}

// FuzzS3RoundTrip: any valid S3 section → Args → Parse is the same Config.
func FuzzS3RoundTrip(f *testing.F) {
	f.Add("https://s3.example.com", "bucket", "tenants/a", "eu-west-1", true, "/s/ak", "/s/sk", "/s/ca.crt", "")
	f.Add("http://127.0.0.1:8333/", "b-1", "", "", false, "", "", "", "/r")
	f.Add("s3.example.com", "x", "=", ",", true, "a b", "c", "", "")
	f.Fuzz(func(t *testing.T, endpoint, bucket, prefix, region string, pathStyle bool, akFile, skFile, ca, root string) {
		c := valid()
		c.Root = root
		c.S3 = S3{Endpoint: endpoint, Bucket: bucket, Prefix: prefix, Region: region, ForcePathStyle: pathStyle,
			AccessKeyIDFile: akFile, SecretAccessKeyFile: skFile, CABundle: ca}
		if c.Validate() != nil {
			t.Skip()
		}
		roundTrip(t, c)
	})
}

// An S3 section the engine cannot use is refused when the arguments are read, naming the flag.
func TestParseRejectsBadS3(t *testing.T) {
	base := []string{"--users=/u", "--s3-endpoint=https://s3.example.com", "--s3-bucket=b"}
	if _, err := Parse(base, io.Discard); err != nil {
		t.Fatalf("S3 without --root: %v", err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--root=/r", "--users=/u", "--s3-bucket=b"}, "need --s3-endpoint"},
		{[]string{"--users=/u", "--s3-endpoint=https://s3.example.com"}, "--s3-bucket is required"},
		{[]string{"--users=/u", "--s3-endpoint=s3.example.com", "--s3-bucket=b"}, "--s3-endpoint"},
		{[]string{"--users=/u", "--s3-endpoint=https://s3.example.com/path", "--s3-bucket=b"}, "--s3-endpoint"},
		{[]string{"--users=/u", "--s3-endpoint=https://user:secret@s3.example.com", "--s3-bucket=b"}, "--s3-endpoint"},
		{append(base, "--s3-access-key-id-file=/ak"), "go together"},
		{[]string{"--s3-endpoint=https://s3.example.com", "--s3-bucket=b"}, "--root and --users"},
	} {
		_, err := Parse(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one naming %q", tt.args, err, tt.want)
		}
	}
}

// FuzzRelayRoundTrip: the Relay settings read back as written, and the server's range and peer names follow from them.
func FuzzRelayRoundTrip(f *testing.F) {
	f.Add(uint16(31000), uint16(3), 3, "drop-pods", "drop-1", true)
	f.Add(uint16(65000), uint16(99), 16, "a.b", "x", false)
	f.Add(uint16(1024), uint16(0), 2, "a b", "-", true)
	f.Fuzz(func(t *testing.T, start, n uint16, replicas int, domain, pod string, slice bool) {
		c := valid()
		c.Passive.Ports = ftpd.PortRange{Start: int32(start), End: int32(start) + int32(n)}
		c.Passive.SliceByOrdinal = slice
		c.Relay = Relay{Replicas: replicas, PeerDomain: domain}
		if c.Validate() != nil {
			t.Skip()
		}
		roundTrip(t, c)
		g := c.Relay.Grant(c.Passive.Ports)
		if g.Size() != int32(replicas)*c.Passive.Ports.Size() || g.Start != c.Passive.Ports.Start {
			t.Fatalf("grant %s of %d slices of %s", g, replicas, c.Passive.Ports)
		}
		if h := c.Relay.PeerHost(pod, 1); !strings.HasSuffix(h, "-1."+domain) {
			t.Fatalf("PeerHost(%q, 1) = %q", pod, h)
		}
	})
}

// TestRelayValidation: relaying needs the slices (--passive-slice-by-ordinal), a peer domain, 2 to 64 replicas and a
// range that fits below 65536.
func TestRelayValidation(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--relay-replicas=3", "--relay-peer-domain=d"}, "needs --passive-slice-by-ordinal"},
		{[]string{"--relay-replicas=3", "--passive-slice-by-ordinal"}, "--relay-peer-domain"},
		{[]string{"--relay-replicas=1", "--passive-slice-by-ordinal", "--relay-peer-domain=d"}, "want 2 to 64"},
		{[]string{"--relay-peer-domain=d"}, "want 2 to 64"},
		{[]string{"--relay-replicas=3", "--passive-slice-by-ordinal", "--relay-peer-domain=d", "--passive-ports=65530-65535"}, "the server's range"},
	} {
		_, err := Parse(append([]string{"--root=/r", "--users=/u"}, tt.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.args, err, tt.want)
		}
	}
	c, err := Parse([]string{"--root=/r", "--users=/u", "--passive-ports=31000-31003", "--passive-slice-by-ordinal", "--relay-replicas=3", "--relay-peer-domain=drop-pods"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Relay.Grant(c.Passive.Ports); g.String() != "31000-31011" {
		t.Errorf("grant %s, want 31000-31011", g)
	}
	if h := c.Relay.PeerHost("drop-1", 2); h != "drop-2.drop-pods" {
		t.Errorf("PeerHost = %q", h)
	}
}

// TestServerRelayOfAPod: the pod drop-1 of three relays the server's whole range as ordinal 1, dialing its peers by
// their names under the headless Service; a pod name without an ordinal, or an ordinal beyond the replicas, is refused.
func TestServerRelayOfAPod(t *testing.T) {
	c := valid()
	c.Passive = Passive{Ports: ftpd.PortRange{Start: 31000, End: 31003}, SliceByOrdinal: true}
	c.Relay = Relay{Replicas: 3, PeerDomain: "drop-pods"}
	r, err := c.ServerRelay("drop-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Range.String() != "31000-31011" || r.Slices != 3 || r.Self != 1 || r.Peer(2) != "drop-2.drop-pods" {
		t.Fatalf("relay %+v, peer 2 %q", r, r.Peer(2))
	}
	for _, bad := range []string{"drop", "drop-3"} {
		if _, err := c.ServerRelay(bad); err == nil {
			t.Errorf("pod %q: no error", bad)
		}
	}
	if r, err := valid().ServerRelay("x"); r != nil || err != nil {
		t.Fatalf("no relay configured: %v %v", r, err)
	}
}
