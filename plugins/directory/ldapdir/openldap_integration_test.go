package ldapdir

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// These tests run against a real slapd (Debian 2.5, ppolicy + dynlist) that
// slapdtest starts on 127.0.0.1.

func TestOpenLDAPFindUser(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	h := newHarness(t, srv.Credentials(), nil)
	alice := slapdtest.Users[0]
	for _, tc := range []struct{ user, by string }{
		{alice.Login, ""}, {alice.Login, ByLogin}, {alice.Mail, ByMail}, {alice.DN(), ByDN},
		{strings.ToUpper(alice.DN()), ByDN},
	} {
		params := m{"user": tc.user}
		if tc.by != "" {
			params["by"] = tc.by
		}
		out, _ := h.must(OpFindUser, params, nil)
		if !strings.EqualFold(out["dn"].(string), alice.DN()) || out["login"] != alice.Login || out["mail"] != alice.Mail || out["flavor"] != FlavorOpenLDAP {
			t.Errorf("find %v = %v", params, out)
		}
	}
	for _, tc := range []struct {
		params m
		want   error
	}{
		{m{"user": "nosuchuser"}, ErrUserNotFound},
		{m{"user": "nobody@example.test", "by": "mail"}, ErrUserNotFound},
		{m{"user": "uid=nobody," + slapdtest.PeopleDN, "by": "dn"}, ErrUserNotFound},
		{m{"user": "uid=alice,dc=other,dc=test", "by": "dn"}, ErrOutsideBase},
		{m{"user": "not a dn", "by": "dn"}, ErrOutsideBase},
		{m{"user": "*"}, ErrUserNotFound}, // escaped: no wildcard search
		{m{"user": "alice)(uid=*"}, ErrUserNotFound},
		{m{"user": "cn=sitewarden,ou=services," + slapdtest.BaseDN, "by": "dn"}, ErrUserNotFound}, // not a person
	} {
		_, err := h.call(OpFindUser, tc.params, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("find %v: err = %v, want %v", tc.params, err, tc.want)
		}
	}
}

func TestOpenLDAPLockUnlockResetFlow(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	h := newHarness(t, srv.Credentials(), nil)
	bob := slapdtest.Users[1]
	who := m{"user": bob.Login}
	verify := func(pw string) string {
		t.Helper()
		out, _ := h.must(OpVerifyCredentials, who, map[string]string{CredUserPassword: pw})
		return out["outcome"].(string)
	}
	if got := verify(bob.Password); got != OutcomeOK {
		t.Fatalf("correct password before lockout: %s", got)
	}
	for i := range slapdtest.MaxFailure {
		if got := verify("wrong-" + bob.Password); got != OutcomeInvalid {
			t.Fatalf("wrong bind %d: %s, want %s", i+1, got, OutcomeInvalid)
		}
	}
	if got := verify(bob.Password); got != OutcomeLocked {
		t.Fatalf("correct password after %d failures: %s, want %s", slapdtest.MaxFailure, got, OutcomeLocked)
	}
	st, _ := h.must(OpGetAccountStatus, who, nil)
	if st["locked"] != true || st["disabled"] != false || st["failed_attempts"].(float64) != slapdtest.MaxFailure || st["locked_at"] == "" {
		t.Fatalf("status after lockout = %v", st)
	}
	out, _ := h.must(OpUnlockAccount, who, nil)
	if out["was_locked"] != true || out["locked"] != false {
		t.Fatalf("unlock = %v", out)
	}
	if got := verify(bob.Password); got != OutcomeOK {
		t.Fatalf("correct password after unlock: %s", got)
	}
	if st, _ = h.must(OpGetAccountStatus, who, nil); st["last_logon_at"] == "" {
		t.Errorf("no last logon after a good bind (lastbind overlay): %v", st)
	}
	// Unlocking an unlocked account succeeds and says so.
	out, _ = h.must(OpUnlockAccount, who, nil)
	if out["was_locked"] != false || out["locked"] != false {
		t.Fatalf("second unlock = %v", out)
	}

	// Lock again, then reset: a reset clears the lock on OpenLDAP.
	for range slapdtest.MaxFailure {
		verify("wrong")
	}
	out, res := h.must(OpResetPassword, who, nil)
	pw := res.Secrets[SecretPassword]
	if len(pw) != DefaultConfig().PasswordLength || out["must_change"] != true || out["unlocked"] != true || out["secret"] != SecretPassword {
		t.Fatalf("reset = %v (password length %d)", out, len(pw))
	}
	if got := verify(pw); got != OutcomeMustChange {
		t.Fatalf("new password: %s, want %s", got, OutcomeMustChange)
	}
	if got := verify(bob.Password); got != OutcomeInvalid {
		t.Fatalf("old password after reset: %s, want %s", got, OutcomeInvalid)
	}
	st, _ = h.must(OpGetAccountStatus, who, nil)
	if st["password_must_change"] != true || st["locked"] != false {
		t.Fatalf("status after reset = %v", st)
	}
	// The server stored a hash, not the password.
	adm := srv.Admin(t)
	sr, err := adm.Search(ldap.NewSearchRequest(bob.DN(), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 5, false,
		"(objectClass=*)", []string{"userPassword"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if stored := sr.Entries[0].GetAttributeValue("userPassword"); !strings.HasPrefix(stored, "{SSHA}") {
		t.Fatalf("stored userPassword is not hashed: prefix %.6q", stored)
	}
	// The user really must change it: other operations are restricted until then.
	uc, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = uc.Close() }()
	if err := uc.Bind(bob.DN(), pw); err != nil {
		t.Fatal(err)
	}
	if _, err := uc.Search(ldap.NewSearchRequest(slapdtest.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 5, false,
		"(objectClass=*)", nil, nil)); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Fatalf("search before the user changed the password: %v, want insufficient access", err)
	}

	// A reset without must_change binds plainly.
	out, res = h.must(OpResetPassword, m{"user": bob.Login, "must_change": false, "length": 32}, nil)
	if pw2 := res.Secrets[SecretPassword]; len(pw2) != 32 || pw2 == pw || out["must_change"] != false {
		t.Fatalf("reset without must_change = %v", out)
	} else if got := verify(pw2); got != OutcomeOK {
		t.Fatalf("password without must_change: %s", got)
	}

	for _, secret := range []string{pw, res.Secrets[SecretPassword]} {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatal("a generated password appears in the plugin's log")
		}
	}
}

func TestOpenLDAPRefusesNonexistentUser(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	h := newHarness(t, srv.Credentials(), nil)
	for _, op := range []string{OpGetAccountStatus, OpUnlockAccount, OpResetPassword, OpListGroups} {
		res, err := h.call(op, m{"user": "ghost"}, nil)
		if !errors.Is(err, ErrUserNotFound) {
			t.Errorf("%s ghost: err = %v, want ErrUserNotFound", op, err)
		}
		if len(res.Secrets) != 0 {
			t.Errorf("%s ghost returned secrets", op)
		}
	}
	_, err := h.call(OpVerifyCredentials, m{"user": "ghost"}, map[string]string{CredUserPassword: "x"})
	if !errors.Is(err, ErrUserNotFound) {
		t.Errorf("verify ghost: %v", err)
	}
	_, err = h.call(OpVerifyCredentials, m{"user": "alice"}, nil)
	if !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), CredUserPassword) {
		t.Errorf("verify without user_password: %v", err)
	}
}

func TestOpenLDAPPrivilegedGroupsRefusedOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	h := newHarness(t, srv.Credentials(), nil)
	guard := []string{slapdtest.PrivilegedGroupDN}
	for _, login := range []string{"dave", "erin"} { // dave directly, erin through helpdesk-leads
		for _, op := range []string{OpUnlockAccount, OpResetPassword} {
			res, err := h.call(op, m{"user": login, "refuse_if_member_of": guard}, nil)
			if !errors.Is(err, ErrPrivilegedUser) || len(res.Secrets) != 0 {
				t.Errorf("%s %s guarded: err = %v, want ErrPrivilegedUser", op, login, err)
			}
		}
	}
	// Not in the protected group: allowed. Not asked: allowed (policy lives elsewhere).
	h.must(OpUnlockAccount, m{"user": "alice", "refuse_if_member_of": guard}, nil)
	h.must(OpUnlockAccount, m{"user": "erin"}, nil)
	// A protected group that does not exist is an error, not "nobody is protected".
	_, err := h.call(OpUnlockAccount, m{"user": "alice", "refuse_if_member_of": []string{"cn=nosuch,ou=groups," + slapdtest.BaseDN}}, nil)
	if !errors.Is(err, ErrBadParams) {
		t.Errorf("missing protected group: %v", err)
	}
}

func TestOpenLDAPListGroups(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	h := newHarness(t, srv.Credentials(), nil)
	for login, want := range map[string][]string{
		"alice": {"devs", "staff"},
		"carol": {"staff"},
		"erin":  {"admins", "helpdesk-leads"},
	} {
		out, _ := h.must(OpListGroups, m{"user": login}, nil)
		var got []string
		for _, g := range out["groups"].([]any) {
			got = append(got, g.(map[string]any)["name"].(string))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") || out["truncated"] != false {
			t.Errorf("groups of %s = %v (truncated %v), want %v", login, got, out["truncated"], want)
		}
	}
	h2 := newHarness(t, srv.Credentials(), func(c *Config) { c.MaxGroups = 1 })
	out, _ := h2.must(OpListGroups, m{"user": "alice"}, nil)
	if out["truncated"] != true || len(out["groups"].([]any)) != 1 {
		t.Errorf("MaxGroups=1: %v", out)
	}
}

func TestOpenLDAPTransport(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	with := func(kv ...string) map[string]string {
		c := srv.Credentials()
		for i := 0; i < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
		return c
	}
	find := m{"user": "alice"}
	// StartTLS on the plain port, strict verification.
	h := newHarness(t, with(CredURL, srv.StartTLSURL), nil)
	h.must(OpFindUser, find, nil)
	// Plain LDAP: refused unless the test-only flag is set.
	h = newHarness(t, with(CredURL, srv.StartTLSURL, CredTLS, "none"), nil)
	if _, err := h.call(OpFindUser, find, nil); !errors.Is(err, ErrPlainLDAP) {
		t.Errorf("plain LDAP without the flag: %v", err)
	}
	h = newHarness(t, with(CredURL, srv.StartTLSURL, CredTLS, "none"), func(c *Config) { c.InsecureAllowPlainLDAP = true })
	h.must(OpFindUser, find, nil)
	for name, tc := range map[string]struct {
		creds map[string]string
		want  error
	}{
		"wrong service password":      {with(CredBindPassword, "nope"), ErrServiceBind},
		"untrusted CA (system roots)": {with(CredCAPEM, ""), ErrDirectory},
		"wrong server name":           {with(CredServerName, "ldap.example.org"), ErrDirectory},
		"missing base_dn":             {with(CredBaseDN, ""), ErrBadCredentials},
		"bad flavor":                  {with(CredFlavor, "novell"), ErrBadCredentials},
		"http url":                    {with(CredURL, "http://127.0.0.1:1"), ErrBadCredentials},
	} {
		h := newHarness(t, tc.creds, nil)
		_, err := h.call(OpFindUser, find, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), slapdtest.ServicePassword) {
			t.Errorf("%s: error reveals the service password", name)
		}
	}
}

func TestOpenLDAPDisabledAccountIsNotEnabled(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	h := newHarness(t, srv.Credentials(), nil)
	carol := slapdtest.Users[2]
	mod := ldap.NewModifyRequest(carol.DN(), nil)
	mod.Replace("pwdAccountLockedTime", []string{ppolicyPermanentLock})
	if err := srv.Admin(t).Modify(mod); err != nil {
		t.Fatal(err)
	}
	st, _ := h.must(OpGetAccountStatus, m{"user": carol.Login}, nil)
	if st["disabled"] != true || st["locked"] != false {
		t.Fatalf("status of administratively locked account = %v", st)
	}
	for _, op := range []string{OpUnlockAccount, OpResetPassword} {
		if _, err := h.call(op, m{"user": carol.Login}, nil); !errors.Is(err, ErrAccountDisabled) {
			t.Errorf("%s on disabled account: %v", op, err)
		}
	}
	out, _ := h.must(OpVerifyCredentials, m{"user": carol.Login}, map[string]string{CredUserPassword: carol.Password})
	if out["valid"] != false {
		t.Errorf("disabled account binds: %v", out)
	}
}

func TestOpenLDAPPolicyTimes(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	adm := srv.Admin(t)
	pol := ldap.NewModifyRequest("cn=default,ou=policies,"+slapdtest.BaseDN, nil)
	pol.Replace("pwdMaxAge", []string{"86400"})
	pol.Replace("pwdLockoutDuration", []string{"60"})
	if err := adm.Modify(pol); err != nil {
		t.Fatal(err)
	}
	creds := srv.Credentials()
	creds[CredPPolicyDN] = "cn=default,ou=policies," + slapdtest.BaseDN
	h := newHarness(t, creds, nil)
	// A reset records pwdChangedTime; expiry is that plus pwdMaxAge.
	_, _ = h.must(OpResetPassword, m{"user": "alice", "must_change": false}, nil)
	st, _ := h.must(OpGetAccountStatus, m{"user": "alice"}, nil)
	changed, err1 := time.Parse(time.RFC3339, st["password_changed_at"].(string))
	expires, err2 := time.Parse(time.RFC3339, st["password_expires_at"].(string))
	if err1 != nil || err2 != nil || expires.Sub(changed) != 24*time.Hour || st["password_never_expires"] != false {
		t.Fatalf("status = %v", st)
	}
	// With a 60 s lockout duration, a lock seen 2 minutes later has expired.
	for range slapdtest.MaxFailure {
		h.must(OpVerifyCredentials, m{"user": "bob"}, map[string]string{CredUserPassword: "wrong"})
	}
	st, _ = h.must(OpGetAccountStatus, m{"user": "bob"}, nil)
	if st["locked"] != true {
		t.Fatalf("bob not locked: %v", st)
	}
	later := newHarness(t, creds, func(c *Config) { c.Now = func() time.Time { return time.Now().Add(2 * time.Minute) } })
	st, _ = later.must(OpGetAccountStatus, m{"user": "bob"}, nil)
	if st["locked"] != false {
		t.Fatalf("lock past pwdLockoutDuration still reported: %v", st)
	}
}

func TestOpenLDAPCanceledContext(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	p, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err = p.Execute(ctx, sdk.Request{Operation: OpFindUser, Params: []byte(`{"user":"alice"}`), Credentials: srv.Credentials()})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("canceled call: err = %v after %v", err, time.Since(start))
	}
}

// TestOpenLDAPServiceAccountIsLeastPrivilege: the documented ACLs let the
// service account do the plugin's work (the other tests) and nothing else.
func TestOpenLDAPServiceAccountIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Bind(slapdtest.ServiceDN, slapdtest.ServicePassword); err != nil {
		t.Fatal(err)
	}
	desc := ldap.NewModifyRequest(slapdtest.Users[0].DN(), nil)
	desc.Replace("description", []string{"x"})
	join := ldap.NewModifyRequest(slapdtest.PrivilegedGroupDN, nil)
	join.Add("member", []string{slapdtest.Users[0].DN()})
	del := ldap.NewDelRequest(slapdtest.Users[1].DN(), nil)
	for name, err := range map[string]error{"write description": c.Modify(desc), "join admins": c.Modify(join), "delete a user": c.Del(del)} {
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Errorf("service account may %s: %v", name, err)
		}
	}
}
