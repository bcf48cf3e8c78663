package ftpd

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"errors"
)

// TLS session reuse on the data channel (vsftpd's require_ssl_reuse).
//
// Without it, a PROT P data connection proves nothing about who opened it: anyone who reaches the passive port
// first from the client's address completes a fresh TLS handshake and receives the RETR data or supplies the STOR
// data. With it, every session ticket issued on an FTP session's connections carries an unguessable token of that
// session (in SessionState.Extra, inside the ticket that only the server can decrypt), and a data connection is
// accepted only if it resumed a ticket carrying its own session's token. Only the client that holds the control
// connection's TLS secrets has such a ticket.
//
// Both TLS versions work: in TLS 1.2 the ticket comes with the control handshake; in TLS 1.3 it arrives after the
// handshake, which the client reads with its first reply (to USER, long before any data connection). Tickets the
// server issues on data connections carry the same token, so a client that caches the newest ticket keeps
// resuming.

// ticketBindingPrefix starts the SessionState.Extra entry that binds a ticket to one FTP session. Other entries in
// Extra (from other layers) are kept.
const ticketBindingPrefix = "ftpd-ftp-session/v1:"

// errTLSSessionNotReused: a PROT P data connection did a full handshake or resumed another session's ticket.
var errTLSSessionNotReused = errors.New("data connection did not resume the control connection's TLS session")

// tlsBinding holds the TLS configs of one FTP session: control for AUTH TLS or implicit TLS, data for PROT P
// data connections. require says whether data connections must resume a ticket of this session.
type tlsBinding struct {
	control, data *tls.Config
	require       bool
}

// requireSessionReuse reports whether PROT P data connections must resume their control session.
func (s *Server) requireSessionReuse() bool { return s.TLSConfig != nil && !s.TLSSessionReuseOptional }

// validateSessionReuse refuses TLS configs that would silently defeat the requirement: tickets disabled (no data
// connection could ever resume) or callbacks the engine must own.
func (s *Server) validateSessionReuse() error {
	if !s.requireSessionReuse() {
		return nil
	}
	c := s.TLSConfig
	switch {
	case c.SessionTicketsDisabled:
		return errors.New("ftpd: TLS session reuse is required but TLSConfig.SessionTicketsDisabled is set " +
			"(set TLSSessionReuseOptional, or enable tickets)")
	case c.WrapSession != nil || c.UnwrapSession != nil:
		return errors.New("ftpd: TLS session reuse is required: TLSConfig.WrapSession/UnwrapSession are owned by the engine")
	case c.GetConfigForClient != nil:
		return errors.New("ftpd: TLS session reuse is required: TLSConfig.GetConfigForClient is not supported with it")
	}
	return nil
}

// newTLSBinding returns the TLS configs for a new FTP session.
func (s *Server) newTLSBinding() *tlsBinding {
	base := s.TLSConfig
	if !s.requireSessionReuse() {
		return &tlsBinding{control: base, data: base}
	}
	var token [16]byte
	_, _ = rand.Read(token[:]) // never fails (crypto/rand.Read panics instead of returning an error)
	entry := append([]byte(ticketBindingPrefix), token[:]...)

	// Tickets are sealed with base's keys (rotated by crypto/tls), not the clones' own: a ticket issued on the
	// control connection must open on the data connection.
	wrap := func(cs tls.ConnectionState, st *tls.SessionState) ([]byte, error) {
		st.Extra = append(withoutBinding(st.Extra), entry)
		return base.EncryptTicket(cs, st)
	}
	control := base.Clone()
	control.WrapSession = wrap
	control.UnwrapSession = base.DecryptTicket // a control connection may resume anything we issued
	data := base.Clone()
	data.WrapSession = wrap
	data.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		st, err := base.DecryptTicket(identity, cs)
		if err != nil || st == nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(bindingOf(st.Extra), entry) != 1 {
			return nil, nil // another session's ticket: not resumed, so the connection is refused after the handshake
		}
		return st, nil
	}
	return &tlsBinding{control: control, data: data, require: true}
}

// checkData refuses a finished data handshake that did not resume this session's ticket. The data config's
// UnwrapSession resumes only tickets with this session's token, so DidResume is the whole proof.
func (b *tlsBinding) checkData(tc *tls.Conn) error {
	if b.require && !tc.ConnectionState().DidResume {
		return errTLSSessionNotReused
	}
	return nil
}

func bindingOf(extra [][]byte) []byte {
	for _, e := range extra {
		if bytes.HasPrefix(e, []byte(ticketBindingPrefix)) {
			return e
		}
	}
	return nil
}

func withoutBinding(extra [][]byte) [][]byte {
	out := extra[:0:0]
	for _, e := range extra {
		if !bytes.HasPrefix(e, []byte(ticketBindingPrefix)) {
			out = append(out, e)
		}
	}
	return out
}
