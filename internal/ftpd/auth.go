package ftpd

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"
)

// Access is what a user may do in their home.
type Access string

// Access modes.
const (
	// ReadWrite may list, download, upload, rename and delete.
	ReadWrite Access = "ReadWrite"
	// ReadOnly may list and download.
	ReadOnly Access = "ReadOnly"
	// WriteOnly (a drop box) may upload files (STOR, STOU, APPE) and create
	// directories, and change directory; it may not list, download, rename or
	// delete.
	WriteOnly Access = "WriteOnly"
)

func (a Access) canRead() bool  { return a == ReadWrite || a == ReadOnly }
func (a Access) canWrite() bool { return a == ReadWrite || a == WriteOnly }
func (a Access) canModify() bool {
	return a == ReadWrite
}

// User is an authenticated user.
type User struct {
	Name   string
	Home   string // slash-separated, relative to the server root
	Access Access
}

// ErrAuthFailed is returned by an Authenticator for wrong credentials.
var ErrAuthFailed = errors.New("authentication failed")

// Authenticator checks credentials. It must be safe for concurrent use and
// must not log passwords.
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) (*User, error)
}

// UsersFile is the on-disk user list (YAML or JSON).
type UsersFile struct {
	Users []UserEntry `json:"users"`
	// UserLists are paths of user lists (ParseUserList) with more users; a relative path is relative to the users
	// file's folder. A name that Users or an earlier list already defines is skipped: the first definition wins.
	// Lines that do not parse are skipped.
	UserLists []string `json:"userLists,omitempty"`
}

// UserEntry is one user in a UsersFile. Exactly one of Password,
// PasswordHash and PasswordFile should be set; PasswordFile content may be a
// plain password or a bcrypt hash ($2a$, $2b$, $2y$), trailing newline trimmed.
type UserEntry struct {
	Name         string `json:"name"`
	Password     string `json:"password,omitempty"`
	PasswordHash string `json:"passwordHash,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
	Home         string `json:"home,omitempty"`
	Access       Access `json:"access,omitempty"`
	// Anonymous allows login with any password (only for a user named
	// "anonymous" or "ftp"); no anonymous login exists unless configured.
	Anonymous bool `json:"anonymous,omitempty"`
}

// Marshal writes f the way ParseUsersFile reads it (YAML). An empty file still holds an empty list.
func (f UsersFile) Marshal() ([]byte, error) {
	if f.Users == nil {
		f.Users = []UserEntry{}
	}
	return yaml.Marshal(f)
}

// ParseUsersFile parses and validates a users file.
func ParseUsersFile(data []byte) (*UsersFile, error) {
	var f UsersFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parsing users file: %w", err)
	}
	seen := make(map[string]bool, len(f.Users))
	for i := range f.Users {
		u := &f.Users[i]
		if u.Name == "" || strings.ContainsAny(u.Name, " \r\n\x00") {
			return nil, fmt.Errorf("users[%d]: invalid name %q", i, u.Name)
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("users[%d]: duplicate name %q", i, u.Name)
		}
		seen[u.Name] = true
		if u.Access == "" {
			u.Access = ReadWrite
		}
		switch u.Access {
		case ReadWrite, ReadOnly, WriteOnly:
		default:
			return nil, fmt.Errorf("user %q: access %q: want ReadWrite, ReadOnly or WriteOnly", u.Name, u.Access)
		}
		n := 0
		for _, s := range []string{u.Password, u.PasswordHash, u.PasswordFile} {
			if s != "" {
				n++
			}
		}
		switch {
		case u.Anonymous && (u.Name == "anonymous" || u.Name == "ftp"):
		case u.Anonymous:
			return nil, fmt.Errorf("user %q: anonymous is only allowed for \"anonymous\" or \"ftp\"", u.Name)
		case n != 1:
			return nil, fmt.Errorf("user %q: set exactly one of password, passwordHash, passwordFile", u.Name)
		}
		if u.PasswordHash != "" && !isBcrypt(u.PasswordHash) {
			return nil, fmt.Errorf("user %q: passwordHash is not a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters, no whitespace)", u.Name)
		}
		if err := checkPlainPassword(u.Password); err != nil {
			return nil, fmt.Errorf("user %q: password: %w", u.Name, err)
		}
		home := path.Clean("/" + u.Home)
		if u.Home == "" {
			home = "/" + u.Name
		}
		u.Home = home
	}
	return &f, nil
}

// cryptPrefix matches the "$id$" that starts a crypt(3) hash ($1$, $5$, $6$,
// $y$, $argon2id$, ...).
var cryptPrefix = regexp.MustCompile(`^\$[A-Za-z0-9_-]{1,12}\$`)

// checkPlainPassword refuses values that are meant as hashes but would be
// taken as plain passwords nobody can type: crypt(3) hashes, and bcrypt
// hashes with whitespace around them. A bcrypt hash itself is fine (it is
// used as a hash).
func checkPlainPassword(s string) error {
	switch {
	case s == "" || isBcrypt(s):
		return nil
	case isBcrypt(strings.TrimSpace(s)):
		return errors.New("a bcrypt hash with whitespace around it; remove the whitespace")
	case cryptPrefix.MatchString(s):
		return errors.New("looks like a crypt(3) hash ($id$...); only bcrypt hashes are supported (passwordHash); " +
			"a plain password may not start with $id$")
	}
	return nil
}

func isBcrypt(s string) bool {
	return len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}

// FileAuthenticator authenticates against a users file. The file, its user
// lists and every passwordFile are re-read when they change (checked at each
// login, by content identity: inode, size and modification time, following
// symlinks, so Kubernetes' "..data" symlink swap is seen), without restart. A
// file that becomes invalid or unreadable keeps the last good user list in
// force.
type FileAuthenticator struct {
	Path string

	mu      sync.Mutex
	users   map[string]UserEntry
	stamp   fileStamp
	lists   []listStamp // the user lists of the loaded file, as they were read
	loadErr error
	dummy   dummyHashes
}

var _ Authenticator = (*FileAuthenticator)(nil)

type fileStamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func stampOf(fi os.FileInfo) fileStamp {
	return fileStamp{ino: inodeOf(fi), size: fi.Size(), mtime: fi.ModTime()}
}

// NewFileAuthenticator loads path and returns an authenticator.
func NewFileAuthenticator(path string) (*FileAuthenticator, error) {
	a := &FileAuthenticator{Path: path}
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// reload re-reads the users file if it changed.
func (a *FileAuthenticator) reload() error {
	fi, err := os.Stat(a.Path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	st := stampOf(fi)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users != nil && st == a.stamp && listsUnchanged(a.lists) {
		return nil
	}
	users, lists, err := a.load()
	if err != nil {
		a.loadErr = err
		if a.users != nil {
			return nil // keep the last good list
		}
		return err
	}
	a.users, a.stamp, a.lists, a.loadErr = users, st, lists, nil
	return nil
}

// listStamp is a user list's path and its stamp when it was read.
type listStamp struct {
	path  string
	stamp fileStamp
}

// load reads the users file and its user lists.
func (a *FileAuthenticator) load() (map[string]UserEntry, []listStamp, error) {
	data, err := os.ReadFile(a.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading users file: %w", err)
	}
	f, err := ParseUsersFile(data)
	if err != nil {
		return nil, nil, err
	}
	users := make(map[string]UserEntry, len(f.Users))
	add := func(u UserEntry) {
		if _, dup := users[u.Name]; dup {
			return // the first definition wins
		}
		users[u.Name] = u
		for _, h := range []string{u.PasswordHash, u.Password} {
			if isBcrypt(h) {
				a.dummy.see([]byte(h))
			}
		}
	}
	for _, u := range f.Users {
		add(u)
	}
	sts := make([]listStamp, 0, len(f.UserLists))
	for _, p := range f.UserLists {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(a.Path), p)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("user list: %w", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("reading user list: %w", err)
		}
		list, _ := ParseUserList(b) // lines that do not parse are left out; the operator names them in a condition
		for _, u := range list {
			add(u)
		}
		sts = append(sts, listStamp{path: p, stamp: stampOf(fi)})
	}
	return users, sts, nil
}

// listsUnchanged says whether every user list still has the stamp it was read with.
func listsUnchanged(sts []listStamp) bool {
	for _, l := range sts {
		fi, err := os.Stat(l.path)
		if err != nil || stampOf(fi) != l.stamp {
			return false
		}
	}
	return true
}

// Ready reports whether a valid users list is loaded.
func (a *FileAuthenticator) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.users != nil
}

// LastError returns the most recent reload error (nil when the file is valid).
func (a *FileAuthenticator) LastError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loadErr
}

// dummyHashes holds the hash compared against for unknown users, and for users with a
// plain password, so that every password check costs one bcrypt comparison
// and timing does not reveal which names exist. Its cost follows the highest
// cost of the bcrypt hashes in use (seen at load for passwordHash, at the
// first login for password files); with only plain passwords it is bcrypt's
// minimum cost, so every check stays cheap and equal.
type dummyHashes struct {
	mu   sync.Mutex
	cost int
	hash []byte
}

// see raises the dummy hash's cost to that of hash.
func (d *dummyHashes) see(hash []byte) {
	c, err := bcrypt.Cost(hash)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c > d.cost {
		d.cost, d.hash = c, nil
	}
}

func (d *dummyHashes) get() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hash == nil {
		d.hash, _ = bcrypt.GenerateFromPassword([]byte("dummy password"), max(d.cost, bcrypt.MinCost))
	}
	return d.hash
}

// bcryptCompare is bcrypt.CompareHashAndPassword (a variable for tests that
// count comparisons).
var bcryptCompare = bcrypt.CompareHashAndPassword

// Authenticate implements Authenticator.
func (a *FileAuthenticator) Authenticate(ctx context.Context, name, password string) (*User, error) {
	reloadErr := a.reload()
	a.mu.Lock()
	u, ok := a.users[name]
	a.mu.Unlock()
	if !ok {
		_ = bcryptCompare(a.dummy.get(), []byte(password))
		if reloadErr != nil {
			return nil, reloadErr
		}
		return nil, ErrAuthFailed
	}
	if u.Anonymous {
		return &User{Name: u.Name, Home: u.Home, Access: u.Access}, nil
	}
	secret := u.Password
	switch {
	case u.PasswordHash != "":
		secret = u.PasswordHash
	case u.PasswordFile != "":
		b, err := os.ReadFile(u.PasswordFile) // tiny; read at each login so changes apply at once
		if err == nil {
			secret = strings.TrimRight(string(b), "\r\n")
			if secret == "" {
				err = errors.New("empty password file")
			} else {
				err = checkPlainPassword(secret)
			}
		}
		if err != nil {
			_ = bcryptCompare(a.dummy.get(), []byte(password))
			return nil, fmt.Errorf("user %q: password file %s: %w", name, u.PasswordFile, err)
		}
	}
	if !a.checkSecret(secret, password) {
		return nil, ErrAuthFailed
	}
	return &User{Name: u.Name, Home: u.Home, Access: u.Access}, nil
}

// checkSecret runs exactly one bcrypt comparison: against secret if it is a
// bcrypt hash, else against dummyHash before a constant-time comparison of
// the plain password.
func (a *FileAuthenticator) checkSecret(secret, password string) bool {
	if isBcrypt(secret) {
		a.dummy.see([]byte(secret))
		return bcryptCompare([]byte(secret), []byte(password)) == nil
	}
	_ = bcryptCompare(a.dummy.get(), []byte(password))
	return subtle.ConstantTimeCompare([]byte(secret), []byte(password)) == 1
}
