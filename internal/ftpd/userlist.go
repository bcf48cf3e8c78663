package ftpd

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// A user list holds many users in a compact form, one per line: htpasswd's bcrypt lines (`htpasswd -nbB name
// password`), extended by two optional fields:
//
//	name:bcrypt-hash[:home[:access]]
//
// Blank lines and lines that start with # are skipped. home defaults to /<name>, access to ReadWrite. Only bcrypt
// hashes are accepted: a list is meant to be kept in a Secret by tools, and never holds a plain password. It is what
// the FTPServer's spec.usersFrom Secrets hold, and what the operator writes into its users Secret for the engine
// (UsersFile.UserLists), with about 70 bytes a user where YAML takes twice as many.

// userListName is the rule for user names in a list: the API's rule for spec.users[].name.
var userListName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// UserListError is a line of a user list that does not parse.
type UserListError struct {
	Line int // 1-based
	Err  error
}

func (e *UserListError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *UserListError) Unwrap() error { return e.Err }

// ParseUserList parses a user list. It returns the users of the lines that parse, in order, duplicates included
// (the caller decides which one wins), and an error per line that does not; so a typo locks out one user only.
func ParseUserList(data []byte) ([]UserEntry, []*UserListError) {
	var (
		users []UserEntry
		bad   []*UserListError
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := parseUserLine(line)
		if err != nil {
			bad = append(bad, &UserListError{Line: n, Err: err})
			continue
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, &UserListError{Line: len(users) + len(bad) + 1, Err: err})
	}
	return users, bad
}

func parseUserLine(line string) (UserEntry, error) {
	f := strings.Split(line, ":")
	if len(f) < 2 || len(f) > 4 {
		return UserEntry{}, fmt.Errorf("want name:bcrypt-hash[:home[:access]], got %d fields", len(f))
	}
	u := UserEntry{Name: f[0], PasswordHash: f[1], Home: "/" + f[0], Access: ReadWrite}
	if !userListName.MatchString(u.Name) {
		return UserEntry{}, fmt.Errorf("invalid user name %q: letters, digits, '.', '_', '@' and '-', at most 64, starting with a letter or digit", u.Name)
	}
	if !isBcrypt(u.PasswordHash) {
		return UserEntry{}, fmt.Errorf("user %q: the password is not a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters; htpasswd -nbB prints one)", u.Name)
	}
	if len(f) > 2 && f[2] != "" {
		if !strings.HasPrefix(f[2], "/") || slices.Contains(strings.Split(f[2], "/"), "..") || len(f[2]) > 1024 ||
			strings.IndexFunc(f[2], unicode.IsControl) >= 0 {
			return UserEntry{}, fmt.Errorf("user %q: home %q must be an absolute path without '..' or control characters", u.Name, f[2])
		}
		u.Home = path.Clean(f[2])
	}
	if len(f) > 3 && f[3] != "" {
		u.Access = Access(f[3])
		if !slices.Contains([]Access{ReadWrite, ReadOnly, WriteOnly}, u.Access) {
			return UserEntry{}, fmt.Errorf("user %q: access %q: want ReadWrite, ReadOnly or WriteOnly", u.Name, f[3])
		}
	}
	return u, nil
}

// MarshalUserList writes users as a user list that ParseUserList reads back: home and access are left out where
// they are the defaults. Every user must have a bcrypt PasswordHash, a name and home a list can hold.
func MarshalUserList(users []UserEntry) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(users) * 72)
	for _, u := range users {
		if !userListName.MatchString(u.Name) || !isBcrypt(u.PasswordHash) || strings.ContainsAny(u.Home, ":\r\n") {
			return nil, fmt.Errorf("user %q cannot be written to a user list (name, bcrypt hash or home)", u.Name)
		}
		b.WriteString(u.Name)
		b.WriteByte(':')
		b.WriteString(u.PasswordHash)
		access := u.Access
		if access == "" {
			access = ReadWrite
		}
		switch {
		case access != ReadWrite:
			fmt.Fprintf(&b, ":%s:%s", u.Home, access)
		case u.Home != "/"+u.Name && u.Home != "":
			fmt.Fprintf(&b, ":%s", u.Home)
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
