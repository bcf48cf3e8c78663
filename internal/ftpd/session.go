package ftpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxDiscard bounds how many bytes of an over-long line are skipped
	// before the connection is closed.
	maxDiscard = 1 << 20
	// tmpPrefix marks in-progress uploads; such names are hidden from
	// listings and refused as client file names.
	tmpPrefix = ".ftpd-upload-"
	// tmpSuffix ends every temporary upload name: tmpPrefix + 16 hex digits + tmpSuffix.
	tmpSuffix = ".part"
)

type session struct {
	srv      *Server
	raw      net.Conn // the TCP (or PROXY) connection
	conn     net.Conn // raw or TLS over raw
	r        *bufio.Reader
	wmu      sync.Mutex
	clientIP netip.Addr
	localIP  netip.Addr
	log      loggerFunc

	// State below is owned by the command loop goroutine.
	controlTLS  bool
	tls         *tlsBinding // set with controlTLS
	pbsz        bool
	protP       bool
	pendingUser string
	user        *User
	st          Storage
	cwd         string
	ascii       bool
	rest        int64
	renameFrom  string
	pending     *pendingData
	active      netip.AddrPort
	epsvAll     bool
	partial     []byte
	failedLogin int

	xfer        *transfer
	busy        atomic.Bool // a transfer is running
	controlGone atomic.Bool
	closed      atomic.Bool
}

type loggerFunc func(msg string, args ...any)

// newSession starts a session on c; tb is the TLS binding of an implicit TLS connection (nil for plain).
func newSession(s *Server, c net.Conn, tb *tlsBinding) *session {
	implicit := tb != nil
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	ss := &session{
		srv:        s,
		raw:        raw,
		conn:       c,
		r:          bufio.NewReaderSize(c, 512), // most command lines fit; longer ones go through partial (readLine)
		clientIP:   remoteIP(c),
		localIP:    localIP(c),
		controlTLS: implicit,
		tls:        tb,
		protP:      implicit,
		pbsz:       implicit,
		cwd:        "/",
	}
	lg := s.logger().With("remote", c.RemoteAddr().String())
	ss.log = lg.Debug
	return ss
}

func (ss *session) reply(code int, msg string) {
	ss.srv.Metrics.reply(code)
	ss.write(strconv.Itoa(code) + " " + msg + "\r\n")
}

// replyLines sends a multi-line reply: first line, body lines (prefixed by a
// space), last line.
func (ss *session) replyLines(code int, first string, body []string, last string) {
	ss.srv.Metrics.reply(code)
	var b strings.Builder
	c := strconv.Itoa(code)
	b.WriteString(c + "-" + first + "\r\n")
	for _, l := range body {
		b.WriteString(" " + l + "\r\n")
	}
	b.WriteString(c + " " + last + "\r\n")
	ss.write(b.String())
}

func (ss *session) replyErr(err error, def int) {
	code, msg := replyFor(err, def)
	ss.reply(code, msg)
}

func (ss *session) write(s string) {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := ss.conn.Write([]byte(s)); err != nil {
		ss.controlGone.Store(true)
	}
}

// wakeIfIdle makes an idle command loop notice a shutdown.
func (ss *session) wakeIfIdle() {
	if !ss.busy.Load() {
		_ = ss.raw.SetReadDeadline(time.Now())
	}
}

func (ss *session) kill() {
	ss.closed.Store(true)
	ss.raw.Close()
}

func (ss *session) serve() {
	defer ss.cleanup()
	banner := ss.srv.Banner
	if banner == "" {
		banner = "FTP server ready."
	}
	ss.reply(220, banner)
	var loginBy time.Time // zero: no login deadline
	if d := ss.srv.LoginTimeout; d >= 0 {
		loginBy = time.Now().Add(ss.srv.loginTimeout())
	}
	for {
		if ss.srv.inShutdown.Load() && ss.xfer == nil {
			ss.reply(421, "Server shutting down.")
			return
		}
		deadline := time.Now().Add(ss.srv.idleTimeout())
		if ss.user == nil && !loginBy.IsZero() && loginBy.Before(deadline) {
			deadline = loginBy
		}
		_ = ss.conn.SetReadDeadline(deadline)
		line, err := ss.readLine()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, errLineTooLong):
				ss.reply(500, "Command line too long.")
				continue
			case errors.As(err, &ne) && ne.Timeout() && !ss.closed.Load():
				if ss.xfer != nil && !ss.xfer.finished() {
					continue // control is quiet during a transfer
				}
				if ss.xfer != nil {
					ss.endTransfer()
				}
				if ss.srv.inShutdown.Load() {
					continue // top of loop says goodbye
				}
				if ss.user == nil && !loginBy.IsZero() && !time.Now().Before(loginBy) {
					ss.srv.Metrics.rejected("login_timeout")
					ss.reply(421, "Login timeout, closing control connection.")
					return
				}
				ss.reply(421, "Idle timeout, closing control connection.")
				return
			default:
				ss.controlGone.Store(true)
				return
			}
		}
		if done := ss.dispatch(line); done {
			return
		}
	}
}

func (ss *session) cleanup() {
	ss.controlGone.Store(true)
	if ss.xfer != nil {
		ss.xfer.cancel()
		<-ss.xfer.done
		ss.xfer = nil
	}
	if ss.pending != nil {
		ss.pending.Release()
		ss.pending = nil
	}
	if ss.st != nil {
		ss.st.Close()
	}
	if tc, ok := ss.conn.(*tls.Conn); ok {
		_ = tc.SetWriteDeadline(time.Now().Add(time.Second))
		_ = tc.Close()
	}
}

// readLine reads one command line, bounded by MaxLineLength. An over-long
// line is discarded (up to maxDiscard bytes, then the connection is closed)
// and reported as errLineTooLong.
func (ss *session) readLine() (string, error) {
	limit := ss.srv.MaxLineLength
	if limit <= 0 {
		limit = 4096
	}
	discarded := 0
	for {
		chunk, err := ss.r.ReadSlice('\n')
		if discarded > 0 || len(ss.partial)+len(chunk) > limit {
			discarded += len(ss.partial) + len(chunk)
			ss.partial = ss.partial[:0]
			if discarded > maxDiscard {
				return "", fmt.Errorf("discarding over-long line: %w", net.ErrClosed)
			}
			if err == nil {
				return "", errLineTooLong
			}
		} else {
			ss.partial = append(ss.partial, chunk...)
		}
		switch {
		case err == nil:
			line := string(ss.partial)
			ss.partial = ss.partial[:0]
			if cap(ss.partial) > 4096 {
				ss.partial = nil // keep idle sessions small
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return "", err
		}
	}
}

// dispatch runs one command; it reports whether the session ends.
func (ss *session) dispatch(line string) bool {
	cmd, err := ParseCommand(line)
	if err != nil {
		ss.reply(500, "Syntax error, command unrecognized.")
		return false
	}
	if cmd.Verb != "PASS" {
		ss.log("command", "verb", cmd.Verb, "arg", cmd.Arg)
	} else {
		ss.log("command", "verb", cmd.Verb) // never log passwords
	}
	if ss.xfer != nil {
		switch cmd.Verb {
		case "ABOR":
			ss.xfer.cancel()
			ss.endTransfer()
			ss.reply(226, "ABOR command successful.")
			return false
		case "STAT":
			ss.reply(213, "Transfer in progress.")
			return false
		case "NOOP":
			if !ss.xfer.finished() {
				ss.reply(200, "NOOP ok.")
				return false
			}
		}
		ss.endTransfer() // serialize: wait for the running transfer
	}
	def, ok := commands[cmd.Verb]
	if !ok {
		ss.reply(502, "Command not implemented.")
		return false
	}
	if def.needsAuth && ss.user == nil {
		ss.reply(530, "Please login with USER and PASS.")
		return false
	}
	if def.needsArg && strings.TrimSpace(cmd.Arg) == "" {
		ss.reply(501, "Syntax error in parameters or arguments.")
		return false
	}
	if cmd.Verb != "RNTO" {
		ss.renameFrom = ""
	}
	if def.opensData {
		if ss.pending != nil && ss.pending.Expired() {
			ss.pending = nil
			ss.replyErr(errPassiveExpired, 425)
			return false
		}
		if ss.pending == nil && !ss.active.IsValid() {
			ss.reply(425, "Use PORT, EPRT, PASV or EPSV first.")
			return false
		}
		if ss.needProt() {
			ss.reply(521, "Data connections must be encrypted (PROT P).")
			ss.dropData()
			return false
		}
	}
	return def.handle(ss, cmd.Arg)
}

func (ss *session) needProt() bool {
	m := ss.srv.tlsMode()
	return (m == TLSRequired || m == TLSImplicit) && !ss.protP
}

// endTransfer waits for the running transfer and forgets it.
func (ss *session) endTransfer() {
	if ss.xfer == nil {
		return
	}
	<-ss.xfer.done
	ss.xfer = nil
	ss.busy.Store(false)
}

// resolve maps a client path to a virtual absolute path and a FileSystem name.
func (ss *session) resolve(arg string) (vpath, name string, err error) {
	p := arg
	if !strings.HasPrefix(p, "/") {
		p = path.Join(ss.cwd, p)
	}
	p = path.Clean("/" + p)
	if strings.HasPrefix(path.Base(p), tmpPrefix) {
		return "", "", errInvalidName
	}
	name = strings.TrimPrefix(p, "/")
	if name == "" {
		name = "."
	}
	return p, name, nil
}

// dropData forgets a prepared data channel.
func (ss *session) dropData() {
	if ss.pending != nil {
		ss.pending.Release()
		ss.pending = nil
	}
	ss.active = netip.AddrPort{}
}

// dataChannel is a prepared data connection, moved into a transfer.
type dataChannel struct {
	pending *pendingData
	active  netip.AddrPort
	protP   bool
	tls     *tlsBinding // with protP
}

func (ss *session) takeData() dataChannel {
	dc := dataChannel{pending: ss.pending, active: ss.active, protP: ss.protP, tls: ss.tls}
	ss.pending = nil
	ss.active = netip.AddrPort{}
	return dc
}

// transfer is a running data transfer.
type transfer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (t *transfer) finished() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// startTransfer runs fn in its own goroutine with the prepared data channel
// so that the command loop can still serve ABOR, STAT and QUIT.
func (ss *session) startTransfer(fn func(ctx context.Context, dc dataChannel)) {
	dc := ss.takeData()
	ss.rest = 0
	ctx, cancel := context.WithCancel(context.Background())
	t := &transfer{cancel: cancel, done: make(chan struct{})}
	ss.xfer = t
	ss.busy.Store(true)
	go func() {
		defer ss.busy.Store(false)
		defer close(t.done)
		defer cancel()
		fn(ctx, dc)
	}()
}

// openData establishes the data connection, sends the 150 preliminary reply
// and starts TLS when PROT P is in effect.
func (ss *session) openData(ctx context.Context, dc dataChannel, what string) (net.Conn, error) {
	var c net.Conn
	var err error
	timeout := ss.srv.dataTimeout()
	switch {
	case dc.pending != nil:
		c, err = dc.pending.Accept(ctx, timeout)
	case dc.active.IsValid():
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: ss.localIP.AsSlice()}}
		if ss.localIP.Is4() != dc.active.Addr().Is4() {
			d.LocalAddr = nil
		}
		c, err = d.DialContext(ctx, "tcp", dc.active.String())
		if err != nil {
			err = &ReplyError{Code: 425, Msg: "Can't open data connection."}
		}
	default:
		err = &ReplyError{Code: 425, Msg: "Use PORT, EPRT, PASV or EPSV first."}
	}
	if err != nil {
		return nil, err
	}
	mode := "BINARY"
	if ss.ascii {
		mode = "ASCII"
	}
	ss.reply(150, fmt.Sprintf("Opening %s mode data connection for %s.", mode, what))
	if dc.protP {
		tc := tls.Server(c, dc.tls.data)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, &ReplyError{Code: 425, Msg: "TLS handshake on data connection failed."}
		}
		if err := dc.tls.checkData(tc); err != nil {
			// Neither read from nor written to: a connection that raced for the port gets nothing and gives nothing.
			ss.srv.Metrics.dataRefused()
			ss.srv.logger().Warn("refused data connection", "remote", c.RemoteAddr().String(), "err", err)
			_ = tc.SetWriteDeadline(time.Now().Add(time.Second))
			tc.Close()
			return nil, err
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	return c, nil
}
