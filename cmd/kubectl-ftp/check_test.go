package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// startAPI runs envtest (a real kube-apiserver and etcd) with the FTPServer CRD; no operator runs, so a test sets
// each server's status by hand through the status subresource.
func startAPI(t *testing.T) client.Client {
	t.Helper()
	c, _ := startAPIEnv(t)
	return c
}

func startAPIEnv(t *testing.T) (client.Client, *envtest.Environment) {
	t.Helper()
	e := support.EnvtestFor(t, support.EnvtestOptions{})
	c, err := client.New(e.Config, client.Options{Scheme: newScheme()}) // the plugin's own scheme
	if err != nil {
		t.Fatal(err)
	}
	return c, e.Env
}

// server creates an FTPServer with user acme whose password Secret holds password, and sets its status to
// point at the engine on addr ("" leaves the status without an address, as while a load balancer is pending).
func server(t *testing.T, c client.Client, ns, name, password, addr string, pasvPort int32) {
	t.Helper()
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-pw"}, StringData: map[string]string{"password": password}}
	if err := c.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	srv := &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: ftpv1.FTPServerSpec{
		Users: []ftpv1.User{{Name: support.EngineUser, PasswordSecretRef: ftpv1.SecretKeySelector{Name: name + "-pw"}}},
	}}
	if err := c.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	cond := func(typ string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, LastTransitionTime: now, ObservedGeneration: srv.Generation}
	}
	if addr == "" {
		srv.Status.Conditions = []metav1.Condition{
			cond(ftpv1.ConditionReady, false, ftpv1.ReasonWaitingForAddress, "waiting for an address"),
			cond(ftpv1.ConditionAddress, false, ftpv1.ReasonWaitingForAddress, "waiting for a load balancer to assign an address to Service "+name),
		}
	} else {
		host, port, _ := net.SplitHostPort(addr)
		srv.Status.Address, srv.Status.Endpoint = host, "ftp://"+addr
		_ = port
		srv.Status.PassivePorts = &ftpv1.PortRange{Start: pasvPort, End: pasvPort}
		srv.Status.PassivePortRange = srv.Status.PassivePorts.String()
		srv.Status.Conditions = []metav1.Condition{
			cond(ftpv1.ConditionReady, true, ftpv1.ReasonReady, "the server is ready"),
			cond(ftpv1.ConditionAddress, true, ftpv1.ReasonAddressAssigned, "passive replies advertise "+host),
		}
	}
	if err := c.Status().Update(ctx, srv); err != nil {
		t.Fatal(err)
	}
}

// checkCLI runs `kubectl ftp check NAME --user acme -n NS --json` plus extra args and decodes the result.
func checkCLI(t *testing.T, c client.Client, ns, name, stdin string, extra ...string) (checkResult, int, time.Duration) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"check", name, "--user", support.EngineUser, "-n", ns, "--json", "--timeout", "2s"}, extra...)
	start := time.Now()
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut,
		func(string, string) (client.Client, string, error) { return c, "default", nil })
	took := time.Since(start)
	var res checkResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s\nstderr: %s", err, out.String(), errOut.String())
	}
	return res, code, took
}

func stepOf(t *testing.T, res checkResult, name string) step {
	t.Helper()
	for _, s := range res.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in %+v", name, res.Steps)
	return step{}
}

func wantStep(t *testing.T, res checkResult, name, result string, fixHas ...string) {
	t.Helper()
	s := stepOf(t, res, name)
	if s.Result != result {
		t.Errorf("step %s: %s (%s; fix %q), want %s", name, s.Result, s.Detail, s.Fix, result)
	}
	for _, f := range fixHas {
		if !strings.Contains(s.Fix, f) && !strings.Contains(s.Detail, f) {
			t.Errorf("step %s: %q / %q does not say %q", name, s.Detail, s.Fix, f)
		}
	}
}

// TestCheckAgainstAPIAndEngine runs the check as a user would, against a real API server and real engines on
// loopback: a healthy server, one without an address, one whose PASV advertises an address nobody listens on,
// and a wrong password.
func TestCheckAgainstAPIAndEngine(t *testing.T) {
	c, env := startAPIEnv(t)
	const ns = "ftp"
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	t.Run("healthy", func(t *testing.T) {
		engine, addr := support.StartEngine(t)
		server(t, c, ns, "healthy", support.EnginePassword, addr, engine.PassivePorts.Start)
		res, code, _ := checkCLI(t, c, ns, "healthy", "")
		if code != exitOK || !res.OK {
			t.Fatalf("exit %d, ok %v, want 0/true: %+v", code, res.OK, res.Steps)
		}
		for _, s := range res.Steps {
			if s.Result != StepPass {
				t.Errorf("step %s: %s (%s)", s.Name, s.Result, s.Detail)
			}
		}
		for _, name := range []string{StepConnect, StepBanner, StepLogin, StepPASV, StepPASVData, StepPASVList, StepEPSV, StepEPSVData, StepEPSVList} {
			stepOf(t, res, name)
		}
		wantStep(t, res, StepPassword, StepPass, "from Secret healthy-pw key password")
	})

	t.Run("no address", func(t *testing.T) {
		server(t, c, ns, "pending", support.EnginePassword, "", 0)
		res, code, _ := checkCLI(t, c, ns, "pending", "")
		if code != exitFailed || res.OK {
			t.Fatalf("exit %d, ok %v, want 1/false", code, res.OK)
		}
		wantStep(t, res, StepResolve, StepFail, "the load balancer has no ingress yet, or set spec.publicAddress",
			"waiting for a load balancer to assign an address")
		if len(res.Steps) != 1 {
			t.Errorf("steps after a failed resolve: %+v", res.Steps)
		}
	})

	t.Run("passive port unreachable", func(t *testing.T) {
		// The engine listens for data on 127.0.0.1 only but advertises 127.0.0.2, as a server behind a load
		// balancer that drops its passive ports would: PASV's address is refused, EPSV (same host) works.
		var pasvPort int32
		_, addr := support.StartEngineWith(t, func(s *ftpd.Server) {
			s.PassiveHost, s.PublicAddress = "127.0.0.1", "127.0.0.2"
			pasvPort = s.PassivePorts.Start
		})
		server(t, c, ns, "dropped", support.EnginePassword, addr, pasvPort)
		res, code, took := checkCLI(t, c, ns, "dropped", "")
		if code != exitFailed || res.OK {
			t.Fatalf("exit %d, ok %v, want 1/false: %+v", code, res.OK, res.Steps)
		}
		wantStep(t, res, StepPASV, StepWarn, "PASV advertises 127.0.0.2")
		wantStep(t, res, StepPASVData, StepFail, fmt.Sprintf("port %d unreachable: a firewall or the load balancer drops it; every passive port %d-%d must be open from this machine to 127.0.0.2", pasvPort, pasvPort, pasvPort))
		wantStep(t, res, StepPASVList, StepSkip)
		wantStep(t, res, StepEPSVData, StepPass)
		wantStep(t, res, StepEPSVList, StepPass)
		if took > 10*time.Second {
			t.Errorf("the check took %s; every step is bounded by --timeout 2s", took)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		engine, addr := support.StartEngine(t)
		server(t, c, ns, "wrongpw", "not-the-password", addr, engine.PassivePorts.Start)
		res, code, _ := checkCLI(t, c, ns, "wrongpw", "")
		if code != exitFailed || res.OK {
			t.Fatalf("exit %d, ok %v, want 1/false", code, res.OK)
		}
		wantStep(t, res, StepLogin, StepFail, "530", "wrong password for acme", "Secret wrongpw-pw key password")
		// --password-stdin wins over the Secret: the right password from stdin logs in.
		res, code, _ = checkCLI(t, c, ns, "wrongpw", support.EnginePassword+"\n", "--password-stdin")
		if code != exitOK {
			t.Fatalf("with the right password on stdin: exit %d: %+v", code, res.Steps)
		}
		wantStep(t, res, StepPassword, StepPass, "from stdin")
	})

	t.Run("Secret not readable", func(t *testing.T) {
		// A user who may read FTPServers but not Secrets: the check says so and takes the password from the
		// prompt, or fails at the password step without a terminal.
		engine, addr := support.StartEngine(t)
		server(t, c, ns, "private", support.EnginePassword, addr, engine.PassivePorts.Start)
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ftp-viewer"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{ftpv1.GroupVersion.Group}, Resources: []string{"ftpservers"}, Verbs: []string{"get", "list"}},
		}}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ftp-viewer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "ftp-viewer"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "viewer"}}}
		for _, o := range []client.Object{role, binding} {
			if err := c.Create(context.Background(), o); err != nil {
				t.Fatal(err)
			}
		}
		u, err := env.ControlPlane.AddUser(envtest.User{Name: "viewer"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		viewer, err := client.New(u.Config(), client.Options{Scheme: newScheme()})
		if err != nil {
			t.Fatal(err)
		}
		res, code, _ := checkCLI(t, viewer, ns, "private", "")
		if code != exitFailed {
			t.Fatalf("exit %d: %+v", code, res.Steps)
		}
		wantStep(t, res, StepPassword, StepFail, "you may not read Secret private-pw, and stdin is not a terminal", "--password-stdin")

		prompted := 0
		o := checkOptions{Namespace: ns, Name: "private", User: support.EngineUser, Timeout: 2 * time.Second}
		res = runCheck(context.Background(), viewer, o, passwordSource{terminal: func() (string, error) {
			prompted++
			return support.EnginePassword, nil
		}})
		if !res.OK || prompted != 1 {
			t.Fatalf("ok %v, prompted %d times: %+v", res.OK, prompted, res.Steps)
		}
		wantStep(t, res, StepPassword, StepPass, "typed at the prompt (you may not read Secret private-pw)")
	})

	t.Run("status", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"status", "-n", ns}, nil, &out, &errOut,
			func(string, string) (client.Client, string, error) { return c, "default", nil })
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 6 { // header + dropped, healthy, pending, private, wrongpw
			t.Fatalf("want a header and 5 rows:\n%s", out.String())
		}
		if f := strings.Fields(lines[3]); f[0] != "pending" || f[1] != "-" || !strings.Contains(lines[3], "none yet") ||
			!strings.Contains(lines[3], "AddressAssigned=False(WaitingForAddress)") {
			t.Errorf("pending row: %q", lines[3])
		}
		if !strings.Contains(lines[2], "load-balancer ingress") || !strings.Contains(lines[2], "True") {
			t.Errorf("healthy row: %q", lines[2])
		}
	})
}
