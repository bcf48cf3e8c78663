package ftpd

import (
	"context"
	"io"
	"net"
	"time"
)

// ConnReader is an optional extension of the reader Storage.OpenRead returns: a body whose bytes, after a few
// already buffered ones, come straight from a plain TCP connection (s3store's GET on a plain-http endpoint).
// RETR into a plain data connection, in binary mode and without a rate limit, splices them socket to socket
// instead of copying them through user space. Closing the reader closes that connection.
type ConnReader interface {
	io.ReadCloser
	// ConnBody hands the body over: the bytes already read past the response's header, the connection, and
	// how many bytes are left to read from it after them. Read must not be used afterwards.
	ConnBody() (buffered []byte, conn *net.TCPConn, remaining int64)
}

// copyConnBody copies cr's body into the plain data connection c, the bulk by splice(2) (copyZero); ctx's end
// closes both connections. A body that ends before its length is an error, never a complete transfer.
func copyConnBody(ctx context.Context, c net.Conn, cr ConnReader, timeout time.Duration) (int64, error) {
	buffered, sc, left := cr.ConnBody()
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	n, err := c.Write(buffered)
	if err != nil {
		if ctx.Err() != nil {
			err = errTransferAbort
		}
		return int64(n), err
	}
	lr := &io.LimitedReader{R: sc, N: left}
	m, err := copyZero(ctx, c, lr, connPair{c, sc}, timeout)
	if err == nil && lr.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return int64(n) + m, err
}

// connPair sets the deadlines of both ends of a splice.
type connPair [2]net.Conn

func (p connPair) SetDeadline(t time.Time) error {
	_ = p[1].SetDeadline(t)
	return p[0].SetDeadline(t)
}

// copyChunk is io.CopyN, except that an *io.LimitedReader src is limited by a copy of itself rather than wrapped
// in a second one: the kernel splices from a LimitedReader around a TCP connection, not from two.
func copyChunk(dst io.Writer, src io.Reader, size int64) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		return io.CopyN(dst, src, size)
	}
	if lr.N <= 0 {
		return 0, io.EOF
	}
	n, err := io.Copy(dst, &io.LimitedReader{R: lr.R, N: min(size, lr.N)})
	lr.N -= n
	if err == nil && n < size {
		err = io.EOF
	}
	return n, err
}

func isConnReader(r io.Reader) bool {
	_, ok := r.(ConnReader)
	return ok
}
