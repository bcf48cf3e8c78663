//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// checkReport is the JSON of `kubectl ftp check --json` (cmd/kubectl-ftp checkResult).
type checkReport struct {
	Namespace, Name, User, Endpoint string
	OK                              bool
	Steps                           []struct{ Name, Result, Detail, Fix string }
}

func (r checkReport) step(name string) (res, detail, fix string) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s.Result, s.Detail, s.Fix
		}
	}
	return "", "", ""
}

// kubectlFTP builds cmd/kubectl-ftp once for the test.
func kubectlFTP(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kubectl-ftp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kubectl-ftp")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building kubectl-ftp: %v\n%s", err, out)
	}
	return bin
}

// runCheck runs `kubectl ftp check NAME --json` in the client namespace netns, as a user would on their own machine
// (the API server and the FTP server reached over that namespace's network), and returns its report and exit code.
func runCheck(t *testing.T, bin, netns, ns, name string) (checkReport, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := inNS(ctx, netns, bin, "check", name, "--user", ftpUser, "--json", "--timeout", "4s",
		"--kubeconfig", config.kubeconfig, "-n", ns)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("kubectl ftp check: %v\n%s", err, stderr.String())
	}
	var r checkReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("kubectl ftp check --json (exit %d): %v\nstdout %s\nstderr %s", code, err, stdout.String(), stderr.String())
	}
	t.Logf("kubectl ftp check %s/%s from %s: exit %d\n%s", ns, name, netns, code, stdout.String())
	return r, code
}

// TestKubectlFTPCheck: `kubectl ftp check`, run from the client behind NAT as from a user's machine, passes a
// healthy server, names the step and the fix for a LoadBalancer that has no address (a class no load balancer of
// the cluster serves) and for passive ports that a firewall drops (iptables in the client's network namespace),
// and passes again once the firewall lets them through.
func TestKubectlFTPCheck(t *testing.T) {
	bin := kubectlFTP(t)
	ns := newNamespace(t, "e2e-check")
	good := newServer(t, ns, "good", nil)

	// No address, ever: MetalLB serves only Services without a loadBalancerClass.
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pending-users"},
		StringData: map[string]string{"password": "pw" + randomHex(8)}}); err != nil {
		t.Fatal(err)
	}
	pending := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pending"},
		Spec: ftpv1.FTPServerSpec{
			Users: []ftpv1.User{{Name: ftpUser, PasswordSecretRef: ftpv1.SecretKeySelector{Name: "pending-users", Key: "password"}}},
			Service: ftpv1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
				LoadBalancerClass: ptr.To("example.com/no-such-load-balancer")},
			PassivePorts: ftpv1.PassivePorts{Count: ptr.To[int32](2)},
			Storage:      ftpv1.Storage{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		},
	}
	if err := k8s.Create(ctx, pending); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got ftpv1.FTPServer
		err := k8s.Get(ctx, client.ObjectKeyFromObject(pending), &got)
		c := meta.FindStatusCondition(got.Status.Conditions, ftpv1.ConditionAddress)
		if err == nil && c != nil && c.Status == metav1.ConditionFalse {
			if got.Status.Address != "" {
				t.Fatalf("the server without a load balancer has address %q", got.Status.Address)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending server: no AddressAssigned=False condition: %v %+v", err, got.Status)
		}
		time.Sleep(500 * time.Millisecond)
	}

	t.Run("healthy", func(t *testing.T) {
		r, code := runCheck(t, bin, natClient, ns, good.name)
		if code != 0 || !r.OK {
			t.Fatalf("exit %d, ok %v", code, r.OK)
		}
		for _, name := range []string{"resolve endpoint", "password", "connect", "banner", "login", "PASV",
			"PASV data connection", "LIST over PASV", "EPSV", "EPSV data connection", "LIST over EPSV"} {
			if res, detail, _ := r.step(name); res != "pass" {
				t.Errorf("step %q: %q (%s), want pass", name, res, detail)
			}
		}
	})

	t.Run("no address", func(t *testing.T) {
		r, code := runCheck(t, bin, natClient, ns, pending.Name)
		if code != 1 || r.OK {
			t.Fatalf("exit %d, ok %v: want a failed check", code, r.OK)
		}
		res, detail, fix := r.step("resolve endpoint")
		if res != "fail" || !strings.Contains(detail, "status.address is empty") ||
			fix != "the load balancer has no ingress yet, or set spec.publicAddress" {
			t.Errorf("resolve endpoint: %q %q, fix %q", res, detail, fix)
		}
		if len(r.Steps) != 1 {
			t.Errorf("the check went on after the endpoint failed: %+v", r.Steps)
		}
	})

	t.Run("passive ports dropped", func(t *testing.T) {
		srv := getServer(t, good)
		host, port := endpoint(t, srv)
		// A firewall on the user's side: everything to the server but its control port is dropped.
		rule := []string{"OUTPUT", "-p", "tcp", "-d", host, "!", "--dport", port, "-j", "DROP"}
		if err := sh(ctx, append([]string{"ip", "netns", "exec", natClient, "iptables", "-A"}, rule...)...); err != nil {
			t.Fatal(err)
		}
		removed := false
		remove := func() {
			if !removed {
				removed = true
				if err := sh(ctx, append([]string{"ip", "netns", "exec", natClient, "iptables", "-D"}, rule...)...); err != nil {
					t.Errorf("removing the rule: %v", err)
				}
			}
		}
		t.Cleanup(remove)

		start := time.Now()
		r, code := runCheck(t, bin, natClient, ns, good.name)
		if code != 1 || r.OK {
			t.Fatalf("exit %d, ok %v: want a failed check", code, r.OK)
		}
		if d := time.Since(start); d > 45*time.Second {
			t.Errorf("the check took %s with --timeout 4s", d)
		}
		for _, name := range []string{"connect", "login", "PASV", "EPSV"} {
			if res, detail, _ := r.step(name); res != "pass" {
				t.Errorf("step %q: %q (%s): the control connection is not firewalled", name, res, detail)
			}
		}
		for _, p := range []struct{ data, list string }{{"PASV data connection", "LIST over PASV"}, {"EPSV data connection", "LIST over EPSV"}} {
			res, detail, fix := r.step(p.data)
			// The detail names the advertised host:port and why; the fix that port and the whole range to open.
			hostPort, why, _ := strings.Cut(detail, ": ")
			h, dataPort, err := net.SplitHostPort(hostPort)
			want := fmt.Sprintf("port %s unreachable: a firewall or the load balancer drops it; every passive port %s must be open from this machine to %s",
				dataPort, srv.Status.PassivePortRange, host)
			if res != "fail" || err != nil || h != host || why != "connection timed out" || fix != want {
				t.Errorf("%s: %q %q, fix %q; want fail, %s:PORT: connection timed out, fix %q", p.data, res, detail, fix, host, want)
			}
			if res, _, _ := r.step(p.list); res != "skip" {
				t.Errorf("%s: %q, want skip", p.list, res)
			}
		}

		remove()
		if r, code := runCheck(t, bin, natClient, ns, good.name); code != 0 || !r.OK {
			t.Errorf("without the firewall rule: exit %d, ok %v", code, r.OK)
		}
	})
}
