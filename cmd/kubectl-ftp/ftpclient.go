package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// ftpConn is the small FTP client the check drives: one control connection, replies read with net/textproto,
// every read and write under a deadline.
type ftpConn struct {
	conn    net.Conn
	tp      *textproto.Conn
	timeout time.Duration
	tls     *tls.Config // set after AUTH TLS (or for implicit TLS): data connections are wrapped too
}

// reply is one FTP reply.
type reply struct {
	Code int
	Msg  string
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Msg) }

func dialFTP(addr string, timeout time.Duration, implicit *tls.Config) (*ftpConn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &ftpConn{conn: conn, timeout: timeout}
	if implicit != nil {
		tc := tls.Client(conn, implicit)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			_ = conn.Close()
			return nil, &tlsError{err}
		}
		c.conn, c.tls = tc, implicit
	}
	c.tp = textproto.NewConn(c.conn)
	return c, nil
}

// tlsError marks a failed TLS handshake, so that the check can tell it from a refused connection.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// read reads one (possibly multi-line) reply.
func (c *ftpConn) read() (reply, error) {
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		return reply{}, err
	}
	return reply{code, msg}, nil
}

// cmd sends one command and reads its reply.
func (c *ftpConn) cmd(format string, args ...any) (reply, error) {
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err := c.tp.PrintfLine(format, args...); err != nil {
		return reply{}, err
	}
	return c.read()
}

// startTLS upgrades the control connection after a 234 reply to AUTH TLS.
func (c *ftpConn) startTLS(cfg *tls.Config) error {
	tc := tls.Client(c.conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return &tlsError{err}
	}
	c.conn, c.tls = tc, cfg
	c.tp = textproto.NewConn(tc)
	return nil
}

// openData dials a data connection. With TLS it is wrapped in a client that resumes the control connection's
// session (the shared ClientSessionCache), as servers that require session reuse demand; the handshake runs on
// the first read, after the transfer command was sent.
func (c *ftpConn) openData(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, c.timeout)
	if err != nil {
		return nil, err
	}
	if c.tls != nil {
		return tls.Client(conn, c.tls), nil
	}
	return conn, nil
}

// list sends LIST over an open data connection and returns the listing and the final reply.
func (c *ftpConn) list(data net.Conn) (string, reply, error) {
	defer data.Close()
	r, err := c.cmd("LIST")
	if err != nil {
		return "", r, err
	}
	if r.Code != 150 && r.Code != 125 {
		return "", r, nil
	}
	_ = data.SetDeadline(time.Now().Add(c.timeout))
	b, err := io.ReadAll(io.LimitReader(data, 1<<20))
	if err != nil {
		return string(b), r, fmt.Errorf("reading the listing: %w", err)
	}
	_ = data.Close()
	end, err := c.read()
	return string(b), end, err
}

func (c *ftpConn) close() {
	_ = c.conn.SetDeadline(time.Now().Add(time.Second))
	_, _ = c.cmd("QUIT")
	_ = c.conn.Close()
}

// parsePASV reads the address and port of a 227 reply: "Entering Passive Mode (h1,h2,h3,h4,p1,p2)".
func parsePASV(msg string) (netip.AddrPort, error) {
	open, end := strings.IndexByte(msg, '('), strings.LastIndexByte(msg, ')')
	if open < 0 || end < open {
		return netip.AddrPort{}, fmt.Errorf("no (h1,h2,h3,h4,p1,p2) in %q", msg)
	}
	parts := strings.Split(msg[open+1:end], ",")
	if len(parts) != 6 {
		return netip.AddrPort{}, fmt.Errorf("no (h1,h2,h3,h4,p1,p2) in %q", msg)
	}
	var n [6]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("bad number %q in %q", p, msg)
		}
		n[i] = byte(v)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{n[0], n[1], n[2], n[3]}), uint16(n[4])<<8|uint16(n[5])), nil
}

// parseEPSV reads the port of a 229 reply: "Entering Extended Passive Mode (|||port|)".
func parseEPSV(msg string) (uint16, error) {
	open, end := strings.IndexByte(msg, '('), strings.LastIndexByte(msg, ')')
	if open < 0 || end < open+1 {
		return 0, fmt.Errorf("no (|||port|) in %q", msg)
	}
	inner := msg[open+1 : end]
	if len(inner) < 5 {
		return 0, fmt.Errorf("no (|||port|) in %q", msg)
	}
	d := inner[:1]
	f := strings.Split(inner, d)
	if len(f) != 5 {
		return 0, fmt.Errorf("no (|||port|) in %q", msg)
	}
	p, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("bad port in %q", msg)
	}
	return uint16(p), nil
}
