package render

import (
	"reflect"
	"testing"

	"golang.org/x/crypto/bcrypt"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// TestUsersFromMergedIntoTheUsersSecret: the users of spec.usersFrom reach the users Secret as one user list that the
// users file names; a name that spec.users or an earlier source defines is left out and reported, first source
// first.
func TestUsersFromMergedIntoTheUsersSecret(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(h)
	bulk, more := ftpv1.UsersFrom{SecretRef: ftpv1.LocalObjectReference{Name: "bulk"}}, ftpv1.UsersFrom{SecretRef: ftpv1.LocalObjectReference{Name: "more"}, Key: "list"}
	srv := server(func(s *ftpv1.FTPServer) { s.Spec.UsersFrom = []ftpv1.UsersFrom{bulk, more} })
	from := []UserSource{
		{From: bulk, Users: []ftpd.UserEntry{
			{Name: "bob", PasswordHash: hash, Home: "/bob", Access: ftpd.ReadWrite}, // spec.users has bob
			{Name: "carol", PasswordHash: hash, Home: "/carol", Access: ftpd.ReadOnly},
			{Name: "dan", PasswordHash: hash, Home: "/d", Access: ftpd.ReadWrite},
		}},
		{From: more, Users: []ftpd.UserEntry{
			{Name: "carol", PasswordHash: hash, Home: "/other", Access: ftpd.ReadWrite},
			{Name: "erin", PasswordHash: hash, Home: "/erin", Access: ftpd.WriteOnly},
		}},
	}
	merged, dups := UsersFromList(srv, from)
	wantDups := []DuplicateUser{
		{Name: "bob", Kept: "spec.users", Dropped: `Secret "bulk" key "htpasswd"`},
		{Name: "carol", Kept: `Secret "bulk" key "htpasswd"`, Dropped: `Secret "more" key "list"`},
	}
	if !reflect.DeepEqual(dups, wantDups) {
		t.Errorf("duplicates %+v\nwant %+v", dups, wantDups)
	}
	var names []string
	for _, u := range merged {
		names = append(names, u.Name+":"+u.Home)
	}
	if !reflect.DeepEqual(names, []string{"carol:/carol", "dan:/d", "erin:/erin"}) {
		t.Errorf("merged %v", names)
	}

	sec, err := UsersSecret(srv, map[string][]byte{"acme": []byte("a"), "bob": []byte("b")}, from)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ftpd.ParseUsersFile(sec.Data[UsersFileName])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.UserLists, []string{UsersDir + "/" + UserListFileName}) {
		t.Errorf("users file names lists %v", doc.UserLists)
	}
	list, bad := ftpd.ParseUserList(sec.Data[UserListFileName])
	if len(bad) > 0 || !reflect.DeepEqual(list, merged) {
		t.Errorf("user list in the Secret %q: %+v %v", sec.Data[UserListFileName], list, bad)
	}

	// Without usersFrom, neither the key nor the reference exists.
	sec, err = UsersSecret(server(nil), map[string][]byte{"acme": []byte("a")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sec.Data[UserListFileName]; ok {
		t.Error("user list without usersFrom")
	}
	if doc, _ := ftpd.ParseUsersFile(sec.Data[UsersFileName]); doc == nil || doc.UserLists != nil {
		t.Errorf("users file without usersFrom: %s", sec.Data[UsersFileName])
	}
}
