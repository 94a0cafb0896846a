package ldapdir

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/sitewarden/sitewarden/plugins/directory/sambatest"
)

// These tests run against a real Samba AD DC (Debian samba 4.17), cloned per
// test from one template provisioned per test binary.

// adTemplate is provisioned on first use by this test binary and removed by TestMain.
var adTemplate struct {
	once sync.Once
	dir  string
	tpl  *sambatest.Template
	err  error
}

func startDC(t *testing.T) *sambatest.DC {
	t.Helper()
	adTemplate.once.Do(func() {
		adTemplate.dir, adTemplate.err = os.MkdirTemp("", "ldapdir-ad-")
		if adTemplate.err == nil {
			adTemplate.tpl, adTemplate.err = sambatest.NewTemplate(adTemplate.dir + "/tpl")
		}
	})
	if adTemplate.err != nil {
		t.Fatalf("Samba AD DC template: %v", adTemplate.err)
	}
	return adTemplate.tpl.Start(t)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if adTemplate.dir != "" {
		_ = os.RemoveAll(adTemplate.dir)
	}
	os.Exit(code)
}

func TestADFindUser(t *testing.T) {
	t.Parallel()
	dc := startDC(t)
	h := newHarness(t, dc.Credentials(), nil)
	alice := sambatest.Users[0]
	for _, params := range []m{
		{"user": "alice"}, {"user": "alice@test.local"}, {"user": alice.Mail, "by": "mail"},
		{"user": alice.DN(), "by": "dn"},
	} {
		out, _ := h.must(OpFindUser, params, nil)
		if !strings.EqualFold(out["dn"].(string), alice.DN()) || out["login"] != "alice" || out["flavor"] != FlavorAD {
			t.Errorf("find %v = %v", params, out)
		}
	}
	for _, params := range []m{{"user": "ghost"}, {"user": "Domain Admins"}, {"user": "*"}} {
		if _, err := h.call(OpFindUser, params, nil); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("find %v: %v, want ErrUserNotFound", params, err)
		}
	}
	// StartTLS on 389 works; without TLS (test-only flag) Samba itself refuses
	// the simple bind (8, strong auth required).
	creds := dc.Credentials()
	creds[CredURL] = "ldap://" + dc.IP + ":389"
	newHarness(t, creds, nil).must(OpFindUser, m{"user": "alice"}, nil)
	creds[CredTLS] = "none"
	plain := newHarness(t, creds, func(c *Config) { c.InsecureAllowPlainLDAP = true })
	if _, err := plain.call(OpFindUser, m{"user": "alice"}, nil); !errors.Is(err, ErrServiceBind) {
		t.Errorf("plain LDAP to AD: %v, want ErrServiceBind (strong auth required)", err)
	}
}

func TestADLockUnlockResetFlow(t *testing.T) {
	t.Parallel()
	dc := startDC(t)
	h := newHarness(t, dc.Credentials(), nil)
	bob := sambatest.Users[1]
	who := m{"user": bob.Login}
	verify := func(pw string) string {
		t.Helper()
		out, _ := h.must(OpVerifyCredentials, who, map[string]string{CredUserPassword: pw})
		return out["outcome"].(string)
	}
	if got := verify(bob.Password); got != OutcomeOK {
		t.Fatalf("correct password: %s", got)
	}
	for i := range sambatest.MaxFailure {
		if got := verify("Wrong#Pass" + string(rune('0'+i))); got != OutcomeInvalid {
			t.Fatalf("wrong bind %d: %s", i+1, got)
		}
	}
	if got := verify("Wrong#Again9"); got != OutcomeLocked {
		t.Fatalf("bind past the threshold: %s, want locked (775)", got)
	}
	if got := verify(bob.Password); got != OutcomeLocked {
		t.Fatalf("correct password while locked: %s", got)
	}
	st, _ := h.must(OpGetAccountStatus, who, nil)
	if st["locked"] != true || st["disabled"] != false || st["failed_attempts"].(float64) != sambatest.MaxFailure || st["locked_at"] == "" {
		t.Fatalf("status after lockout = %v", st)
	}
	if at, err := time.Parse(time.RFC3339, st["locked_at"].(string)); err != nil || time.Since(at) > 5*time.Minute || time.Since(at) < -5*time.Minute {
		t.Fatalf("locked_at %v is not about now (%v)", st["locked_at"], err)
	}
	out, _ := h.must(OpUnlockAccount, who, nil)
	if out["was_locked"] != true || out["locked"] != false {
		t.Fatalf("unlock = %v", out)
	}
	if got := verify(bob.Password); got != OutcomeOK {
		t.Fatalf("after unlock: %s", got)
	}
	st, _ = h.must(OpGetAccountStatus, who, nil)
	if st["last_logon_at"] == "" {
		t.Errorf("no last logon after a good bind: %v", st)
	}

	out, res := h.must(OpResetPassword, who, nil)
	pw := res.Secrets[SecretPassword]
	if out["must_change"] != true || len(pw) != DefaultConfig().PasswordLength {
		t.Fatalf("reset = %v", out)
	}
	if got := verify(pw); got != OutcomeMustChange {
		t.Fatalf("new password with must-change: %s, want must_change (773)", got)
	}
	if got := verify(bob.Password); got != OutcomeInvalid {
		t.Fatalf("old password after reset: %s", got)
	}
	st, _ = h.must(OpGetAccountStatus, who, nil)
	if st["password_must_change"] != true {
		t.Fatalf("status after reset = %v", st)
	}

	// AD does not unlock on reset; unlock=true does it in the same modify.
	for range sambatest.MaxFailure + 1 {
		verify("Wrong#Pass00")
	}
	out, res = h.must(OpResetPassword, m{"user": bob.Login, "must_change": false, "unlock": true}, nil)
	if out["unlocked"] != true || out["must_change"] != false {
		t.Fatalf("reset+unlock = %v", out)
	}
	if got := verify(res.Secrets[SecretPassword]); got != OutcomeOK {
		t.Fatalf("new password after reset+unlock: %s", got)
	}
	if strings.Contains(h.logs.String(), pw) || strings.Contains(h.logs.String(), res.Secrets[SecretPassword]) {
		t.Fatal("a generated password appears in the plugin's log")
	}
}

func TestADDisabledAccount(t *testing.T) {
	t.Parallel()
	dc := startDC(t)
	h := newHarness(t, dc.Credentials(), nil)
	carol := sambatest.Users[2]
	mod := ldap.NewModifyRequest(carol.DN(), nil)
	mod.Replace("userAccountControl", []string{"514"})
	if err := dc.Admin(t).Modify(mod); err != nil {
		t.Fatal(err)
	}
	st, _ := h.must(OpGetAccountStatus, m{"user": carol.Login}, nil)
	if st["disabled"] != true || st["locked"] != false {
		t.Fatalf("status = %v", st)
	}
	out, _ := h.must(OpVerifyCredentials, m{"user": carol.Login}, map[string]string{CredUserPassword: carol.Password})
	if out["outcome"] != OutcomeDisabled || out["valid"] != false {
		t.Fatalf("verify disabled = %v", out)
	}
	// Unlock leaves a disabled account disabled.
	h.must(OpUnlockAccount, m{"user": carol.Login}, nil)
	if st, _ = h.must(OpGetAccountStatus, m{"user": carol.Login}, nil); st["disabled"] != true {
		t.Fatalf("unlock enabled the account: %v", st)
	}
}

func TestADPrivilegedGroupsAndListGroups(t *testing.T) {
	t.Parallel()
	dc := startDC(t)
	h := newHarness(t, dc.Credentials(), nil)
	guard := []string{sambatest.PrivilegedGroupDN}
	for _, login := range []string{"dave", "erin"} { // dave directly, erin through Helpdesk Leads
		for _, op := range []string{OpUnlockAccount, OpResetPassword} {
			if _, err := h.call(op, m{"user": login, "refuse_if_member_of": guard}, nil); !errors.Is(err, ErrPrivilegedUser) {
				t.Errorf("%s %s guarded: %v, want ErrPrivilegedUser", op, login, err)
			}
		}
	}
	h.must(OpUnlockAccount, m{"user": "alice", "refuse_if_member_of": guard}, nil)
	names := func(login string) []string {
		out, _ := h.must(OpListGroups, m{"user": login}, nil)
		var got []string
		for _, g := range out["groups"].([]any) {
			got = append(got, g.(map[string]any)["name"].(string))
		}
		return got
	}
	if got := names("alice"); !slices.Equal(got, []string{"Helpdesk Test"}) {
		t.Errorf("alice's groups = %v", got)
	}
	if got := names("erin"); !slices.Contains(got, "Helpdesk Leads") || !slices.Contains(got, "Domain Admins") {
		t.Errorf("erin's groups = %v, want Helpdesk Leads and (nested) Domain Admins", got)
	}
}

// TestADServiceAccountIsLeastPrivilege shows the delegated service account can
// do what the plugin needs and nothing else it was not given.
func TestADServiceAccountIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	dc := startDC(t)
	c, err := dc.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Bind(sambatest.ServiceDN, sambatest.ServicePassword); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*ldap.ModifyRequest){
		"description":        func(r *ldap.ModifyRequest) { r.Replace("description", []string{"x"}) },
		"userAccountControl": func(r *ldap.ModifyRequest) { r.Replace("userAccountControl", []string{"514"}) },
	} {
		r := ldap.NewModifyRequest(sambatest.Users[0].DN(), nil)
		mod(r)
		if err := c.Modify(r); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Errorf("service account writes %s: %v, want insufficient access", name, err)
		}
	}
	add := ldap.NewModifyRequest(sambatest.PrivilegedGroupDN, nil)
	add.Add("member", []string{sambatest.Users[0].DN()})
	if err := c.Modify(add); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("service account adds to Domain Admins: %v", err)
	}
}
