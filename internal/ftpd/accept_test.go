package ftpd

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails its first Accepts as a process out of file descriptors does.
type emfileListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestServeSurvivesEMFILE: running out of file descriptors must not end Serve (and with it every session);
// like net/http, the server backs off and accepts again.
func TestServeSurvivesEMFILE(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	el := &emfileListener{Listener: l}
	el.fails.Store(3)
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(el) }()
	r := dialRaw(t, l.Addr().String(), "")
	r.login("acme", "secret")
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v after EMFILE", err)
	case <-time.After(10 * time.Millisecond):
	}
}
