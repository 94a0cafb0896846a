package sambatest

// Fixed names of the test domain. Passwords here are test fixtures.
const (
	Realm         = "TEST.LOCAL"
	Domain        = "TEST"
	BaseDN        = "DC=test,DC=local"
	UsersDN       = "CN=Users,DC=test,DC=local"
	AdminDN       = "CN=Administrator,CN=Users,DC=test,DC=local"
	AdminPassword = "Passw0rd!Admin"
	// ServerName is the TLS name in the DC's certificate (with localhost).
	ServerName = "dc.test.local"
	// ServiceLogin is the least-privilege service account: Reset Password
	// and write lockoutTime / pwdLastSet on user objects under CN=Users, nothing more.
	ServiceLogin    = "sitewarden-svc"
	ServiceDN       = "CN=sitewarden-svc,CN=Users,DC=test,DC=local"
	ServicePassword = "Svc#Warden2026!x"
	// PrivilegedGroupDN is Domain Admins: dave is a direct member, erin through Helpdesk Leads.
	PrivilegedGroupDN = "CN=Domain Admins,CN=Users,DC=test,DC=local"
	// MaxFailure is the domain's lockout threshold.
	MaxFailure = 3
)

// User is one seeded account.
type User struct {
	Login    string
	Mail     string
	Password string
}

// DN returns the user's distinguished name.
func (u User) DN() string { return "CN=" + u.Login + "," + UsersDN }

// Users are the seeded accounts. Groups: Helpdesk Test = {alice, bob};
// Helpdesk Leads = {erin}, nested in Domain Admins; dave is in Domain Admins.
var Users = []User{
	{Login: "alice", Mail: "alice@test.local", Password: "Alice#Pass1"},
	{Login: "bob", Mail: "bob@test.local", Password: "Bob#Pass12"},
	{Login: "carol", Mail: "carol@test.local", Password: "Carol#Pass1"},
	{Login: "dave", Mail: "dave@test.local", Password: "Dave#Pass12"},
	{Login: "erin", Mail: "erin@test.local", Password: "Erin#Pass12"},
}

// Schema GUIDs used by the service account's delegation (documented in
// docs/directory.md): the Reset Password extended right, the user class, and
// the lockoutTime and pwdLastSet attributes.
const (
	guidResetPassword = "00299570-246d-11d0-a768-00aa006e0529"
	guidUserClass     = "bf967aba-0de6-11d0-a285-00aa003049e2"
	guidLockoutTime   = "28630ebf-41d5-11d1-a9c1-0000f80367c1"
	guidPwdLastSet    = "bf967a0a-0de6-11d0-a285-00aa003049e2"
)
