package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

func cond(typ string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg}
}

func TestAddressSource(t *testing.T) {
	withAddr := func(spec ftpv1.FTPServerSpec) *ftpv1.FTPServer {
		return &ftpv1.FTPServer{Spec: spec, Status: ftpv1.FTPServerStatus{Address: "203.0.113.10"}}
	}
	svc := func(typ corev1.ServiceType) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Type: typ}}
	}
	for _, tc := range []struct {
		name string
		srv  *ftpv1.FTPServer
		svc  *corev1.Service
		want string
	}{
		{"no address yet", &ftpv1.FTPServer{Spec: ftpv1.FTPServerSpec{PublicAddress: "ftp.example.com"}}, nil, SourceNone},
		{"publicAddress wins over the Service", withAddr(ftpv1.FTPServerSpec{PublicAddress: "203.0.113.10"}), svc(corev1.ServiceTypeClusterIP), SourcePublicAddress},
		{"load balancer", withAddr(ftpv1.FTPServerSpec{}), svc(corev1.ServiceTypeLoadBalancer), SourceLoadBalancer},
		{"node port", withAddr(ftpv1.FTPServerSpec{}), svc(corev1.ServiceTypeNodePort), SourceNode},
		{"cluster IP", withAddr(ftpv1.FTPServerSpec{}), svc(corev1.ServiceTypeClusterIP), SourceClusterIP},
		{"Service unreadable: the spec's type", withAddr(ftpv1.FTPServerSpec{Service: ftpv1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}), nil, SourceNode},
		{"Service unreadable, type defaulted", withAddr(ftpv1.FTPServerSpec{}), nil, SourceLoadBalancer},
	} {
		if got := addressSource(tc.srv, tc.svc); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func sampleRows() []serverStatus {
	ready := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ftp", Name: "acme"},
		Status: ftpv1.FTPServerStatus{
			Address: "203.0.113.10", Endpoint: "ftp://203.0.113.10:21", PassivePorts: &ftpv1.PortRange{Start: 30000, End: 30015},
			Conditions: []metav1.Condition{
				cond(ftpv1.ConditionStoragePersistent, metav1.ConditionFalse, ftpv1.ReasonEmptyDir, "files are lost\nwhen the pod goes"),
				cond(ftpv1.ConditionReady, metav1.ConditionTrue, ftpv1.ReasonReady, "the server is ready"),
				cond(ftpv1.ConditionPortsAllocated, metav1.ConditionTrue, ftpv1.ReasonAllocated, "30000-30015"),
			},
		},
	}
	pending := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ftp", Name: "beta"},
		Status: ftpv1.FTPServerStatus{Conditions: []metav1.Condition{
			cond(ftpv1.ConditionReady, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress, "waiting for  an\naddress"),
			cond(ftpv1.ConditionAddress, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress, "waiting for a load balancer"),
		}},
	}
	return []serverStatus{newServerStatus(ready, &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}), newServerStatus(pending, nil)}
}

func TestStatusTable(t *testing.T) {
	var b bytes.Buffer
	if err := printStatusTable(&b, sampleRows()); err != nil {
		t.Fatal(err)
	}
	want := `NAME  ENDPOINT               PASSIVE PORTS  ADDRESS       SOURCE                 READY  REASON             MESSAGE                 CONDITIONS
acme  ftp://203.0.113.10:21  30000-30015    203.0.113.10  load-balancer ingress  True   Ready              the server is ready     PortsAllocated=True,StoragePersistent=False(EmptyDir)
beta  -                      -              -             none yet               False  WaitingForAddress  waiting for an address  AddressAssigned=False(WaitingForAddress)
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStatusJSON(t *testing.T) {
	var b bytes.Buffer
	if err := printStatusJSON(&b, sampleRows()); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["name"] != "acme" || got[0]["passivePorts"] != "30000-30015" || got[0]["addressSource"] != "load-balancer ingress" ||
		got[0]["ready"] != "True" || got[1]["addressSource"] != "none yet" || got[1]["reason"] != "WaitingForAddress" {
		t.Errorf("JSON: %s", b.String())
	}
	conds, _ := got[0]["conditions"].([]any)
	if len(conds) != 2 || conds[0].(map[string]any)["type"] != "PortsAllocated" {
		t.Errorf("conditions other than Ready, sorted by type: %v", conds)
	}
	b.Reset()
	_ = printStatusJSON(&b, nil)
	if strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no servers: %q, want []", b.String())
	}
}

func TestCheckOutput(t *testing.T) {
	r := checkResult{Namespace: "ftp", Name: "acme", User: "bob", Steps: []step{
		{Name: StepConnect, Result: StepPass, Detail: "connected to 203.0.113.10:21"},
		{Name: StepPASVData, Result: StepFail, Detail: "203.0.113.10:30005: connection timed out", Fix: "port 30005 unreachable: a firewall or the load balancer drops it"},
	}}
	r.OK = !r.failed()
	var b bytes.Buffer
	printCheck(&b, r)
	want := `Checking FTPServer ftp/acme as bob
  [pass] connect                connected to 203.0.113.10:21
  [fail] PASV data connection   203.0.113.10:30005: connection timed out
         -> port 30005 unreachable: a firewall or the load balancer drops it
FAILED: see the steps marked [fail] above.
`
	if b.String() != want {
		t.Errorf("check output:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := printCheckJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var back checkResult
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || !reflect.DeepEqual(back, r) || back.OK {
		t.Errorf("JSON round trip: %v\n%s", err, b.String())
	}
}

func TestPASVDiagnosis(t *testing.T) {
	for _, tc := range []struct {
		adv, host, status string
		want              string
		bad               bool
	}{
		{"203.0.113.10", "203.0.113.10", "203.0.113.10", "", false},
		{"203.0.113.10", "ftp.example.com", "ftp.example.com", "PASV advertises 203.0.113.10, not ftp.example.com", false},
		{"10.0.3.7", "203.0.113.10", "203.0.113.10", "PASV advertises 10.0.3.7, a private address: the load balancer has no ingress yet, or set spec.publicAddress", true},
		{"10.0.3.7", "10.0.3.7", "10.0.3.7", "", false}, // in-cluster client of a ClusterIP server
		{"0.0.0.0", "203.0.113.10", "203.0.113.10", "PASV advertises 0.0.0.0, a private address", true},
		{"127.0.0.2", "127.0.0.1", "127.0.0.1", "PASV advertises 127.0.0.2, not 127.0.0.1", false},
	} {
		got, bad := pasvDiagnosis(netip.MustParseAddr(tc.adv), tc.host, tc.status)
		if !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") || bad != tc.bad {
			t.Errorf("PASV %s for %s: %q (bad %v), want %q (bad %v)", tc.adv, tc.host, got, bad, tc.want, tc.bad)
		}
	}
}

func TestParsePassiveReplies(t *testing.T) {
	ap, err := parsePASV("Entering Passive Mode (10,0,3,7,117,53).")
	if err != nil || ap != netip.MustParseAddrPort("10.0.3.7:30005") {
		t.Errorf("PASV: %v %v", ap, err)
	}
	for _, bad := range []string{"Entering Passive Mode", "(1,2,3,4,5)", "(1,2,3,4,5,256)", "(a,2,3,4,5,6)"} {
		if _, err := parsePASV(bad); err == nil {
			t.Errorf("PASV %q parsed", bad)
		}
	}
	p, err := parseEPSV("Entering Extended Passive Mode (|||30005|)")
	if err != nil || p != 30005 {
		t.Errorf("EPSV: %v %v", p, err)
	}
	for _, bad := range []string{"no parens", "(|||0|)", "(||30005|)", "(|||70000|)"} {
		if _, err := parseEPSV(bad); err == nil {
			t.Errorf("EPSV %q parsed", bad)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	user := fs.String("user", "", "")
	ns := fs.String("n", "", "")
	js := fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, []string{"acme", "--user", "bob", "-n", "ftp", "--json", "--", "--odd"})
	if err != nil || !reflect.DeepEqual(pos, []string{"acme", "--odd"}) || *user != "bob" || *ns != "ftp" || !*js {
		t.Errorf("pos %v err %v user %q ns %q json %v", pos, err, *user, *ns, *js)
	}
}

func TestIsBcrypt(t *testing.T) {
	if !isBcrypt("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy") || isBcrypt("s3cret") {
		t.Error("isBcrypt")
	}
}

// TestUsage: bad command lines exit 2 without touching the API.
func TestUsage(t *testing.T) {
	noAPI := func(string, string) (client.Client, string, error) {
		t.Error("the API was contacted for a bad command line")
		return nil, "", errors.New("no API")
	}
	for _, args := range [][]string{nil, {"nope"}, {"check", "acme"}, {"check", "--user", "bob"}, {"check", "a", "b", "--user", "bob"},
		{"status", "a", "b"}, {"check", "acme", "--user", "bob", "--bogus"}, {"status", "--timeout", "1s"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, noAPI); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
		if !strings.Contains(errOut.String(), "Usage:") {
			t.Errorf("%q: no usage on stderr: %q", args, errOut.String())
		}
	}
}
