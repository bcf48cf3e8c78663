package ftpd

import (
	"reflect"
	"testing"
)

// TestUsersFileRoundTrip: what Marshal writes (the operator's users Secret) ParseUsersFile reads back unchanged.
func TestUsersFileRoundTrip(t *testing.T) {
	for _, f := range []UsersFile{
		{Users: []UserEntry{}},
		{Users: []UserEntry{
			{Name: "acme", PasswordFile: "/etc/ftpd/users/acme.password", Home: "/acme", Access: ReadWrite},
			{Name: "a@b.c", PasswordFile: "/etc/ftpd/users/a_b.c.password", Home: "/shared/in", Access: WriteOnly},
			{Name: "ro", Password: "secret: with yaml", Home: "/ro", Access: ReadOnly},
			{Name: "anonymous", Anonymous: true, Home: "/pub", Access: ReadOnly},
		}, UserLists: []string{"/etc/ftpd/users/usersfrom.list"}},
	} {
		data, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseUsersFile(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !reflect.DeepEqual(*got, f) {
			t.Fatalf("round trip through\n%s\ngot  %+v\nwant %+v", data, *got, f)
		}
	}
	if data, _ := (UsersFile{}).Marshal(); string(data) != "users: []\n" {
		t.Fatalf("empty file %q: the engine wants a list", data)
	}
}
