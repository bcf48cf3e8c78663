package ftpd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// File is an open file. *os.File implements it; when the dynamic type is
// *os.File, downloads use sendfile(2) and uploads splice(2).
type File interface {
	io.Reader
	io.Writer
	io.Seeker
	io.Closer
	Stat() (fs.FileInfo, error)
}

// FileSystem is a user's view of their files. Names are slash-separated and
// relative to the user's home ("." is the home itself). Implementations must
// refuse names that escape the home.
type FileSystem interface {
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	Open(name string) (File, error)
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	Mkdir(name string, perm fs.FileMode) error
	Remove(name string) error
	Rename(oldname, newname string) error
	Chtimes(name string, atime, mtime time.Time) error
	Close() error
}

// Linker is an optional FileSystem extension: Link creates newname as a hard
// link and fails (fs.ErrExist) if it exists. Uploads that must not replace an
// existing name — STOU, and every upload of a user without modify rights
// (WriteOnly) — are committed with it, so the kernel, not an earlier stat,
// decides. Without it such uploads are refused, and APPE falls back to
// appending.
type Linker interface {
	Link(oldname, newname string) error
}

// UploadSweeper is an optional FileSystemProvider (or StorageProvider) extension. SweepUploads
// removes the engine's temporary upload files (tmpPrefix + 16 hex digits +
// tmpSuffix, nothing else) last modified before t, which a crash or a kill
// left behind, and returns how many files and bytes it removed. It stops
// early when stop returns true. The server calls it once, in the background,
// when it starts serving; it assumes that no other engine writes to the same
// directory tree.
type UploadSweeper interface {
	SweepUploads(before time.Time, stop func() bool) (files int, bytes int64, err error)
}

// FileSystemProvider returns the file system of an authenticated user.
type FileSystemProvider interface {
	FileSystem(u *User) (FileSystem, error)
}

// RootFS serves every user from Dir/<user.Home> through os.Root, so "..",
// absolute paths and symlinks pointing outside the home are refused by the
// kernel-backed resolver. Homes are created if missing.
type RootFS struct {
	Dir string
}

var (
	_ FileSystemProvider = RootFS{}
	_ UploadSweeper      = RootFS{}
	_ FileSystem         = (*rootFS)(nil)
	_ Linker             = (*rootFS)(nil)
	_ File               = (*os.File)(nil)
)

// FileSystem implements FileSystemProvider.
func (p RootFS) FileSystem(u *User) (FileSystem, error) {
	top, err := os.OpenRoot(p.Dir)
	if err != nil {
		return nil, fmt.Errorf("opening root %s: %w", p.Dir, err)
	}
	defer top.Close()
	home := strings.Trim(u.Home, "/")
	if home == "" {
		home = "."
	}
	if err := top.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("creating home %q: %w", u.Home, err)
	}
	r, err := top.OpenRoot(home)
	if err != nil {
		return nil, fmt.Errorf("opening home %q: %w", u.Home, err)
	}
	return &rootFS{r: r}, nil
}

// SweepUploads implements UploadSweeper. It does not follow symlinks and
// removes through os.Root, so nothing outside Dir is touched.
func (p RootFS) SweepUploads(before time.Time, stop func() bool) (files int, bytes int64, err error) {
	top, err := os.OpenRoot(p.Dir)
	if err != nil {
		return 0, 0, fmt.Errorf("opening root %s: %w", p.Dir, err)
	}
	defer top.Close()
	var errs []error
	walkErr := fs.WalkDir(top.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if stop() {
			return fs.SkipAll
		}
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !d.Type().IsRegular() || !isTempName(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(before) {
			return nil
		}
		if err := top.Remove(name); err != nil {
			errs = append(errs, err)
			return nil
		}
		files++
		bytes += fi.Size()
		return nil
	})
	return files, bytes, errors.Join(append(errs, walkErr)...)
}

// isTempName reports whether base is a temporary upload name made by store.
func isTempName(base string) bool {
	hexPart, ok := strings.CutPrefix(base, tmpPrefix)
	if !ok {
		return false
	}
	hexPart, ok = strings.CutSuffix(hexPart, tmpSuffix)
	if !ok || len(hexPart) != 16 {
		return false
	}
	for _, c := range hexPart {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

type rootFS struct{ r *os.Root }

func (f *rootFS) Stat(name string) (fs.FileInfo, error)  { return f.r.Stat(name) }
func (f *rootFS) Lstat(name string) (fs.FileInfo, error) { return f.r.Lstat(name) }
func (f *rootFS) Open(name string) (File, error) {
	file, err := f.r.Open(name)
	if err != nil {
		return nil, err
	}
	return file, nil
}

func (f *rootFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.r.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return file, nil
}

func (f *rootFS) ReadDir(name string) ([]fs.DirEntry, error) {
	d, err := f.r.Open(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

func (f *rootFS) Mkdir(name string, perm fs.FileMode) error { return f.r.Mkdir(name, perm) }
func (f *rootFS) Remove(name string) error                  { return f.r.Remove(name) }
func (f *rootFS) Rename(o, n string) error                  { return f.r.Rename(o, n) }
func (f *rootFS) Link(o, n string) error                    { return f.r.Link(o, n) }
func (f *rootFS) Chtimes(name string, a, m time.Time) error { return f.r.Chtimes(name, a, m) }
func (f *rootFS) Close() error                              { return f.r.Close() }

// isEscape reports whether err is os.Root refusing a path outside the root.
func isEscape(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil && strings.Contains(pe.Err.Error(), "escapes") {
		return true
	}
	var le *os.LinkError
	return errors.As(err, &le) && le.Err != nil && strings.Contains(le.Err.Error(), "escapes")
}
