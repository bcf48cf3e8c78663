package ftpd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Every password check costs exactly one bcrypt comparison, whether the user
// is unknown, has a plain password (inline or in a file) or a bcrypt hash, so
// response times do not tell which user names exist.
func TestAuthenticateSameCostForEveryUserKind(t *testing.T) {
	var compares atomic.Int32
	orig := bcryptCompare
	bcryptCompare = func(h, p []byte) error { compares.Add(1); return orig(h, p) }
	t.Cleanup(func() { bcryptCompare = orig })

	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("file-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n"+
		"  - {name: plain, password: plain-pw}\n"+
		"  - {name: hashed, passwordHash: '"+string(hash)+"'}\n"+
		"  - {name: filed, passwordFile: "+pwFile+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := NewFileAuthenticator(users)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{"nobody", "x", false},
		{"plain", "wrong", false}, {"plain", "plain-pw", true},
		{"hashed", "wrong", false}, {"hashed", "hashed-pw", true},
		{"filed", "wrong", false}, {"filed", "file-pw", true},
	} {
		compares.Store(0)
		_, err := a.Authenticate(context.Background(), tc.user, tc.pass)
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s: err %v, want ok=%v", tc.user, tc.pass, err, tc.ok)
		}
		if n := compares.Load(); n != 1 {
			t.Errorf("%s/%s: %d bcrypt comparisons, want exactly 1", tc.user, tc.pass, n)
		}
	}
}

// A crypt(3) hash or a bcrypt hash with stray whitespace in "password" would
// silently become a plain password that nobody can type: refused at load.
func TestUsersFileRejectsHashesAsPlainPasswords(t *testing.T) {
	bc := "$2a$10$abcdefghijklmnopqrstuu5wV0dRu9bqQ1HTyQ4ZTcD3y1Bq1e2Fa"
	for _, tc := range []struct{ entry, want string }{
		{`{name: a, password: "$6$salt$0123456789abcdef"}`, "crypt"},
		{`{name: a, password: "$1$salt$abc"}`, "crypt"},
		{`{name: a, password: "$y$j9T$abc$def"}`, "crypt"},
		{`{name: a, password: "` + bc + ` "}`, "whitespace"},
		{`{name: a, password: " ` + bc + `"}`, "whitespace"},
		{`{name: a, passwordHash: "` + bc + ` "}`, "bcrypt"},
	} {
		_, err := ParseUsersFile([]byte("users: [" + tc.entry + "]"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one mentioning %q", tc.entry, err, tc.want)
		}
	}
	if _, err := ParseUsersFile([]byte(`users: [{name: a, password: "` + bc + `"}]`)); err != nil {
		t.Errorf("bcrypt hash in password refused: %v", err)
	}
	if _, err := ParseUsersFile([]byte(`users: [{name: a, password: "pa$$word"}]`)); err != nil {
		t.Errorf("plain password with $ refused: %v", err)
	}
}

// The same rule for a password file, checked when it is read (at login): the
// login fails with a configuration error (logged by the server), not as a
// wrong password.
func TestPasswordFileWithCryptHashRefused(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("$6$salt$0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.yaml")
	_ = os.WriteFile(users, []byte("users: [{name: f, passwordFile: "+pwFile+"}]\n"), 0o600)
	a, err := NewFileAuthenticator(users)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(context.Background(), "f", "$6$salt$0123456789abcdef")
	if err == nil || errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "crypt") {
		t.Fatalf("login with a crypt hash file as the password: %v", err)
	}
}

// Timing: with a user whose bcrypt hash has cost 6, checking an unknown user, a plain-password user and that user
// each compare against a bcrypt hash of cost 6, so they take the same time. The cost of every comparison is
// recorded rather than timed: wall-clock medians flaked on a loaded 2-core machine (4x apart at load 14).
func TestAuthenticateTimingSimilar(t *testing.T) {
	var mu sync.Mutex
	var costs []int
	orig := bcryptCompare
	bcryptCompare = func(h, p []byte) error {
		c, err := bcrypt.Cost(h)
		if err != nil {
			c = -1
		}
		mu.Lock()
		costs = append(costs, c)
		mu.Unlock()
		return orig(h, p)
	}
	t.Cleanup(func() { bcryptCompare = orig })

	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-pw"), 6)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.yaml")
	_ = os.WriteFile(users, []byte("users:\n  - {name: plain, password: plain-pw}\n"+
		"  - {name: hashed, passwordHash: '"+string(hash)+"'}\n"), 0o600)
	a, err := NewFileAuthenticator(users)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"nobody", "plain", "hashed"} {
		mu.Lock()
		costs = nil
		mu.Unlock()
		_, _ = a.Authenticate(context.Background(), u, "wrong")
		mu.Lock()
		got := slices.Clone(costs)
		mu.Unlock()
		if !slices.Equal(got, []int{6}) {
			t.Errorf("%s: bcrypt comparisons at costs %v, want one at cost 6 (the highest cost in use)", u, got)
		}
	}
}
