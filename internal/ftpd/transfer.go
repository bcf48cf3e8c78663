package ftpd

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Data-connection timeouts bound stalls, not whole transfers. Buffered
// copies go through idleConn, which refreshes the deadline on every read and
// write. Zero-copy copies (sendfile/splice) run in chunks with a deadline per
// chunk; the chunk size adapts to the measured speed (about a quarter of the
// timeout's worth, at most doubling per step) and each chunk's deadline also
// allows for a 64 KiB/s floor, so slow but progressing clients are not cut.
const (
	minChunk   = 64 << 10
	maxChunk   = 4 << 20
	firstChunk = 256 << 10
	floorRate  = 64 << 10 // bytes/s
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writerOnly hides io.ReaderFrom so that io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

// idleConn refreshes the deadline before every read and write.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// isFile reports whether r is a file, which the kernel can sendfile from; any other reader (an object storage
// GET) is copied through a pooled 256 KiB buffer, not io.Copy's 32 KiB.
func isFile(r io.Reader) bool {
	_, ok := r.(*os.File)
	return ok
}

// plainConn reports whether c is a plain TCP connection (possibly behind a
// PROXY header), i.e. one the kernel can sendfile/splice into.
func plainConn(c net.Conn) bool {
	switch c.(type) {
	case *net.TCPConn:
		return true
	case interface{ TCPConn() (*net.TCPConn, bool) }:
		return true
	}
	return false
}

// copyBuffered copies with a pooled 256 KiB buffer; deadlines are the
// caller's business (use idleConn).
func copyBuffered(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(writerOnly{dst}, src, *bp)
	if err != nil && ctx.Err() != nil {
		err = errTransferAbort
	}
	return n, err
}

// copyZero copies src to dst (one of them the plain data connection c) with
// io.Copy so that the kernel's sendfile/splice is used, until EOF of src.
func copyZero(ctx context.Context, dst io.Writer, src io.Reader, c interface{ SetDeadline(time.Time) error }, timeout time.Duration) (int64, error) {
	var total int64
	size := int64(firstChunk)
	for {
		if err := ctx.Err(); err != nil {
			return total, errTransferAbort
		}
		start := time.Now()
		allow := timeout + time.Duration(float64(size)/floorRate*float64(time.Second))
		_ = c.SetDeadline(start.Add(allow))
		n, err := copyChunk(dst, src, size)
		total += n
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return total, errTransferAbort
			}
			return total, err
		}
		next := int64(maxChunk)
		if el := time.Since(start).Seconds(); el > 0 {
			next = int64(float64(n) / el * timeout.Seconds() / 4)
		}
		size = min(max(next, minChunk), 2*size, maxChunk)
	}
}

// rateReader limits reads to a token bucket (per data connection).
type rateReader struct {
	r   io.Reader
	lim *rate.Limiter
	ctx context.Context
}

func (rr *rateReader) Read(p []byte) (int, error) {
	if len(p) > rr.lim.Burst() {
		p = p[:rr.lim.Burst()]
	}
	n, err := rr.r.Read(p)
	if n > 0 {
		if werr := rr.lim.WaitN(rr.ctx, n); werr != nil && err == nil {
			err = errTransferAbort
		}
	}
	return n, err
}

func (ss *session) limit(ctx context.Context, r io.Reader) (io.Reader, bool) {
	bps := ss.srv.BandwidthLimit
	if bps <= 0 {
		return r, true
	}
	burst := int(min(bps, 256<<10))
	return &rateReader{r: r, lim: rate.NewLimiter(rate.Limit(bps), burst), ctx: ctx}, false
}

// asciiWriter converts LF to CRLF (ASCII mode downloads).
type asciiWriter struct{ w *bufio.Writer }

func (a asciiWriter) Write(p []byte) (int, error) {
	for i, c := range p {
		if c == '\n' {
			if err := a.w.WriteByte('\r'); err != nil {
				return i, err
			}
		}
		if err := a.w.WriteByte(c); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// asciiReader converts CRLF to LF (ASCII mode uploads).
type asciiReader struct {
	r       io.Reader
	pending bool // a CR was held back at the end of the previous read
}

func (a *asciiReader) Read(p []byte) (int, error) {
	if len(p) < 2 {
		p = p[:0:0]
		return 0, io.ErrShortBuffer
	}
	off := 0
	if a.pending {
		p[0] = '\r'
		off = 1
	}
	n, err := a.r.Read(p[off:])
	n += off
	a.pending = false
	out := 0
	for i := 0; i < n; i++ {
		if p[i] == '\r' {
			if i+1 == n {
				if err == nil {
					a.pending = true
					break
				}
			} else if p[i+1] == '\n' {
				continue
			}
		}
		p[out] = p[i]
		out++
	}
	if out == 0 && err == nil && a.pending {
		return a.Read(p)
	}
	return out, err
}

func (ss *session) finishTransfer(c net.Conn, err error, okMsg string) {
	if c != nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if cerr := c.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("closing data connection: %w", cerr)
		}
	}
	if err != nil {
		ss.replyErr(err, 451)
		return
	}
	ss.reply(226, okMsg)
}

func (ss *session) cmdRETR(arg string) bool {
	f, fi, err := ss.openFile(arg, ss.rest)
	if err == nil && ss.rest > fi.Size() {
		f.Close()
		err = errRestBeyondEOF
	}
	if err != nil {
		ss.dropData()
		ss.rest = 0
		ss.replyErr(err, 550)
		return false
	}
	ascii := ss.ascii
	vp, _, _ := ss.resolve(arg)
	ss.startTransfer(func(ctx context.Context, dc dataChannel) {
		defer f.Close()
		start := time.Now()
		c, err := ss.openData(ctx, dc, vp)
		var n int64
		if err == nil {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			src, fast := ss.limit(ctx, f)
			ic := idleConn{c, ss.srv.dataTimeout()}
			switch {
			case ascii:
				bw := bufio.NewWriterSize(ic, 64<<10)
				n, err = copyBuffered(ctx, asciiWriter{bw}, src)
				if err == nil {
					err = bw.Flush()
				}
			case fast && plainConn(c) && isFile(src):
				n, err = copyZero(ctx, c, src, c, ss.srv.dataTimeout())
			case fast && plainConn(c) && isConnReader(src):
				n, err = copyConnBody(ctx, c, src.(ConnReader), ss.srv.dataTimeout())
			default:
				n, err = copyBuffered(ctx, ic, src)
			}
			stop()
		}
		ss.srv.Metrics.transfer("out", n, time.Since(start), err)
		ss.logXfer(start, vp, n, ascii, false, err)
		ss.finishTransfer(c, err, "Transfer complete.")
	})
	return false
}

func (ss *session) cmdSTOR(arg string) bool {
	return ss.store(arg, ss.rest, false)
}

func (ss *session) cmdAPPE(arg string) bool { return ss.store(arg, -1, false) }

func (ss *session) cmdSTOU(arg string) bool {
	var b [6]byte
	_, _ = rand.Read(b[:])
	base := "ftpd." + hex.EncodeToString(b[:])
	if arg = strings.TrimSpace(arg); arg != "" {
		base = path.Base(arg) + "." + hex.EncodeToString(b[:3])
	}
	return ss.store(base, 0, true)
}

// store implements STOR, APPE, STOU and REST+STOR without ever exposing a
// partial upload: the storage's Upload is committed only after the transfer
// completed and the control connection is still alive (see
// fsUpload.Commit for the local backend), under a per-name lock.
//
// A user without modify rights (WriteOnly) can only ever create new names:
// REST n (n > 0) + STOR and APPE onto an existing file are refused, and a
// name that appears during the transfer is not replaced.
func (ss *session) store(arg string, prefix int64, unique bool) bool {
	fail := func(err error) bool {
		ss.dropData()
		ss.rest = 0
		ss.replyErr(err, 550)
		return false
	}
	if !ss.user.Access.canWrite() {
		return fail(ErrPermission)
	}
	vp, name, err := ss.resolve(arg)
	if err != nil {
		return fail(err)
	}
	if name == "." {
		return fail(errNotFile)
	}
	noClobber := unique || !ss.user.Access.canModify()
	replacing := false // a plain STOR over an existing file: commits by renaming over it
	if fi, err := ss.st.Stat(name); err == nil {
		replacing = prefix == 0 && !noClobber
		switch {
		case !fi.Mode().IsRegular():
			return fail(errNotFile)
		case unique:
			return fail(fs.ErrExist)
		case noClobber:
			return fail(errNoOverwrite) // WriteOnly may not change existing data
		case prefix > fi.Size():
			return fail(errRestBeyondEOF)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	} else if prefix > 0 {
		return fail(errRestBeyondEOF)
	}
	up, err := ss.st.CreateUpload(name, UploadOptions{Offset: prefix, NoClobber: noClobber, Sync: ss.srv.SyncUploads})
	if err != nil {
		return fail(err)
	}
	ascii := ss.ascii
	ss.startTransfer(func(ctx context.Context, dc dataChannel) {
		start := time.Now()
		c, err := ss.openData(ctx, dc, vp)
		var n int64
		var of *os.File // the temporary file, when the upload writes one on disk
		if err == nil {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			var src io.Reader = idleConn{c, ss.srv.dataTimeout()}
			if ascii {
				src = &asciiReader{r: src}
			}
			src, fast := ss.limit(ctx, src)
			if zc, ok := up.(zeroCopyUpload); ok {
				of = zc.osFile()
			}
			if fast && !ascii && of != nil && plainConn(c) {
				n, err = copyZero(ctx, of, c, c, ss.srv.dataTimeout())
			} else {
				n, err = copyBuffered(ctx, up, src)
			}
			stop()
		}
		var written <-chan struct{}
		if err == nil && replacing && of != nil {
			written = startWriteback(of) // overlaps the rename's block allocation with the grace below
		}
		if err == nil && (ss.controlGone.Load() || peerClosed(ss.raw, ss.srv.uploadCloseGrace(time.Since(start)))) {
			err = errControlGone
		}
		if written != nil {
			<-written
		}
		if err == nil {
			err = ss.commit(up, name, noClobber && !unique)
		}
		_ = up.Abort() // nothing left after a commit
		ss.srv.Metrics.transfer("in", n, time.Since(start), err)
		ss.logXfer(start, vp, n, ascii, true, err)
		msg := "Transfer complete."
		if unique {
			msg = "Transfer complete (unique file name: " + path.Base(name) + ")."
		}
		ss.finishTransfer(c, err, msg)
	})
	return false
}

// commit commits a finished upload under a per-name lock (so concurrent
// APPE and REST+STOR of one name lose no update). A name that appeared
// during the upload of a user who may not replace files is refused with
// errNoOverwrite.
func (ss *session) commit(up Upload, name string, refuseExisting bool) error {
	unlock := ss.srv.names.lock(path.Join(ss.user.Home, name))
	defer unlock()
	err := up.Commit()
	if refuseExisting && errors.Is(err, fs.ErrExist) {
		return errNoOverwrite
	}
	return err
}

// logXfer writes the transfer record: a wu-ftpd xferlog line (when configured) and a "transfer" log line whose
// fields docs/logging.md lists: remote (the client's IP), user, file, bytes, direction (upload, download), result
// (ok, failed, aborted: the labels of ftpd_transfer_duration_seconds), durationSeconds, and error when it failed.
func (ss *session) logXfer(start time.Time, name string, n int64, ascii, upload bool, err error) {
	u := ss.user
	ok := err == nil
	ss.srv.xfer.log(xferRecord{start: start, remote: ss.clientIP.String(), size: n, name: name, ascii: ascii,
		upload: upload, user: u.Name, anon: u.Name == "anonymous" || u.Name == "ftp", complete: ok})
	direction := "download"
	if upload {
		direction = "upload"
	}
	attrs := []any{"remote", ss.clientIP.String(), "user", u.Name, "file", name, "bytes", n, "direction", direction,
		"upload", upload, "ok", ok, "result", transferResult(err), "durationSeconds", time.Since(start).Seconds()}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	ss.srv.logger().Info("transfer", attrs...)
}

func (ss *session) cmdHASH(arg string) bool {
	f, fi, err := ss.openFile(arg, 0)
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		ss.replyErr(err, 451)
		return false
	}
	ss.reply(213, fmt.Sprintf("SHA-256 0-%d %s %s", fi.Size(), hex.EncodeToString(h.Sum(nil)), arg))
	return false
}

// listArg drops ls-style options ("-la") that clients send with LIST.
func listArg(arg string) string {
	arg = strings.TrimSpace(arg)
	for strings.HasPrefix(arg, "-") {
		opt, rest, _ := strings.Cut(arg, " ")
		if strings.ContainsAny(opt, "/") {
			break
		}
		arg = strings.TrimSpace(rest)
	}
	return arg
}

type lineFormat func(ss *session, fi fs.FileInfo, name string, now time.Time) string

func formatLIST(_ *session, fi fs.FileInfo, name string, now time.Time) string {
	mode := fi.Mode()
	perm := []byte("-rwxrwxrwx")
	if mode.IsDir() {
		perm[0] = 'd'
	} else if mode&fs.ModeSymlink != 0 {
		perm[0] = 'l'
	}
	for i := 0; i < 9; i++ {
		if mode.Perm()&(1<<uint(8-i)) == 0 {
			perm[i+1] = '-'
		}
	}
	t := fi.ModTime()
	var ts string
	if now.Sub(t) < 180*24*time.Hour && t.Sub(now) < 24*time.Hour {
		ts = t.Format("Jan _2 15:04")
	} else {
		ts = t.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s 1 ftp ftp %12d %s %s", perm, fi.Size(), ts, name)
}

func formatNLST(_ *session, _ fs.FileInfo, name string, _ time.Time) string { return name }

func formatMLSD(ss *session, fi fs.FileInfo, name string, _ time.Time) string {
	return ss.mlsxFacts(fi) + " " + name
}

func (ss *session) mlsxFacts(fi fs.FileInfo) string {
	a := ss.user.Access
	var typ, perm string
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		// Only links the user cannot follow get here (listLines shows
		// followable ones as their target): outside the home, or dangling.
		// RETR and CWD refuse them, so offer no r/e; the link itself can
		// still be deleted or renamed.
		typ = "OS.unix=symlink"
		if a.canModify() {
			perm += "df"
		}
	case fi.IsDir():
		typ = "dir"
		if a.canRead() {
			perm += "el"
		} else {
			perm += "e"
		}
		if a.canWrite() {
			perm += "cm"
		}
		if a.canModify() {
			perm += "dfp"
		}
	default:
		typ = "file"
		if a.canRead() {
			perm += "r"
		}
		if a.canWrite() {
			perm += "aw"
		}
		if a.canModify() {
			perm += "df"
		}
	}
	return fmt.Sprintf("type=%s;size=%d;modify=%s;perm=%s;unix.mode=0%o;", typ, fi.Size(),
		fi.ModTime().UTC().Format(mdtmLayout), perm, fi.Mode().Perm())
}

// listing is a prepared LIST, NLST, MLSD or STAT: a single file, or an open
// directory whose entries are streamed.
type listing struct {
	ss      *session
	format  lineFormat
	single  fs.FileInfo // a file: its line only
	dir     DirLister
	pattern string // glob on the entries' names ("NLST *.txt")
}

// openListing resolves arg and opens its listing; errors come before any data moves.
func (ss *session) openListing(arg string, format lineFormat) (*listing, error) {
	_, name, err := ss.resolve(arg)
	if err != nil {
		return nil, err
	}
	fi, err := ss.st.Stat(name)
	pattern := ""
	if errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(path.Base(name), "*?[") {
		// "NLST *.txt": glob on the last element only.
		pattern, name = path.Base(name), path.Dir(name)
		fi, err = ss.st.Stat(name)
	}
	if err != nil {
		return nil, err
	}
	l := &listing{ss: ss, format: format, pattern: pattern}
	if !fi.IsDir() {
		l.single = renamedInfo{fi, path.Base(name)}
		return l, nil
	}
	if l.dir, err = ss.st.OpenList(name); err != nil {
		return nil, err
	}
	return l, nil
}

// each calls fn with every line, batch by batch, and closes the listing.
func (l *listing) each(fn func(line string) error) error {
	now := time.Now()
	if l.single != nil {
		return fn(l.format(l.ss, l.single, l.single.Name(), now))
	}
	defer l.dir.Close()
	for {
		batch, err := l.dir.Next()
		for _, info := range batch {
			if strings.HasPrefix(info.Name(), tmpPrefix) {
				continue
			}
			if l.pattern != "" {
				if ok, _ := path.Match(l.pattern, info.Name()); !ok {
					continue
				}
			}
			if ferr := fn(l.format(l.ss, info, info.Name(), now)); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// close releases a listing that is not going to be sent.
func (l *listing) close() {
	if l.dir != nil {
		l.dir.Close()
	}
}

// listLines lists a directory (or a single file) in the given format, all
// lines in memory (STAT's reply).
func (ss *session) listLines(arg string, format lineFormat) ([]string, error) {
	l, err := ss.openListing(arg, format)
	if err != nil {
		return nil, err
	}
	var lines []string
	err = l.each(func(line string) error { lines = append(lines, line); return nil })
	return lines, err
}

func (ss *session) list(arg string, format lineFormat) bool {
	if !ss.user.Access.canRead() {
		ss.dropData()
		ss.replyErr(ErrPermission, 550)
		return false
	}
	l, err := ss.openListing(listArg(arg), format)
	if err != nil {
		ss.dropData()
		ss.replyErr(err, 550)
		return false
	}
	ss.startTransfer(func(ctx context.Context, dc dataChannel) {
		c, err := ss.openData(ctx, dc, "file list")
		if err != nil {
			l.close()
		} else {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			bw := bufio.NewWriterSize(idleConn{c, ss.srv.dataTimeout()}, 64<<10)
			err = l.each(func(line string) error {
				_, werr := bw.WriteString(line + "\r\n")
				return werr
			})
			if err == nil {
				err = bw.Flush()
			}
			stop()
			if ctx.Err() != nil {
				err = errTransferAbort
			}
		}
		ss.finishTransfer(c, err, "Directory send OK.")
	})
	return false
}

func (ss *session) cmdLIST(arg string) bool { return ss.list(arg, formatLIST) }
func (ss *session) cmdNLST(arg string) bool { return ss.list(arg, formatNLST) }
func (ss *session) cmdMLSD(arg string) bool { return ss.list(arg, formatMLSD) }
