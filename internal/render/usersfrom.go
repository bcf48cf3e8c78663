package render

import (
	"fmt"
	"path"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// UserListFileName is the key of the operator's users Secret (and the file in the pod) that holds the users of
// spec.usersFrom, merged into one user list (ftpd.ParseUserList) that the users file names.
const UserListFileName = "usersfrom.list"

// SpecUsersSource names spec.users as a source of users in messages.
const SpecUsersSource = "spec.users"

// UserSource is the users of one spec.usersFrom entry, as read from its Secret. A Secret or key that is missing
// has no users.
type UserSource struct {
	From  ftpv1.UsersFrom
	Users []ftpd.UserEntry
}

// String names the source in messages: Secret "bulk" key "htpasswd".
func (s UserSource) String() string {
	return fmt.Sprintf("Secret %q key %q", s.From.SecretRef.Name, s.From.KeyOrDefault())
}

// DuplicateUser is a user name defined by more than one source (or twice in one): Kept is the source whose
// definition is served, Dropped the one that is left out.
type DuplicateUser struct {
	Name, Kept, Dropped string
}

// UsersFromList merges the users of from, in order, behind spec.users: a name that spec.users or an earlier
// source defines is left out and reported. spec.users names win even when their password Secret is missing, so a
// missing Secret never hands a login to another source's password.
func UsersFromList(srv *ftpv1.FTPServer, from []UserSource) ([]ftpd.UserEntry, []DuplicateUser) {
	owner := make(map[string]string, len(srv.Spec.Users))
	for _, u := range srv.Spec.Users {
		owner[u.Name] = SpecUsersSource
	}
	var (
		out  []ftpd.UserEntry
		dups []DuplicateUser
	)
	for _, s := range from {
		src := s.String()
		for _, u := range s.Users {
			if kept, ok := owner[u.Name]; ok {
				dups = append(dups, DuplicateUser{Name: u.Name, Kept: kept, Dropped: src})
				continue
			}
			owner[u.Name] = src
			out = append(out, u)
		}
	}
	return out, dups
}

// userListPath is where the pod finds the merged user list, or "" when spec.usersFrom is empty.
func userListPath(srv *ftpv1.FTPServer) string {
	if len(srv.Spec.UsersFrom) == 0 {
		return ""
	}
	return path.Join(UsersDir, UserListFileName)
}
