package v1alpha1

// UsersFrom names a Secret key that holds many users, for lists too long for spec.users.
//
// The key holds one user per line, in htpasswd's bcrypt format extended by two optional fields:
//
//	name:bcrypt-hash[:home[:access]]
//
// as `htpasswd -nbB name password` prints it, for example
//
//	acme:$2y$10$4Jh0U1Vv3mQbqv5xq3V1Fuv8Pp8GZs0lC6dJb0G1X0kW8y9zZrQ6K
//	bob:$2y$10$...:/shared/in:WriteOnly
//
// name follows the rules of spec.users[].name; the hash must be bcrypt ($2a$, $2b$ or $2y$; plain passwords are
// refused); home defaults to /<name> and must be absolute without '..'; access is ReadWrite (the default),
// ReadOnly or WriteOnly. Blank lines and lines starting with # are skipped. A line that does not parse is left
// out and named in the UsersAccepted condition; the other users keep working. About 70 bytes a user, so one
// Secret (at most 1 MiB) holds some 14,000 users.
type UsersFrom struct {
	// secretRef names the Secret, in the FTPServer's namespace.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// key of the Secret's data that holds the users. Defaults to htpasswd.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=htpasswd
	Key string `json:"key,omitempty"`
}

// DefaultUsersFromKey is the Secret key of a usersFrom entry that names none.
const DefaultUsersFromKey = "htpasswd"

// KeyOrDefault is key, DefaultUsersFromKey when unset.
func (u UsersFrom) KeyOrDefault() string {
	return orDefault(u.Key, DefaultUsersFromKey)
}

// ConditionUsersAccepted is False when some users of spec.usersFrom are left out: a name that an earlier source
// already defines (spec.users first, then usersFrom in order: the first source wins), or a line that does not
// parse. It is set only while spec.usersFrom is, and does not affect Ready.
const ConditionUsersAccepted = "UsersAccepted"

// UsersAccepted reasons.
const (
	// ReasonAllUsersAccepted: every user of every source is served.
	ReasonAllUsersAccepted = "AllUsersAccepted"
	// ReasonDuplicateUsers: a user name is defined by more than one source (or twice in one Secret); the message
	// names the user and the sources. The first source wins.
	ReasonDuplicateUsers = "DuplicateUsers"
	// ReasonInvalidUsers: lines of a usersFrom Secret do not parse; the message names the Secret and the lines.
	ReasonInvalidUsers = "InvalidUsers"
)
