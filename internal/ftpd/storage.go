package ftpd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Storage is a user's files as sessions use them: the operations FTP needs,
// no more. Names are slash-separated, cleaned and relative to the user's home
// ("." is the home itself); implementations must still refuse names that
// escape the home. Errors are mapped to FTP replies: fs.ErrNotExist,
// fs.ErrExist, fs.ErrPermission, syscall.ENOTEMPTY, syscall.ENOSPC, and a
// *ReplyError for an exact reply (for example an operation a backend cannot
// do, such as renaming a directory on object storage).
//
// Two backends ship: the local one over a [FileSystem] (by default [RootFS],
// os.Root per home), used when [Server.Storage] is nil, and an S3 one
// (package internal/ftpd/s3store).
type Storage interface {
	// Stat describes name, following a symbolic link that stays in the home.
	Stat(name string) (fs.FileInfo, error)
	// Lstat describes name itself (a symbolic link as a link).
	Lstat(name string) (fs.FileInfo, error)
	// OpenRead opens the regular file name for reading from offset (REST)
	// and describes it as opened (its size and modification time), so that
	// a backend which learns them from the open itself (S3's GET) needs no
	// second request. An offset at or beyond the size gives an empty reader
	// (the caller compares offset with the size). A name that is not a
	// regular file fails; a backend that cannot tell a directory from a
	// missing file in one request may answer fs.ErrNotExist for both (the
	// session then asks Stat which reply fits). A reader whose dynamic type
	// is *os.File is sent with sendfile(2).
	OpenRead(name string, offset int64) (io.ReadCloser, fs.FileInfo, error)
	// CreateUpload starts an upload to name. Nothing is visible under name
	// until Commit returns nil; Abort leaves no trace. A backend that
	// cannot honour opts (append, restart, no-clobber) refuses here, before
	// any data moves.
	CreateUpload(name string, opts UploadOptions) (Upload, error)
	// OpenList starts listing the directory name. Errors that make the
	// listing impossible (not found, not a directory, denied) come from
	// here; entries then arrive in batches.
	OpenList(name string) (DirLister, error)
	// Mkdir creates the directory name; its parent must exist.
	Mkdir(name string) error
	// Remove deletes the file (or symbolic link) name.
	Remove(name string) error
	// Rmdir deletes the empty directory name.
	Rmdir(name string) error
	// Rename moves oldname to newname, replacing a file there.
	Rename(oldname, newname string) error
	// SetModTime sets the modification time of name (MFMT).
	SetModTime(name string, mtime time.Time) error
	// Close releases the storage of a session that ended.
	Close() error
}

// StorageProvider returns the storage of an authenticated user.
type StorageProvider interface {
	Storage(u *User) (Storage, error)
}

// UploadOptions say how an upload lands on an existing name.
type UploadOptions struct {
	// Offset > 0 keeps the first Offset bytes of the existing file and
	// writes the upload after them (REST n + STOR); Offset < 0 appends
	// (APPE); 0 replaces the file.
	Offset int64
	// NoClobber never replaces an existing name: the commit fails with
	// fs.ErrExist if the name exists by then (STOU, and every upload of a
	// user without modify rights).
	NoClobber bool
	// Sync makes the data durable before the commit (Server.SyncUploads).
	Sync bool
}

// Upload is an upload in progress. The session writes the received bytes,
// then calls Commit (the transfer completed) or Abort (it did not); Abort
// after Commit does nothing.
type Upload interface {
	io.Writer
	Commit() error
	Abort() error
}

// DirLister streams a directory's entries. Next returns the next batch
// (sorted by name within the batch; a backend that reads the whole directory
// at once returns one sorted batch) and io.EOF after the last one. Names are
// base names.
type DirLister interface {
	Next() ([]fs.FileInfo, error)
	Close() error
}

// zeroCopyUpload is implemented by uploads that write to a plain file, which
// the kernel can splice(2) into.
type zeroCopyUpload interface {
	osFile() *os.File
}

// FileSystemStorage serves users' files from a FileSystemProvider: the local
// backend. Uploads go to a hidden temporary file in the target directory and
// are committed by rename(2), or link(2) where nothing may be replaced.
type FileSystemStorage struct {
	FileSystems FileSystemProvider
}

var (
	_ StorageProvider = FileSystemStorage{}
	_ Storage         = (*fsStorage)(nil)
	_ Upload          = (*fsUpload)(nil)
	_ zeroCopyUpload  = (*fsUpload)(nil)
	_ DirLister       = (*fsLister)(nil)
)

// Storage implements StorageProvider.
func (p FileSystemStorage) Storage(u *User) (Storage, error) {
	fsys, err := p.FileSystems.FileSystem(u)
	if err != nil {
		return nil, err
	}
	return &fsStorage{fsys: fsys}, nil
}

type fsStorage struct{ fsys FileSystem }

func (s *fsStorage) Stat(name string) (fs.FileInfo, error)  { return s.fsys.Stat(name) }
func (s *fsStorage) Lstat(name string) (fs.FileInfo, error) { return s.fsys.Lstat(name) }
func (s *fsStorage) Mkdir(name string) error                { return s.fsys.Mkdir(name, 0o755) }
func (s *fsStorage) Remove(name string) error               { return s.fsys.Remove(name) }
func (s *fsStorage) Rmdir(name string) error                { return s.fsys.Remove(name) }
func (s *fsStorage) Rename(o, n string) error               { return s.fsys.Rename(o, n) }
func (s *fsStorage) Close() error                           { return s.fsys.Close() }
func (s *fsStorage) SetModTime(name string, t time.Time) error {
	return s.fsys.Chtimes(name, t, t)
}

// OpenRead looks at name before opening it (a FIFO must never be opened),
// as the session did before OpenRead described the file.
func (s *fsStorage) OpenRead(name string, offset int64) (io.ReadCloser, fs.FileInfo, error) {
	fi, err := s.fsys.Stat(name)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, errNotFile
	}
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return f, fi, nil
}

// OpenList reads the whole directory at once (one sorted batch); symbolic
// links that resolve inside the home are shown as their target.
func (s *fsStorage) OpenList(name string) (DirLister, error) {
	entries, err := s.fsys.ReadDir(name)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	infos := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			// Show what an in-root symlink points to; escaping ones stay links.
			if target, err := s.fsys.Stat(path.Join(name, e.Name())); err == nil {
				info = renamedInfo{target, e.Name()}
			}
		}
		infos = append(infos, info)
	}
	return &fsLister{infos: infos}, nil
}

// renamedInfo is a symbolic link's target described under the link's name.
type renamedInfo struct {
	fs.FileInfo
	name string
}

func (r renamedInfo) Name() string { return r.name }

type fsLister struct {
	infos []fs.FileInfo
	done  bool
}

func (l *fsLister) Next() ([]fs.FileInfo, error) {
	if l.done {
		return nil, io.EOF
	}
	l.done = true
	return l.infos, nil
}

func (l *fsLister) Close() error { return nil }

// CreateUpload opens a hidden temporary file next to name.
func (s *fsStorage) CreateUpload(name string, opts UploadOptions) (Upload, error) {
	tmp := tempName(path.Dir(name))
	f, err := s.fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &fsUpload{fsys: s.fsys, f: f, tmp: tmp, name: name, opts: opts}, nil
}

// tempName is a fresh temporary upload name in dir (tmpPrefix + 16 hex digits + tmpSuffix).
func tempName(dir string) string {
	var rb [8]byte
	_, _ = rand.Read(rb[:])
	return path.Join(dir, tmpPrefix+hex.EncodeToString(rb[:])+tmpSuffix)
}

type fsUpload struct {
	fsys      FileSystem
	f         File
	tmp, name string
	opts      UploadOptions
	closed    bool // f is closed
	finished  bool // committed or aborted: tmp is gone
}

func (u *fsUpload) Write(p []byte) (int, error) { return u.f.Write(p) }

func (u *fsUpload) osFile() *os.File {
	f, _ := u.f.(*os.File)
	return f
}

// Commit makes the temporary file visible under its name:
//   - a replacing STOR: rename(2) over the old file;
//   - NoClobber (STOU, and every upload of a user who may not modify files):
//     link(2), which fails if the name exists — the kernel decides, not an
//     earlier stat;
//   - APPE: link(2) if the name is new, else the received bytes are appended
//     to the existing file (O_APPEND) — a reader may see the append growing,
//     never a truncated file;
//   - REST n + STOR: a second temporary file with the first n bytes of the
//     existing file and the received bytes, renamed over it.
//
// The caller serialises commits to one name.
func (u *fsUpload) Commit() error {
	if u.finished {
		return errors.New("upload already finished")
	}
	var err error
	if u.opts.Sync {
		if sf, ok := u.f.(interface{ Sync() error }); ok {
			err = sf.Sync()
		}
	}
	if err == nil {
		u.closed = true
		if err = u.f.Close(); err == nil {
			err = u.commit()
		}
	}
	_ = u.Abort() // removes tmp (already gone after a commit by rename)
	return err
}

func (u *fsUpload) commit() error {
	fsys, tmp, name := u.fsys, u.tmp, u.name
	switch {
	case u.opts.NoClobber:
		return linkNoClobber(fsys, tmp, name)
	case u.opts.Offset < 0:
		if linkNoClobber(fsys, tmp, name) == nil {
			return nil // a new file
		}
		// It exists (or hard links are not supported here): append.
		return appendTo(fsys, name, tmp)
	case u.opts.Offset > 0:
		return resume(fsys, name, tmp, u.opts.Offset)
	default:
		return renameOver(fsys, tmp, name)
	}
}

// renameOver renames tmp over name. The file it replaces is held open across
// the rename and closed in the background: when the last reference to a
// large file goes, the kernel frees its page cache and blocks right there
// (on ext4 here about 0.1 s per 256 MiB, as long as the upload itself), and
// that must not delay the 226. The open is non-blocking (a FIFO put there
// meanwhile must not hang the session) and may fail (no such file, no read
// permission): then nothing is held.
func renameOver(fsys FileSystem, tmp, name string) error {
	old, _ := fsys.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	err := fsys.Rename(tmp, name)
	if old != nil {
		go func() {
			defer blockingOp()()
			old.Close()
		}()
	}
	return err
}

// Abort closes and removes the temporary file.
func (u *fsUpload) Abort() error {
	if u.finished {
		return nil
	}
	u.finished = true
	if !u.closed {
		u.closed = true
		u.f.Close()
	}
	return u.fsys.Remove(u.tmp)
}

// errNoLink: the FileSystem cannot commit without replacing (no Linker).
var errNoLink = errors.New("file system cannot create a file without replacing an existing one")

// linkNoClobber makes tmp visible as name unless name exists; the kernel's
// link(2) is the arbiter, so no check-then-act race exists.
func linkNoClobber(fsys FileSystem, tmp, name string) error {
	l, ok := fsys.(Linker)
	if !ok {
		return errNoLink
	}
	return l.Link(tmp, name)
}

// appendTo appends the content of tmp to name (O_APPEND); on a failed copy
// the file is cut back to its previous size, so an append is all or nothing
// once it ends.
func appendTo(fsys FileSystem, name, tmp string) error {
	src, err := fsys.Open(tmp)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := fsys.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	fi, err := dst.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotFile
	}
	if err == nil {
		_, err = io.Copy(writerOnly{dst}, src)
		if err != nil {
			if tr, ok := dst.(interface{ Truncate(int64) error }); ok {
				_ = tr.Truncate(fi.Size())
			}
			err = fmt.Errorf("appending to %s: %w", name, err)
		}
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

// resume builds "first n bytes of name + tmp" in a second temporary file and
// renames it over name (REST n + STOR by a user who may modify files).
func resume(fsys FileSystem, name, tmp string, n int64) error {
	tmp2 := tempName(path.Dir(name))
	dst, err := fsys.OpenFile(tmp2, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = copyPrefix(fsys, name, dst, n)
	if err == nil {
		var src File
		if src, err = fsys.Open(tmp); err == nil {
			_, err = io.Copy(writerOnly{dst}, src)
			src.Close()
		}
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp2, name)
	}
	if err != nil {
		_ = fsys.Remove(tmp2)
	}
	return err
}

func copyPrefix(fsys FileSystem, name string, dst File, n int64) error {
	src, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if n > fi.Size() {
		return errRestBeyondEOF
	}
	if _, err = io.CopyN(writerOnly{dst}, src, n); err != nil {
		return fmt.Errorf("copying existing content of %s: %w", name, err)
	}
	return nil
}
