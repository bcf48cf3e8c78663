package ftpd

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// minCostHash is a bcrypt hash of pw at the minimum cost, for tests that only parse or need speed.
func minCostHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUserList(t *testing.T) {
	testHash := minCostHash(t, "pw")
	data := strings.Join([]string{
		"# bulk users",
		"acme:" + testHash,
		"",
		"bob:" + testHash + ":/shared/in:WriteOnly",
		"carol@example.com:" + testHash + "::ReadOnly\r",
		"dave:" + testHash + ":/dave/",
		"plain:secret",                        // 6: not bcrypt
		"x y:" + testHash,                     // 7: bad name
		"eve:" + testHash + ":/a/../etc",      // 8: escapes
		"fred:" + testHash + ":rel",           // 9: relative
		"gina:" + testHash + ":/g:Admin",      // 10: bad access
		"hank:" + testHash + ":/h:ReadOnly:x", // 11: too many fields
		"acme:" + testHash + ":/again",        // a duplicate parses; the caller decides
	}, "\n")
	users, bad := ParseUserList([]byte(data))
	want := []UserEntry{
		{Name: "acme", PasswordHash: testHash, Home: "/acme", Access: ReadWrite},
		{Name: "bob", PasswordHash: testHash, Home: "/shared/in", Access: WriteOnly},
		{Name: "carol@example.com", PasswordHash: testHash, Home: "/carol@example.com", Access: ReadOnly},
		{Name: "dave", PasswordHash: testHash, Home: "/dave", Access: ReadWrite},
		{Name: "acme", PasswordHash: testHash, Home: "/again", Access: ReadWrite},
	}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("users\n got %+v\nwant %+v", users, want)
	}
	var lines []int
	for _, e := range bad {
		lines = append(lines, e.Line)
		if strings.Contains(e.Error(), "secret") && !strings.Contains(e.Error(), "bcrypt") {
			t.Errorf("error %q may show a password", e)
		}
	}
	if fmt.Sprint(lines) != "[7 8 9 10 11 12]" {
		t.Fatalf("bad lines %v (%v), want 7-12", lines, bad)
	}
	for _, e := range bad {
		if e.Line == 7 && strings.Contains(e.Error(), "secret") {
			t.Errorf("the error for a plain password repeats it: %v", e)
		}
	}
}

// TestUserListRoundTrip: what the operator writes (MarshalUserList) the engine reads back unchanged, and default
// homes and access take no bytes.
func TestUserListRoundTrip(t *testing.T) {
	testHash := minCostHash(t, "pw")
	in := []UserEntry{
		{Name: "acme", PasswordHash: testHash, Home: "/acme", Access: ReadWrite},
		{Name: "bob", PasswordHash: testHash, Home: "/shared/in", Access: WriteOnly},
		{Name: "carol", PasswordHash: testHash, Home: "/carol", Access: ReadOnly},
		{Name: "dave", PasswordHash: testHash, Home: "/x", Access: ReadWrite},
	}
	data, err := MarshalUserList(in)
	if err != nil {
		t.Fatal(err)
	}
	if first := strings.SplitN(string(data), "\n", 2)[0]; first != "acme:"+testHash {
		t.Fatalf("default home and access written: %q", first)
	}
	got, bad := ParseUserList(data)
	if len(bad) > 0 || !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip through\n%s\ngot %+v (%v)", data, got, bad)
	}
	if _, err := MarshalUserList([]UserEntry{{Name: "p", Password: "plain"}}); err == nil {
		t.Fatal("a user without a bcrypt hash was written to a list")
	}
}

// TestUserListsFirstDefinitionWinsAndReload: users of the users file win over a list's, an earlier list over a
// later one; a changed list is read again at the next login, without restart.
func TestUserListsFirstDefinitionWinsAndReload(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Dir(e.users)
	hash := func(pw string) string { return minCostHash(t, pw) }
	listA, listB := filepath.Join(dir, "a.list"), filepath.Join(dir, "b.list")
	writeAtomic(t, listA, []byte("acme:"+hash("from-list")+"\nbulk1:"+hash("one")+"\n"))
	writeAtomic(t, listB, []byte("bulk1:"+hash("later")+"\nbulk2:"+hash("two")+":/drop:WriteOnly\n"))
	writeAtomic(t, e.users, []byte(testUsers+"userLists: ["+listA+", b.list]\n")) // relative: beside the users file

	e.dial(t, "acme", "secret") // the users file wins
	e.dial(t, "bulk1", "one")   // the first list wins
	e.dial(t, "bulk2", "two")
	for _, c := range [][2]string{{"acme", "from-list"}, {"bulk1", "later"}} {
		r := dialRaw(t, e.addr, "")
		r.must(331, "USER %s", c[0])
		r.must(530, "PASS %s", c[1])
	}

	// A changed password in a list applies at the next login.
	writeAtomic(t, listB, []byte("bulk2:"+hash("changed")+"\n"))
	start := time.Now()
	e.dial(t, "bulk2", "changed")
	t.Logf("changed password in a user list accepted %s after the write", time.Since(start).Round(time.Millisecond))
	r := dialRaw(t, e.addr, "")
	r.must(331, "USER bulk2")
	r.must(530, "PASS two")
}

// TestTenThousandUsers loads a users file whose user list holds 10,000 users and serves their logins through a real
// client. It reports the load time, the heap the users take, and the cost of a login (one bcrypt comparison at
// cost 10, as htpasswd -B makes them): docs/benchmarks.md quotes these numbers.
//
// Generating 10,000 distinct cost-10 hashes takes minutes, so the bulk shares one hash (parsing and memory do not
// depend on it: every line is its own string) and three users spread over the list have their own.
func TestTenThousandUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 users skipped in -short mode")
	}
	const n, cost = 10000, bcrypt.DefaultCost
	shared, err := bcrypt.GenerateFromPassword([]byte("shared-pw"), cost)
	if err != nil {
		t.Fatal(err)
	}
	own := map[int]string{0: "first-pw", n / 2: "middle-pw", n - 1: "last-pw"}
	users := make([]UserEntry, n)
	for i := range users {
		h := shared
		if pw, ok := own[i]; ok {
			if h, err = bcrypt.GenerateFromPassword([]byte(pw), cost); err != nil {
				t.Fatal(err)
			}
		}
		users[i] = UserEntry{Name: fmt.Sprintf("user%05d", i), PasswordHash: string(h), Home: fmt.Sprintf("/user%05d", i), Access: ReadWrite}
		if i%10 == 0 {
			users[i].Access, users[i].Home = ReadOnly, "/shared"
		}
	}
	list, err := MarshalUserList(users)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listPath, usersPath := filepath.Join(dir, "bulk.list"), filepath.Join(dir, "users.yaml")
	writeAtomic(t, listPath, list)
	writeAtomic(t, usersPath, []byte("users: []\nuserLists: ["+listPath+"]\n"))
	t.Logf("user list: %d users, %d bytes (%.0f bytes a user)", n, len(list), float64(len(list))/n)
	if len(list) > 1<<20 {
		t.Errorf("the list of %d users takes %d bytes, more than a Secret holds (1 MiB)", n, len(list))
	}

	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	start := time.Now()
	auth, err := NewFileAuthenticator(usersPath)
	if err != nil {
		t.Fatal(err)
	}
	load := time.Since(start)
	after := heap()
	runtime.KeepAlive(auth)
	if got := len(auth.users); got != n {
		t.Fatalf("loaded %d users, want %d", got, n)
	}
	t.Logf("load: %s; heap after load %+.1f MiB (%.0f bytes a user)", load.Round(time.Millisecond),
		float64(after-before)/(1<<20), float64(after-before)/n)

	e := newEnv(t, func(s *Server) { s.Auth = auth })
	var logins time.Duration
	for i, pw := range own {
		start := time.Now()
		e.dial(t, fmt.Sprintf("user%05d", i), pw)
		logins += time.Since(start)
	}
	e.dial(t, "user04242", "shared-pw")
	r := dialRaw(t, e.addr, "")
	r.must(331, "USER user09999")
	r.must(530, "PASS first-pw")

	const checks = 5
	start = time.Now()
	for range checks {
		if _, err := auth.Authenticate(t.Context(), "user00000", "first-pw"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("login through a real client: %s each (connect, USER, PASS); Authenticate: %s each (one bcrypt comparison at cost %d)",
		(logins / time.Duration(len(own))).Round(time.Millisecond), (time.Since(start) / checks).Round(time.Millisecond), cost)
	if err := os.Remove(listPath); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(t.Context(), "user00000", "first-pw"); err != nil {
		t.Fatalf("a list that disappears must keep the last good users: %v", err)
	}
}

// FuzzUserListRoundTrip: whatever users ParseUserList takes from any input, MarshalUserList writes them so that
// ParseUserList reads the same users back; the operator relies on it when it rewrites the users of usersFrom.
func FuzzUserListRoundTrip(f *testing.F) {
	h := "$2a$04$abcdefghijklmnopqrstuu0123456789abcdefghijklmnopqrstu"
	f.Add([]byte("acme:" + h + "\nbob:" + h + ":/in:WriteOnly\n# c\n\ncarol:" + h + "::ReadOnly\r\n"))
	f.Add([]byte("dave:" + h + ":/dave/\nx:y\n:" + h))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, _ := ParseUserList(data)
		out, err := MarshalUserList(users)
		if err != nil {
			t.Fatalf("parsed users cannot be written: %v", err)
		}
		again, bad := ParseUserList(out)
		if len(bad) > 0 || !reflect.DeepEqual(again, users) && !(len(again) == 0 && len(users) == 0) {
			t.Fatalf("round trip of %q through %q: %+v (%v), want %+v", data, out, again, bad, users)
		}
	})
}
