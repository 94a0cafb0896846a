package ldapdir

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// openLDAP speaks the ppolicy overlay (draft-behera password policy).
type openLDAP struct{}

// ppolicyPermanentLock is the pwdAccountLockedTime an administrator sets to
// lock an account until an administrator unlocks it (treated as disabled).
const ppolicyPermanentLock = "000001010000Z"

// ppolicy is the part of a pwdPolicy entry status needs; zero when unknown.
type ppolicy struct {
	known           bool
	lockoutDuration time.Duration // 0: until unlocked
	maxAge          time.Duration // 0: never expires
}

func (openLDAP) userFilter(by, value string) string {
	attr := "uid"
	if by == ByMail {
		attr = "mail"
	}
	return fmt.Sprintf("(&(objectClass=person)(%s=%s))", attr, ldap.EscapeFilter(value))
}

func (openLDAP) userAttrs() []string {
	return []string{"uid", "mail", "cn", "displayName", "pwdAccountLockedTime", "pwdFailureTime",
		"pwdReset", "pwdChangedTime", "pwdPolicySubentry", "pwdLastSuccess", "authTimestamp", "memberOf"}
}

func (openLDAP) account(e *ldap.Entry) Account {
	name := e.GetAttributeValue("displayName")
	if name == "" {
		name = e.GetAttributeValue("cn")
	}
	return Account{DN: e.DN, Login: e.GetAttributeValue("uid"), Mail: e.GetAttributeValue("mail"),
		DisplayName: name, Flavor: FlavorOpenLDAP}
}

// parseGeneralizedTime reads the forms slapd writes: 20060102150405Z and
// 20060102150405.999999Z.
func parseGeneralizedTime(s string) (time.Time, bool) {
	for _, layout := range []string{"20060102150405Z", "20060102150405.999999Z", "200601021504Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (openLDAP) status(e *ldap.Entry, pol ppolicy, now time.Time) AccountStatus {
	st := AccountStatus{DN: e.DN, Flavor: FlavorOpenLDAP}
	lockedRaw := e.GetAttributeValue("pwdAccountLockedTime")
	switch {
	case lockedRaw == ppolicyPermanentLock:
		st.Disabled = true
	case lockedRaw != "":
		at, ok := parseGeneralizedTime(lockedRaw)
		st.Locked = true
		if ok {
			st.LockedAt = rfc3339(at)
			if pol.known && pol.lockoutDuration > 0 && !now.Before(at.Add(pol.lockoutDuration)) {
				st.Locked = false // expired; slapd clears it at the next good bind
			}
		}
	}
	st.PasswordMustChange = strings.EqualFold(e.GetAttributeValue("pwdReset"), "TRUE")
	st.FailedAttempts = len(e.GetAttributeValues("pwdFailureTime"))
	if changed, ok := parseGeneralizedTime(e.GetAttributeValue("pwdChangedTime")); ok {
		st.PasswordChangedAt = rfc3339(changed)
		if pol.known && pol.maxAge > 0 {
			st.PasswordExpiresAt = rfc3339(changed.Add(pol.maxAge))
		}
	}
	st.PasswordNeverExp = pol.known && pol.maxAge == 0
	for _, a := range []string{"pwdLastSuccess", "authTimestamp"} {
		if t, ok := parseGeneralizedTime(e.GetAttributeValue(a)); ok {
			st.LastLogonAt = rfc3339(t)
			break
		}
	}
	return st
}

// decodePolicy reads a pwdPolicy entry; seconds attributes that do not parse count as unknown.
func decodePolicy(e *ldap.Entry) ppolicy {
	p := ppolicy{known: true}
	for attr, dst := range map[string]*time.Duration{"pwdLockoutDuration": &p.lockoutDuration, "pwdMaxAge": &p.maxAge} {
		v := e.GetAttributeValue(attr)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return ppolicy{}
		}
		*dst = time.Duration(n) * time.Second
	}
	return p
}

func (openLDAP) unlock(dn string) *ldap.ModifyRequest {
	// Only pwdAccountLockedTime: pwdFailureTime is NO-USER-MODIFICATION and
	// would fail the whole modify; slapd drops it with the lock.
	m := ldap.NewModifyRequest(dn, nil)
	m.Delete("pwdAccountLockedTime", nil)
	return m
}

func (openLDAP) alreadyUnlocked(err error) bool {
	return ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute)
}

func (openLDAP) bindControls() []ldap.Control {
	return []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
}

// classifyBind reads the ppolicy response control, which go-ldap returns with
// the error as well as on success.
func (openLDAP) classifyBind(res *ldap.SimpleBindResult, err error) (string, error) {
	ppErr := int8(-1)
	if res != nil {
		if c, ok := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy); ok {
			ppErr = c.Error
		}
	}
	return classifyPPolicy(ppErr, err)
}

func classifyPPolicy(ppErr int8, err error) (string, error) {
	if err == nil {
		if ppErr == ldap.BeheraChangeAfterReset {
			return OutcomeMustChange, nil
		}
		return OutcomeOK, nil
	}
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return "", err
	}
	switch ppErr {
	case ldap.BeheraAccountLocked:
		return OutcomeLocked, nil
	case ldap.BeheraPasswordExpired:
		return OutcomePasswordExpired, nil
	}
	return OutcomeInvalid, nil
}

func (openLDAP) groupFilter(dn string) string {
	d := ldap.EscapeFilter(dn)
	return fmt.Sprintf("(|(&(objectClass=groupOfNames)(member=%s))(&(objectClass=groupOfUniqueNames)(uniqueMember=%s)))", d, d)
}

func (openLDAP) personFilter() string { return "(|(objectClass=person)(objectClass=posixAccount))" }

// memberOfFilter relies on a memberOf overlay: slapo-dynlist
// (member+memberOf@groupOfNames*) makes it transitive, slapo-memberof direct.
func (openLDAP) memberOfFilter(group string) string {
	return "(memberOf=" + ldap.EscapeFilter(group) + ")"
}
