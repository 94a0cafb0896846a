package ldapdir

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{MinPasswordLength, 20, MaxPasswordLength} {
		for range 200 {
			pw, err := generatePassword(n)
			if err != nil {
				t.Fatal(err)
			}
			if len(pw) != n || seen[pw] {
				t.Fatalf("length %d or repeated: %q", len(pw), pw)
			}
			seen[pw] = true
			for _, class := range []string{lowerChars, upperChars, digitChars, symbolChars} {
				if !strings.ContainsAny(pw, class) {
					t.Fatalf("%q lacks a character from %q", pw, class)
				}
			}
			if strings.Trim(pw, allChars) != "" {
				t.Fatalf("%q has characters outside the alphabet", pw)
			}
		}
	}
	for _, n := range []int{0, MinPasswordLength - 1, MaxPasswordLength + 1} {
		if _, err := generatePassword(n); err == nil {
			t.Errorf("length %d accepted", n)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"dial":   func(c *Config) { c.DialTimeout = 0 },
		"op":     func(c *Config) { c.OpTimeout = -time.Second },
		"groups": func(c *Config) { c.MaxGroups = 0 },
		"length": func(c *Config) { c.PasswordLength = 8 },
		"now":    func(c *Config) { c.Now = nil },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: New accepted an invalid config", name)
		}
	}
}

func validCreds() map[string]string {
	return map[string]string{CredURL: "ldaps://dc.example.com", CredBindDN: "cn=svc,dc=example,dc=com",
		CredBindPassword: "s3cret-service-pw", CredBaseDN: "dc=example,dc=com", CredFlavor: FlavorOpenLDAP}
}

func TestParseCredentials(t *testing.T) {
	tg, err := parseCredentials(context.Background(), validCreds(), false)
	if err != nil || tg.hostport != "dc.example.com:636" || tg.serverName != "dc.example.com" || tg.scheme != "ldaps" || tg.roots != nil {
		t.Fatalf("%+v, %v", tg, err)
	}
	for _, tc := range []struct {
		k, v       string
		allowPlain bool
		want       error
	}{
		{CredURL, "ldap://dc.example.com", false, nil},
		{CredURL, "", false, ErrBadCredentials},
		{CredURL, "https://dc.example.com", false, ErrBadCredentials},
		{CredURL, "ldaps://user:pw@dc.example.com", false, ErrBadCredentials},
		{CredURL, "ldaps://dc.example.com/dc=x?cn", false, ErrBadCredentials},
		{CredTLS, "none", false, ErrBadCredentials}, // ldaps with tls=none is contradictory
		{CredBaseDN, "not a dn", false, ErrBadCredentials},
		{CredFlavor, "", false, ErrBadCredentials},
		{CredBindPassword, "", false, ErrBadCredentials},
		{CredCAPEM, "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", false, ErrBadCredentials},
		{CredPPolicyDN, "=", false, ErrBadCredentials},
		{CredBindDN, strings.Repeat("x", maxCredLen+1), false, ErrBadCredentials},
	} {
		c := validCreds()
		c[tc.k] = tc.v
		_, err := parseCredentials(context.Background(), c, tc.allowPlain)
		if !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
			t.Errorf("%s=%q: err = %v, want %v", tc.k, tc.v, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret-service-pw") {
			t.Errorf("%s: error reveals the password", tc.k)
		}
	}
	// No section in the runner's credentials file: empty credentials. The
	// error names every required key and where to put them.
	if _, err := parseCredentials(context.Background(), map[string]string{}, false); !errors.Is(err, ErrBadCredentials) ||
		!strings.Contains(err.Error(), `"url", "bind_dn", "bind_password", "base_dn" and "flavor" are missing`) ||
		!strings.Contains(err.Error(), "credentials_file") {
		t.Errorf("empty credentials: %v", err)
	}
	c := validCreds()
	c[CredURL], c[CredTLS] = "ldap://127.0.0.1:1389", "none"
	if _, err := parseCredentials(context.Background(), c, false); !errors.Is(err, ErrPlainLDAP) {
		t.Errorf("plain without the flag: %v", err)
	}
	if tg, err := parseCredentials(context.Background(), c, true); err != nil || !tg.plain {
		t.Errorf("plain with the flag: %+v %v", tg, err)
	}
}

func TestDecodeParams(t *testing.T) {
	var r userRef
	if err := decodeParams([]byte(`{"user":"alice"}`), &r); err != nil || r.By != ByLogin {
		t.Fatalf("%+v %v", r, err)
	}
	var rp resetParams
	if err := decodeParams([]byte(`{"user":"a","by":"mail","must_change":false,"unlock":true,"length":24,"refuse_if_member_of":["cn=x"]}`), &rp); err != nil ||
		rp.By != ByMail || rp.MustChange == nil || *rp.MustChange || !rp.Unlock || rp.Length != 24 || len(rp.RefuseIfMemberOf) != 1 {
		t.Fatalf("%+v %v", rp, err)
	}
	for _, bad := range []string{``, `{}`, `{"user":""}`, `{"user":"a","by":"phone"}`, `{"user":"a","x":1}`,
		`{"user":"a"} {}`, `[]`, `{"user":"a","password":"p"}`} {
		var r userRef
		if err := decodeParams([]byte(bad), &r); !errors.Is(err, ErrBadParams) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	var g guardedRef
	if err := decodeParams([]byte(`{"user":"a","refuse_if_member_of":[""]}`), &g); !errors.Is(err, ErrBadParams) {
		t.Errorf("empty group DN: %v", err)
	}
	var rp2 resetParams
	if err := decodeParams([]byte(`{"user":"a","length":8}`), &rp2); !errors.Is(err, ErrBadParams) {
		t.Errorf("short length: %v", err)
	}
}

// TestOfflineChecksComeFirst: bad params, a missing user_password and bad
// credentials are refused before any connection (the URL points nowhere).
func TestOfflineChecksComeFirst(t *testing.T) {
	p, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := validCreds()
	creds[CredURL] = "ldaps://192.0.2.1:1" // TEST-NET-1: a dial would hang until DialTimeout
	for _, tc := range []struct {
		op, params string
		creds      map[string]string
		want       error
	}{
		{"directory.nope", `{}`, creds, ErrUnknownOperation},
		{OpFindUser, `{"user":""}`, creds, ErrBadParams},
		{OpResetPassword, `{"user":"a","length":3}`, creds, ErrBadParams},
		{OpVerifyCredentials, `{"user":"a"}`, creds, ErrBadCredentials},
		{OpFindUser, `{"user":"a"}`, map[string]string{CredURL: "ldaps://x"}, ErrBadCredentials},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		_, err := p.Execute(ctx, sdk.Request{Operation: tc.op, Params: []byte(tc.params), Credentials: tc.creds})
		cancel()
		if !errors.Is(err, tc.want) || time.Since(start) > 500*time.Millisecond {
			t.Errorf("%s %s: err = %v after %v, want %v at once", tc.op, tc.params, err, time.Since(start), tc.want)
		}
	}
}
