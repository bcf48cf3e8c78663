package main

import (
	"context"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/testcert"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// selfSignedCert makes a server certificate for the given hosts (IPs or names) that is its own CA; it returns it
// and the PEM of that CA (the certificate itself) in a file.
func selfSignedCert(t *testing.T, hosts ...string) (*testcert.Cert, string) {
	t.Helper()
	c := testcert.New(t, testcert.Options{Hosts: hosts, CA: true})
	return c, c.WriteCA(t)
}

// tlsServer creates an FTPServer with spec.tls that points at a TLS-required engine serving cert.
func tlsServer(t *testing.T, c client.Client, ns, name string, cert *testcert.Cert) {
	t.Helper()
	engine, addr := support.StartEngineWith(t, func(s *ftpd.Server) {
		s.TLSConfig = cert.ServerConfig()
		s.TLSMode = ftpd.TLSRequired
	})
	server(t, c, ns, name, support.EnginePassword, addr, engine.PassivePorts.Start)
	var srv ftpv1.FTPServer
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &srv); err != nil {
		t.Fatal(err)
	}
	srv.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: name + "-tls"}}
	if err := c.Update(context.Background(), &srv); err != nil {
		t.Fatal(err)
	}
}

// TestCheckTLS: against an engine that requires TLS (AUTH TLS before login, PROT P, data connections that must
// resume the control connection's session), the check passes with the right CA, and names the host when the
// certificate does not cover it.
func TestCheckTLS(t *testing.T) {
	c := startAPI(t)
	const ns = "ftps"
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	t.Run("valid certificate", func(t *testing.T) {
		cert, ca := selfSignedCert(t, "127.0.0.1")
		tlsServer(t, c, ns, "secure", cert)
		res, code, _ := checkCLI(t, c, ns, "secure", "", "--certificate-authority", ca)
		if code != exitOK || !res.OK {
			t.Fatalf("exit %d: %+v", code, res.Steps)
		}
		wantStep(t, res, StepTLS, StepPass, "AUTH TLS, certificate valid for 127.0.0.1")
		wantStep(t, res, StepPASVList, StepPass)
		wantStep(t, res, StepEPSVList, StepPass)
	})

	t.Run("certificate for another host", func(t *testing.T) {
		cert, ca := selfSignedCert(t, "ftp.example.com")
		tlsServer(t, c, ns, "wrongname", cert)
		res, code, _ := checkCLI(t, c, ns, "wrongname", "", "--certificate-authority", ca)
		if code != exitFailed || res.OK {
			t.Fatalf("exit %d: %+v", code, res.Steps)
		}
		wantStep(t, res, StepTLS, StepFail, "TLS certificate does not match 127.0.0.1 (it names ftp.example.com)",
			"issue the certificate in spec.tls.secretRef for 127.0.0.1")
		if s := res.Steps[len(res.Steps)-1]; s.Name != StepTLS {
			t.Errorf("the check went on after a failed handshake: %+v", res.Steps)
		}
	})

	t.Run("implicit TLS", func(t *testing.T) {
		cert, ca := selfSignedCert(t, "127.0.0.1")
		engine, _ := support.StartEngineWith(t, func(s *ftpd.Server) {
			s.TLSConfig = cert.ServerConfig()
			s.TLSMode = ftpd.TLSImplicit
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = engine.ServeImplicitTLS(l) }()
		server(t, c, ns, "implicit", support.EnginePassword, l.Addr().String(), engine.PassivePorts.Start)
		var srv ftpv1.FTPServer
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "implicit"}, &srv); err != nil {
			t.Fatal(err)
		}
		srv.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "implicit-tls"}, Mode: ftpv1.TLSImplicit}
		if err := c.Update(context.Background(), &srv); err != nil {
			t.Fatal(err)
		}
		srv.Status.Endpoint = "ftps://" + l.Addr().String()
		if err := c.Status().Update(context.Background(), &srv); err != nil {
			t.Fatal(err)
		}
		res, code, _ := checkCLI(t, c, ns, "implicit", "", "--certificate-authority", ca)
		if code != exitOK {
			t.Fatalf("exit %d: %+v", code, res.Steps)
		}
		wantStep(t, res, StepTLS, StepPass, "implicit TLS, certificate valid for 127.0.0.1")
		wantStep(t, res, StepEPSVList, StepPass)
	})

	t.Run("spec without tls, server requires it", func(t *testing.T) {
		cert, _ := selfSignedCert(t, "127.0.0.1")
		engine, addr := support.StartEngineWith(t, func(s *ftpd.Server) {
			s.TLSConfig = cert.ServerConfig()
			s.TLSMode = ftpd.TLSRequired
		})
		server(t, c, ns, "plainspec", support.EnginePassword, addr, engine.PassivePorts.Start)
		res, _, _ := checkCLI(t, c, ns, "plainspec", "")
		wantStep(t, res, StepLogin, StepFail, "530", "the server requires TLS before login but spec.tls is not set")
	})

	t.Run("unknown authority", func(t *testing.T) {
		cert, _ := selfSignedCert(t, "127.0.0.1")
		tlsServer(t, c, ns, "unknownca", cert)
		res, _, _ := checkCLI(t, c, ns, "unknownca", "")
		wantStep(t, res, StepTLS, StepFail, "unknown authority", "--certificate-authority")
	})
}
