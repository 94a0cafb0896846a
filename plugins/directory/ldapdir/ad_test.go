package ldapdir

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

func entry(dn string, attrs map[string]string) *ldap.Entry {
	m := map[string][]string{}
	for k, v := range attrs {
		m[k] = []string{v}
	}
	return ldap.NewEntry(dn, m)
}

func TestFiletime(t *testing.T) {
	// 134401703012203270 was a Samba lockoutTime on 2026-11-26 (recipe).
	got := fromFiletime(134401703012203270)
	if got.Year() != 2026 || got.Month() != time.November || got.Day() != 26 {
		t.Fatalf("fromFiletime = %v", got)
	}
	for _, ft := range []int64{0, -1, math.MaxInt64} {
		if !fromFiletime(ft).IsZero() {
			t.Errorf("fromFiletime(%d) = %v, want zero", ft, fromFiletime(ft))
		}
	}
	now := time.Date(2026, 11, 26, 13, 0, 0, 123400, time.UTC)
	if back := fromFiletime(toFiletime(now)); !back.Equal(now) {
		t.Fatalf("round trip %v -> %v", now, back)
	}
	if fromFiletime(filetimeEpochDelta).Unix() != 0 {
		t.Fatal("FILETIME epoch delta is wrong")
	}
}

func TestEncodeUnicodePwd(t *testing.T) {
	for _, pw := range []string{"Alice#Pass1", "Pässwörd#1€", "𝔘nicode#1"} {
		b := []byte(encodeUnicodePwd(pw))
		if len(b)%2 != 0 {
			t.Fatalf("odd length for %q", pw)
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		if got := string(utf16.Decode(u)); got != `"`+pw+`"` {
			t.Errorf("decode(encode(%q)) = %q", pw, got)
		}
	}
	if got := encodeUnicodePwd("ab"); got != "\"\x00a\x00b\x00\"\x00" {
		t.Errorf("encode(ab) = %q", got)
	}
}

func TestADResetRequest(t *testing.T) {
	for _, tc := range []struct {
		mustChange, unlock bool
		want               map[string]string
	}{
		{false, false, map[string]string{"unicodePwd": encodeUnicodePwd("P")}},
		{true, false, map[string]string{"unicodePwd": encodeUnicodePwd("P"), "pwdLastSet": "0"}},
		{true, true, map[string]string{"unicodePwd": encodeUnicodePwd("P"), "pwdLastSet": "0", "lockoutTime": "0"}},
	} {
		r := adResetRequest("CN=x", "P", tc.mustChange, tc.unlock)
		if len(r.Changes) != len(tc.want) {
			t.Fatalf("%+v: %d changes, want %d", tc, len(r.Changes), len(tc.want))
		}
		for _, c := range r.Changes {
			if c.Operation != ldap.ReplaceAttribute || len(c.Modification.Vals) != 1 || tc.want[c.Modification.Type] != c.Modification.Vals[0] {
				t.Errorf("%+v: change %v", tc, c)
			}
		}
	}
}

func TestADStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ft := func(t time.Time) string { return strconv.FormatInt(toFiletime(t), 10) }
	lockAt := now.Add(-5 * time.Minute)
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		check func(AccountStatus) bool
	}{
		{"normal", map[string]string{"userAccountControl": "512", "msDS-User-Account-Control-Computed": "0",
			"pwdLastSet": ft(now.Add(-24 * time.Hour)), "msDS-UserPasswordExpiryTimeComputed": ft(now.Add(41 * 24 * time.Hour)),
			"badPwdCount": "1", "lastLogon": ft(now.Add(-time.Hour)), "lastLogonTimestamp": ft(now.Add(-48 * time.Hour))},
			func(s AccountStatus) bool {
				return !s.Locked && !s.Disabled && !s.PasswordMustChange && s.FailedAttempts == 1 &&
					s.LastLogonAt == rfc3339(now.Add(-time.Hour)) && s.PasswordExpiresAt == rfc3339(now.Add(41*24*time.Hour)) &&
					s.PasswordChangedAt == rfc3339(now.Add(-24*time.Hour))
			}},
		{"locked (computed bit)", map[string]string{"userAccountControl": "512", "msDS-User-Account-Control-Computed": "16",
			"lockoutTime": ft(lockAt), "badPwdCount": "3"},
			func(s AccountStatus) bool { return s.Locked && s.LockedAt == rfc3339(lockAt) && s.FailedAttempts == 3 }},
		{"lockout expired: lockoutTime stays, computed bit clear", map[string]string{"userAccountControl": "512",
			"msDS-User-Account-Control-Computed": "0", "lockoutTime": ft(lockAt)},
			func(s AccountStatus) bool { return !s.Locked && s.LockedAt == "" }},
		{"no computed attribute: lockoutTime decides", map[string]string{"userAccountControl": "512", "lockoutTime": ft(lockAt)},
			func(s AccountStatus) bool { return s.Locked }},
		{"unlocked with lockoutTime=0", map[string]string{"userAccountControl": "512", "lockoutTime": "0"},
			func(s AccountStatus) bool { return !s.Locked }},
		{"disabled", map[string]string{"userAccountControl": "514", "msDS-User-Account-Control-Computed": "0"},
			func(s AccountStatus) bool { return s.Disabled && !s.Locked }},
		{"must change", map[string]string{"userAccountControl": "512", "pwdLastSet": "0",
			"msDS-User-Account-Control-Computed": "8388608", "msDS-UserPasswordExpiryTimeComputed": "0"},
			func(s AccountStatus) bool {
				return s.PasswordMustChange && s.PasswordExpiresAt == "" && s.PasswordChangedAt == ""
			}},
		{"pwdLastSet=0 with DONT_EXPIRE_PASSWORD binds", map[string]string{"userAccountControl": "66048", "pwdLastSet": "0"},
			func(s AccountStatus) bool { return !s.PasswordMustChange && s.PasswordNeverExp }},
		{"never expires (computed MaxInt64)", map[string]string{"userAccountControl": "512", "pwdLastSet": ft(now),
			"msDS-UserPasswordExpiryTimeComputed": "9223372036854775807"},
			func(s AccountStatus) bool { return s.PasswordNeverExp && s.PasswordExpiresAt == "" }},
		{"garbage attributes", map[string]string{"userAccountControl": "x", "badPwdCount": "-4", "lockoutTime": "y", "pwdLastSet": "z"},
			func(s AccountStatus) bool {
				return !s.Locked && !s.Disabled && !s.PasswordMustChange && s.FailedAttempts == 0
			}},
	} {
		st := activeDirectory{}.status(entry("CN=u,DC=t", tc.attrs), ppolicy{}, now)
		if !tc.check(st) || st.Flavor != FlavorAD || st.DN != "CN=u,DC=t" {
			t.Errorf("%s: %+v", tc.name, st)
		}
	}
}

func TestClassifyADData(t *testing.T) {
	for msg, want := range map[string]string{
		"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1": OutcomeInvalid,
		"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1": OutcomeLocked,
		"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 773, v1db1": OutcomeMustChange,
		"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 533, v1db1": OutcomeDisabled,
		"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 701, v1db1": OutcomeAccountExpired,
		"80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 532, v3839": OutcomePasswordExpired,
		"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 530, v1db1": OutcomeRestricted,
		"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 525, v1db1": OutcomeInvalid,
		"":          OutcomeInvalid,
		"data 7755": OutcomeInvalid,
	} {
		if got := classifyADData(msg); got != want {
			t.Errorf("classifyADData(%q) = %s, want %s", msg, got, want)
		}
	}
}

func TestADFilters(t *testing.T) {
	d := activeDirectory{}
	for _, tc := range []struct{ by, v, want string }{
		{ByLogin, "jdoe", "(&(objectCategory=person)(objectClass=user)(sAMAccountName=jdoe))"},
		{ByLogin, "jdoe@test.local", "(&(objectCategory=person)(objectClass=user)(userPrincipalName=jdoe@test.local))"},
		{ByMail, "j*)(x=1", `(&(objectCategory=person)(objectClass=user)(mail=j\2a\29\28x=1))`},
	} {
		if got := d.userFilter(tc.by, tc.v); got != tc.want {
			t.Errorf("userFilter(%s,%s) = %s", tc.by, tc.v, got)
		}
	}
	if got := d.memberOfFilter("CN=Domain Admins,CN=Users,DC=t"); got != "(memberOf:1.2.840.113556.1.4.1941:=CN=Domain Admins,CN=Users,DC=t)" {
		t.Errorf("memberOfFilter = %s", got)
	}
}
