package ldapdir

import (
	"errors"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestOpenLDAPStatusDecoding(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	pol := ppolicy{known: true, lockoutDuration: 10 * time.Minute, maxAge: 90 * 24 * time.Hour}
	for _, tc := range []struct {
		name  string
		attrs map[string][]string
		pol   ppolicy
		check func(AccountStatus) bool
	}{
		{"clean", map[string][]string{"pwdChangedTime": {"20261101000000Z"}}, pol, func(s AccountStatus) bool {
			return !s.Locked && !s.Disabled && s.PasswordChangedAt == "2026-11-01T00:00:00Z" && s.PasswordExpiresAt == "2027-01-30T00:00:00Z"
		}},
		{"locked now", map[string][]string{"pwdAccountLockedTime": {"20261126115500Z"},
			"pwdFailureTime": {"20261126115459.1Z", "20261126115459.2Z", "20261126115500.311170Z"}}, pol,
			func(s AccountStatus) bool {
				return s.Locked && s.LockedAt == "2026-11-26T11:55:00Z" && s.FailedAttempts == 3
			}},
		{"lock expired by duration", map[string][]string{"pwdAccountLockedTime": {"20261126114000Z"}}, pol,
			func(s AccountStatus) bool { return !s.Locked && s.LockedAt != "" }},
		{"lock with unknown policy stays locked", map[string][]string{"pwdAccountLockedTime": {"20261126114000Z"}}, ppolicy{},
			func(s AccountStatus) bool { return s.Locked }},
		{"administrative lock is disabled", map[string][]string{"pwdAccountLockedTime": {ppolicyPermanentLock}}, pol,
			func(s AccountStatus) bool { return s.Disabled && !s.Locked }},
		{"must change", map[string][]string{"pwdReset": {"TRUE"}}, ppolicy{known: true},
			func(s AccountStatus) bool { return s.PasswordMustChange && s.PasswordNeverExp }},
		{"last logon", map[string][]string{"pwdLastSuccess": {"20261126100000Z"}}, pol,
			func(s AccountStatus) bool { return s.LastLogonAt == "2026-11-26T10:00:00Z" }},
		{"garbage", map[string][]string{"pwdAccountLockedTime": {"yesterday"}, "pwdChangedTime": {"x"}}, pol,
			func(s AccountStatus) bool { return s.Locked && s.LockedAt == "" && s.PasswordChangedAt == "" }},
	} {
		st := openLDAP{}.status(ldap.NewEntry("uid=u,dc=t", tc.attrs), tc.pol, now)
		if !tc.check(st) {
			t.Errorf("%s: %+v", tc.name, st)
		}
	}
}

func TestDecodePolicy(t *testing.T) {
	p := decodePolicy(ldap.NewEntry("cn=p", map[string][]string{"pwdLockoutDuration": {"300"}, "pwdMaxAge": {"0"}}))
	if !p.known || p.lockoutDuration != 5*time.Minute || p.maxAge != 0 {
		t.Fatalf("%+v", p)
	}
	if p := decodePolicy(ldap.NewEntry("cn=p", map[string][]string{"pwdMaxAge": {"-1"}})); p.known {
		t.Fatalf("negative max age accepted: %+v", p)
	}
}

func TestClassifyPPolicy(t *testing.T) {
	invalid := ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New(""))
	for _, tc := range []struct {
		ppErr int8
		err   error
		want  string
	}{
		{-1, nil, OutcomeOK},
		{ldap.BeheraChangeAfterReset, nil, OutcomeMustChange},
		{-1, invalid, OutcomeInvalid},
		{ldap.BeheraAccountLocked, invalid, OutcomeLocked},
		{ldap.BeheraPasswordExpired, invalid, OutcomePasswordExpired},
	} {
		got, err := classifyPPolicy(tc.ppErr, tc.err)
		if err != nil || got != tc.want {
			t.Errorf("classifyPPolicy(%d, %v) = %s, %v; want %s", tc.ppErr, tc.err, got, err, tc.want)
		}
	}
	if _, err := classifyPPolicy(-1, ldap.NewError(ldap.LDAPResultBusy, errors.New("busy"))); err == nil {
		t.Error("a busy server is not a bind outcome")
	}
}
