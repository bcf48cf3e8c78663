package ftpd

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftpd: server closed")

// Sentinel errors mapped to FTP replies by replyFor.
var (
	ErrPermission     = errors.New("permission denied")
	ErrNoPassivePorts = errors.New("no passive port available")
	ErrNoAddress      = errors.New("passive address not known yet")
	ErrForeignAddress = errors.New("data address must be the control connection's address")
	ErrPrivilegedPort = errors.New("privileged port refused")
	errInvalidName    = errors.New("invalid file name")
	errNotFile        = errors.New("not a regular file")
	errNotDir         = errors.New("not a directory")
	errTransferAbort  = errors.New("transfer aborted")
	errPassiveExpired = errors.New("passive port expired")
	errControlGone    = errors.New("control connection lost")
	errLineTooLong    = errors.New("command line too long")
	// errNoOverwrite: a user without modify rights tried to change an
	// existing file.
	errNoOverwrite   = &ReplyError{Code: 550, Msg: "File exists; this account may only create new files."}
	errRestBeyondEOF = &ReplyError{Code: 554, Msg: "Restart position beyond end of file."}
)

// ReplyError carries an explicit reply code and text.
type ReplyError struct {
	Code int
	Msg  string
}

func (e *ReplyError) Error() string { return e.Msg }

// replyFor maps an error to an FTP reply. def is the code used for errors
// without a more precise mapping.
func replyFor(err error, def int) (int, string) {
	var re *ReplyError
	switch {
	case errors.As(err, &re):
		return re.Code, re.Msg
	case errors.Is(err, fs.ErrNotExist):
		return 550, "No such file or directory."
	case errors.Is(err, ErrPermission), errors.Is(err, fs.ErrPermission), isEscape(err):
		return 550, "Permission denied."
	case errors.Is(err, fs.ErrExist):
		return 550, "File exists."
	case errors.Is(err, errNotFile):
		return 550, "Not a regular file."
	case errors.Is(err, errNotDir):
		return 550, "Not a directory."
	case errors.Is(err, errInvalidName):
		return 553, "File name not allowed."
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return 552, "Insufficient storage space."
	case errors.Is(err, syscall.ENOTEMPTY):
		return 550, "Directory not empty."
	case errors.Is(err, ErrNoPassivePorts):
		return 425, "No passive port available, try again later."
	case errors.Is(err, errPassiveExpired):
		return 425, "Passive port expired: no data connection within the data timeout; send PASV or EPSV again."
	case errors.Is(err, ErrNoAddress):
		return 425, "Passive address not known yet; use EPSV."
	case errors.Is(err, ErrForeignAddress):
		return 501, "Data connections only to the control connection's address."
	case errors.Is(err, ErrPrivilegedPort):
		return 501, "Privileged ports refused."
	case errors.Is(err, errBadAddress):
		return 501, "Syntax error in host-port argument."
	case errors.Is(err, errTLSSessionNotReused):
		return 522, "Data connection must reuse the control connection's TLS session."
	case errors.Is(err, errUnsupportedProto):
		return 522, "Network protocol not supported, use (1,2)."
	case errors.Is(err, errTransferAbort), errors.Is(err, errControlGone):
		return 426, "Connection closed; transfer aborted."
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return 426, "Data connection failed; transfer aborted."
	}
	return def, "Requested action not taken."
}
