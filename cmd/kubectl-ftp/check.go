package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// Step results.
const (
	StepPass = "pass"
	StepWarn = "warn"
	StepFail = "fail"
	StepSkip = "skip"
)

// Step names, in the order the check runs them.
const (
	StepResolve  = "resolve endpoint"
	StepPassword = "password"
	StepConnect  = "connect"
	StepBanner   = "banner"
	StepTLS      = "TLS"
	StepLogin    = "login"
	StepPASV     = "PASV"
	StepPASVData = "PASV data connection"
	StepPASVList = "LIST over PASV"
	StepEPSV     = "EPSV"
	StepEPSVData = "EPSV data connection"
	StepEPSVList = "LIST over EPSV"
)

// step is one step of the check: what happened and, on failure, what to change.
type step struct {
	Name    string `json:"name"`
	Result  string `json:"result"`
	Detail  string `json:"detail,omitempty"`
	Fix     string `json:"fix,omitempty"`
	Elapsed string `json:"elapsed,omitempty"`
}

// checkResult is the whole check, as --json prints it.
type checkResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	User      string `json:"user"`
	Endpoint  string `json:"endpoint,omitempty"`
	OK        bool   `json:"ok"`
	Steps     []step `json:"steps"`
}

func (r *checkResult) add(s step) { r.Steps = append(r.Steps, s) }

// failed reports whether a step failed.
func (r *checkResult) failed() bool {
	for _, s := range r.Steps {
		if s.Result == StepFail {
			return true
		}
	}
	return false
}

// checkOptions are the flags of `kubectl ftp check`.
type checkOptions struct {
	Namespace     string
	Name          string
	User          string
	PasswordStdin bool
	Timeout       time.Duration
	CAFile        string
	Insecure      bool
}

// passwordSource reads a password the caller typed or piped; tests replace it.
type passwordSource struct {
	stdin    io.Reader
	terminal func() (string, error) // nil when stdin is not a terminal
}

// runCheck runs the check against the server and returns its steps; OK is false when one failed.
func runCheck(ctx context.Context, c client.Client, o checkOptions, pw passwordSource) (res checkResult) {
	res = checkResult{Namespace: o.Namespace, Name: o.Name, User: o.User}
	defer func() { res.OK = !res.failed() }()
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	var srv ftpv1.FTPServer
	if err := c.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, &srv); err != nil {
		fix := "check the name and the namespace (-n); `kubectl ftp status -n " + o.Namespace + "` lists the servers"
		if !apierrors.IsNotFound(err) {
			fix = "you need get on ftpservers.ftpoperator.io in namespace " + o.Namespace
		}
		res.add(step{Name: StepResolve, Result: StepFail, Detail: err.Error(), Fix: fix})
		return res
	}
	res.Endpoint = srv.Status.Endpoint
	var svc corev1.Service
	svcp := &svc
	if err := c.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: render.ServiceName(&srv)}, &svc); err != nil {
		svcp = nil // only names the address source
	}
	host, port, implicit, s := resolveEndpoint(&srv, svcp)
	res.add(s)
	if s.Result == StepFail {
		return res
	}

	password, s := findPassword(ctx, c, &srv, o, pw)
	res.add(s)
	if s.Result == StepFail {
		return res
	}

	tlsCfg, err := clientTLSConfig(host, o)
	if err != nil {
		res.add(step{Name: StepTLS, Result: StepFail, Detail: err.Error(), Fix: "pass a PEM file of CA certificates to --certificate-authority"})
		return res
	}
	wantTLS := srv.Spec.TLS != nil
	control := net.JoinHostPort(host, strconv.Itoa(port))

	start := time.Now()
	var implicitCfg *tls.Config
	if implicit {
		implicitCfg = tlsCfg
	}
	conn, err := dialFTP(control, o.Timeout, implicitCfg)
	if err != nil {
		var te *tlsError
		if errors.As(err, &te) {
			res.add(step{Name: StepConnect, Result: StepPass, Detail: "connected to " + control, Elapsed: since(start)})
			res.add(tlsStep(host, te.err, start))
			return res
		}
		res.add(step{Name: StepConnect, Result: StepFail, Elapsed: since(start),
			Detail: fmt.Sprintf("control port %s: %s", control, dialReason(err)),
			Fix: fmt.Sprintf("port %d unreachable: a firewall or the load balancer drops it, or the server pod is not running (kubectl ftp status %s -n %s)",
				port, o.Name, o.Namespace)})
		return res
	}
	defer conn.close()
	res.add(step{Name: StepConnect, Result: StepPass, Detail: "connected to " + control, Elapsed: since(start)})
	if implicit {
		res.add(step{Name: StepTLS, Result: StepPass, Detail: "implicit TLS, certificate valid for " + host})
	}

	start = time.Now()
	r, err := conn.read()
	if err != nil || r.Code != 220 {
		detail := "no greeting: " + errString(err)
		if err == nil {
			detail = "greeting " + r.String() + ", want 220"
		}
		res.add(step{Name: StepBanner, Result: StepFail, Detail: detail, Elapsed: since(start),
			Fix: "the port answers but not as this FTP server: check that " + control + " reaches the Service of " + o.Name + " (spec.service) and that the pod is Ready"})
		return res
	}
	res.add(step{Name: StepBanner, Result: StepPass, Detail: r.String(), Elapsed: since(start)})

	if wantTLS && !implicit {
		start = time.Now()
		r, err := conn.cmd("AUTH TLS")
		if err != nil || r.Code != 234 {
			res.add(step{Name: StepTLS, Result: StepFail, Detail: "AUTH TLS: " + replyOrErr(r, err), Elapsed: since(start),
				Fix: "spec.tls is set but the server does not offer AUTH TLS: the pod may still run an older configuration (kubectl ftp status " + o.Name + ")"})
			return res
		}
		if err := conn.startTLS(tlsCfg); err != nil {
			res.add(tlsStep(host, err, start))
			return res
		}
		res.add(step{Name: StepTLS, Result: StepPass, Detail: "AUTH TLS, certificate valid for " + host, Elapsed: since(start)})
	}

	if !login(conn, &srv, o, password, &res) {
		return res
	}
	if conn.tls != nil {
		if r, err := conn.cmd("PBSZ 0"); err != nil || r.Code != 200 {
			res.add(step{Name: StepTLS, Result: StepFail, Detail: "PBSZ 0: " + replyOrErr(r, err), Fix: "the server refuses data-channel protection; report it"})
			return res
		}
		if r, err := conn.cmd("PROT P"); err != nil || r.Code != 200 {
			res.add(step{Name: StepTLS, Result: StepFail, Detail: "PROT P: " + replyOrErr(r, err), Fix: "the server refuses data-channel protection; report it"})
			return res
		}
	}

	passive(conn, &srv, host, o, &res)
	return res
}

// resolveEndpoint reads the control host and port from status.endpoint.
func resolveEndpoint(srv *ftpv1.FTPServer, svc *corev1.Service) (host string, port int, implicit bool, s step) {
	s = step{Name: StepResolve}
	if srv.Status.Endpoint == "" || srv.Status.Address == "" {
		s.Result, s.Detail = StepFail, "status.address is empty"
		if c := meta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionAddress); c != nil && c.Message != "" {
			s.Detail += ": " + c.Message
		}
		switch srv.Spec.Service.Type {
		case corev1.ServiceTypeNodePort:
			s.Fix = "the server's pod is not on a node with an address yet, or set spec.publicAddress"
		case corev1.ServiceTypeClusterIP:
			s.Fix = "the Service has no cluster IP yet, or set spec.publicAddress"
		default:
			s.Fix = "the load balancer has no ingress yet, or set spec.publicAddress"
		}
		return "", 0, false, s
	}
	u, err := url.Parse(srv.Status.Endpoint)
	if err == nil && u.Port() != "" {
		port, err = strconv.Atoi(u.Port())
	}
	if err != nil || u.Hostname() == "" || port == 0 {
		s.Result, s.Detail = StepFail, fmt.Sprintf("status.endpoint %q is not ftp://host:port", srv.Status.Endpoint)
		s.Fix = "the operator writes status.endpoint; check that it runs (its logs)"
		return "", 0, false, s
	}
	s.Result, s.Detail = StepPass, srv.Status.Endpoint+" (address from "+addressSource(srv, svc)+")"
	return u.Hostname(), port, u.Scheme == "ftps", s
}

// findPassword takes the password from --password-stdin, else the user's Secret when the caller may read it, else
// a prompt on the terminal.
func findPassword(ctx context.Context, c client.Client, srv *ftpv1.FTPServer, o checkOptions, pw passwordSource) (string, step) {
	s := step{Name: StepPassword}
	if o.PasswordStdin {
		line, err := bufio.NewReader(pw.stdin).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			s.Result, s.Detail = StepFail, "nothing on stdin: "+errString(err)
			s.Fix = "pipe the password, for example: printf %s \"$PW\" | kubectl ftp check ... --password-stdin"
			return "", s
		}
		s.Result, s.Detail = StepPass, "from stdin"
		return line, s
	}
	var user *ftpv1.User
	for i := range srv.Spec.Users {
		if srv.Spec.Users[i].Name == o.User {
			user = &srv.Spec.Users[i]
		}
	}
	why := ""
	if user == nil {
		why = "user " + o.User + " is not in spec.users"
	} else {
		ref := user.PasswordSecretRef
		var sec corev1.Secret
		err := c.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: ref.Name}, &sec)
		switch {
		case apierrors.IsForbidden(err):
			why = "you may not read Secret " + ref.Name
		case err != nil:
			why = "Secret " + ref.Name + ": " + err.Error()
		default:
			v, ok := sec.Data[ref.KeyOrDefault()]
			p := strings.TrimRight(string(v), "\r\n")
			switch {
			case !ok || p == "":
				why = fmt.Sprintf("Secret %s has no key %s", ref.Name, ref.KeyOrDefault())
			case isBcrypt(p):
				why = fmt.Sprintf("Secret %s holds a bcrypt hash, not the password", ref.Name)
			default:
				s.Result, s.Detail = StepPass, fmt.Sprintf("from Secret %s key %s", ref.Name, ref.KeyOrDefault())
				return p, s
			}
		}
	}
	if pw.terminal != nil {
		p, err := pw.terminal()
		if err == nil && p != "" {
			s.Result, s.Detail = StepPass, "typed at the prompt ("+why+")"
			return p, s
		}
	}
	s.Result, s.Detail = StepFail, why+", and stdin is not a terminal"
	s.Fix = "pass the password on stdin with --password-stdin"
	return "", s
}

func isBcrypt(s string) bool {
	return len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}

// login sends USER and PASS.
func login(conn *ftpConn, srv *ftpv1.FTPServer, o checkOptions, password string, res *checkResult) bool {
	start := time.Now()
	r, err := conn.cmd("USER %s", o.User)
	if err == nil && r.Code == 331 {
		r, err = conn.cmd("PASS %s", password)
	}
	switch {
	case err != nil:
		res.add(step{Name: StepLogin, Result: StepFail, Detail: errString(err), Elapsed: since(start),
			Fix: "the server closed the connection during login: too many sessions (spec limits) or a lockout; retry later"})
		return false
	case r.Code == 230:
		res.add(step{Name: StepLogin, Result: StepPass, Detail: r.String(), Elapsed: since(start)})
		return true
	case (r.Code == 530 || r.Code == 534) && strings.Contains(strings.ToUpper(r.Msg), "TLS"):
		res.add(step{Name: StepLogin, Result: StepFail, Detail: "login refused: " + r.String(), Elapsed: since(start),
			Fix: "the server requires TLS before login but spec.tls is not set: the running pod and the spec disagree; check spec.tls and kubectl ftp status " + o.Name})
		return false
	case r.Code == 530:
		fix := "wrong password for " + o.User + ", or " + o.User + " is locked out after failed logins (wait for the lockout to pass)"
		for _, u := range srv.Spec.Users {
			if u.Name == o.User {
				fix += fmt.Sprintf("; the password is in Secret %s key %s", u.PasswordSecretRef.Name, u.PasswordSecretRef.KeyOrDefault())
			}
		}
		res.add(step{Name: StepLogin, Result: StepFail, Detail: "login refused: " + r.String(), Fix: fix, Elapsed: since(start)})
		return false
	}
	res.add(step{Name: StepLogin, Result: StepFail, Detail: "unexpected reply: " + r.String(), Elapsed: since(start),
		Fix: "the server did not accept the login; check the engine's logs (kubectl logs deploy/" + o.Name + ")"})
	return false
}

// passive runs PASV and EPSV, each with a data connection to what the server advertised and a LIST over it.
func passive(conn *ftpConn, srv *ftpv1.FTPServer, host string, o checkOptions, res *checkResult) {
	ports := srv.Status.PassivePortRange
	exposeFix := func(to string, port uint16) string {
		f := fmt.Sprintf("port %d unreachable: a firewall or the load balancer drops it", port)
		if ports != "" {
			f += "; every passive port " + ports + " must be open from this machine to " + to
		}
		return f
	}

	// PASV: the advertised address is the one that goes wrong behind NAT.
	start := time.Now()
	r, err := conn.cmd("PASV")
	var pasv netip.AddrPort
	if err == nil && r.Code == 227 {
		pasv, err = parsePASV(r.Msg)
	}
	if err != nil || r.Code != 227 {
		res.add(step{Name: StepPASV, Result: StepFail, Detail: replyOrErr(r, err), Elapsed: since(start),
			Fix: "the server refused passive mode: its passive ports may be exhausted (spec.passivePorts) or not granted (kubectl ftp status " + o.Name + ")"})
	} else {
		s := step{Name: StepPASV, Result: StepPass, Detail: r.String(), Elapsed: since(start)}
		if d, bad := pasvDiagnosis(pasv.Addr(), host, srv.Status.Address); d != "" {
			s.Fix = d
			if bad {
				s.Result = StepFail
			} else {
				s.Result = StepWarn
			}
		}
		res.add(s)
		dataAndList(conn, pasv.Addr().String(), pasv.Port(), StepPASVData, StepPASVList, exposeFix, o, res)
	}

	// EPSV: the client keeps the control connection's host, so only the port can go wrong.
	start = time.Now()
	r, err = conn.cmd("EPSV")
	var port uint16
	if err == nil && r.Code == 229 {
		port, err = parseEPSV(r.Msg)
	}
	if err != nil || r.Code != 229 {
		res.add(step{Name: StepEPSV, Result: StepFail, Detail: replyOrErr(r, err), Elapsed: since(start),
			Fix: "the server refused extended passive mode; clients that use EPSV (curl, lftp) will fail"})
		return
	}
	res.add(step{Name: StepEPSV, Result: StepPass, Detail: r.String(), Elapsed: since(start)})
	dataAndList(conn, host, port, StepEPSVData, StepEPSVList, exposeFix, o, res)
}

// pasvDiagnosis explains a PASV address that differs from the host the client reached; bad when a client behind
// NAT cannot use it.
func pasvDiagnosis(adv netip.Addr, host, statusAddress string) (string, bool) {
	if h, err := netip.ParseAddr(host); err == nil && h.Unmap() == adv {
		return "", false
	}
	if s, err := netip.ParseAddr(statusAddress); err == nil && s.Unmap() == adv {
		return "", false // a DNS name in status resolves to what PASV advertises
	}
	if adv.IsLoopback() {
		return fmt.Sprintf("PASV advertises %s, not %s: the server advertises an address other than the endpoint's; set spec.publicAddress to %s", adv, host, host), false
	}
	if !adv.IsGlobalUnicast() || adv.IsPrivate() {
		return fmt.Sprintf("PASV advertises %s, a private address: the load balancer has no ingress yet, or set spec.publicAddress", adv), true
	}
	return fmt.Sprintf("PASV advertises %s, not %s: clients that trust PASV connect there; set spec.publicAddress to the address clients reach", adv, host), false
}

// dataAndList opens a data connection to host:port and lists over it.
func dataAndList(conn *ftpConn, host string, port uint16, dataStep, listStep string, exposeFix func(string, uint16) string, o checkOptions, res *checkResult) {
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	start := time.Now()
	data, err := conn.openData(addr)
	if err != nil {
		res.add(step{Name: dataStep, Result: StepFail, Detail: addr + ": " + dialReason(err), Fix: exposeFix(host, port), Elapsed: since(start)})
		res.add(step{Name: listStep, Result: StepSkip, Detail: "no data connection"})
		return
	}
	res.add(step{Name: dataStep, Result: StepPass, Detail: "connected to " + addr, Elapsed: since(start)})
	start = time.Now()
	listing, r, err := conn.list(data)
	if err != nil || (r.Code != 226 && r.Code != 250) {
		fix := "the data connection opened but the listing failed: check the engine's logs (kubectl logs deploy/" + o.Name + ")"
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ce) || strings.Contains(errString(err), "tls") {
			fix = "the TLS handshake on the data connection failed: the server wants the data connection to resume the control connection's TLS session"
		}
		if r.Code == 425 || r.Code == 522 {
			fix = "the server refused the data connection (" + r.String() + "): it must come from this client's address and, with TLS, resume its session; a NAT or proxy in between changes the address"
		}
		res.add(step{Name: listStep, Result: StepFail, Detail: replyOrErr(r, err), Fix: fix, Elapsed: since(start)})
		return
	}
	n := strings.Count(listing, "\n")
	res.add(step{Name: listStep, Result: StepPass, Detail: fmt.Sprintf("%s (%d entries)", r.String(), n), Elapsed: since(start)})
}

// tlsStep turns a handshake error into a diagnosis.
func tlsStep(host string, err error, start time.Time) step {
	s := step{Name: StepTLS, Result: StepFail, Detail: err.Error(), Elapsed: since(start)}
	var he x509.HostnameError
	var ue x509.UnknownAuthorityError
	var ie x509.CertificateInvalidError
	switch {
	case errors.As(err, &he):
		names := append([]string{}, he.Certificate.DNSNames...)
		for _, ip := range he.Certificate.IPAddresses {
			names = append(names, ip.String())
		}
		s.Detail = fmt.Sprintf("TLS certificate does not match %s (it names %s)", host, strings.Join(names, ", "))
		s.Fix = fmt.Sprintf("issue the certificate in spec.tls.secretRef for %s, or set spec.publicAddress to a name the certificate holds", host)
	case errors.As(err, &ue):
		s.Detail = "TLS certificate signed by an unknown authority"
		s.Fix = "pass the issuing CA with --certificate-authority FILE (or --insecure-skip-tls-verify to test the rest)"
	case errors.As(err, &ie):
		s.Fix = "the certificate in spec.tls.secretRef is expired or not valid for a server: renew it"
	default:
		s.Fix = "the TLS handshake failed: check the Secret in spec.tls.secretRef and the engine's logs"
	}
	return s
}

// clientTLSConfig verifies the server's certificate against host; one session cache, so that data connections
// resume the control connection's session.
func clientTLSConfig(host string, o checkOptions) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(4),
		InsecureSkipVerify: o.Insecure} //nolint:gosec // only with --insecure-skip-tls-verify
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// dialReason names why a connection failed: refused (nothing listens, or a firewall rejects) or timed out (a
// firewall or load balancer drops the packets).
func dialReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "connection timed out"
	}
	return err.Error()
}

func replyOrErr(r reply, err error) string {
	if err != nil {
		return err.Error()
	}
	return r.String()
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// printCheck writes the steps as a table, then a line per failure with what to change.
func printCheck(w io.Writer, r checkResult) {
	fmt.Fprintf(w, "Checking FTPServer %s/%s as %s\n", r.Namespace, r.Name, r.User)
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  [%s] %-22s %s\n", s.Result, s.Name, s.Detail)
		if s.Fix != "" {
			fmt.Fprintf(w, "         -> %s\n", s.Fix)
		}
	}
	if r.OK {
		fmt.Fprintln(w, "OK: a client on this machine can log in and transfer data.")
	} else {
		fmt.Fprintln(w, "FAILED: see the steps marked [fail] above.")
	}
}

func printCheckJSON(w io.Writer, r checkResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
