package ldapdir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// activeDirectory speaks Active Directory (and Samba AD DC).
type activeDirectory struct{}

// userAccountControl and msDS-User-Account-Control-Computed bits.
const (
	uacAccountDisable      = 0x0002
	uacLockout             = 0x0010 // only meaningful in the computed attribute
	uacDontExpirePassword  = 0x10000
	uacPasswordExpired     = 0x800000 // computed: must change (pwdLastSet=0) or expired
	adNeverExpires         = math.MaxInt64
	oidMatchingRuleInChain = "1.2.840.113556.1.4.1941"
)

func (activeDirectory) userFilter(by, value string) string {
	v := ldap.EscapeFilter(value)
	var f string
	switch {
	case by == ByMail:
		f = "(mail=" + v + ")"
	case strings.Contains(value, "@"):
		f = "(userPrincipalName=" + v + ")"
	default:
		f = "(sAMAccountName=" + v + ")"
	}
	return "(&(objectCategory=person)(objectClass=user)" + f + ")"
}

func (activeDirectory) userAttrs() []string {
	return []string{"sAMAccountName", "userPrincipalName", "mail", "displayName", "cn",
		"userAccountControl", "msDS-User-Account-Control-Computed", "lockoutTime", "pwdLastSet",
		"msDS-UserPasswordExpiryTimeComputed", "lastLogon", "lastLogonTimestamp", "badPwdCount", "memberOf"}
}

func (activeDirectory) account(e *ldap.Entry) Account {
	name := e.GetAttributeValue("displayName")
	if name == "" {
		name = e.GetAttributeValue("cn")
	}
	return Account{DN: e.DN, Login: e.GetAttributeValue("sAMAccountName"), Mail: e.GetAttributeValue("mail"),
		DisplayName: name, Flavor: FlavorAD}
}

// filetimeEpochDelta is 1601-01-01 to 1970-01-01 in 100 ns units.
const filetimeEpochDelta = 116444736000000000

// fromFiletime converts an AD FILETIME (100 ns since 1601 UTC). 0 and
// MaxInt64 ("never") give the zero time.
func fromFiletime(ft int64) time.Time {
	if ft <= 0 || ft == adNeverExpires {
		return time.Time{}
	}
	d := ft - filetimeEpochDelta
	return time.Unix(d/1e7, (d%1e7)*100).UTC()
}

// toFiletime is fromFiletime's inverse (for tests and clocks).
func toFiletime(t time.Time) int64 {
	return t.UnixNano()/100 + filetimeEpochDelta
}

func attrInt(e *ldap.Entry, name string) (int64, bool) {
	v := e.GetAttributeValue(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

func (activeDirectory) status(e *ldap.Entry, _ ppolicy, _ time.Time) AccountStatus {
	st := AccountStatus{DN: e.DN, Flavor: FlavorAD}
	uac, _ := attrInt(e, "userAccountControl")
	computed, hasComputed := attrInt(e, "msDS-User-Account-Control-Computed")
	lockout, _ := attrInt(e, "lockoutTime")
	st.Disabled = uac&uacAccountDisable != 0
	// lockoutTime stays set after the lockout duration passes, until the next
	// good bind: the computed bit is the truth, lockoutTime only a fallback.
	if hasComputed {
		st.Locked = computed&uacLockout != 0
	} else {
		st.Locked = lockout > 0
	}
	if st.Locked {
		st.LockedAt = rfc3339(fromFiletime(lockout))
	}
	pwdLastSet, hasLastSet := attrInt(e, "pwdLastSet")
	st.PasswordNeverExp = uac&uacDontExpirePassword != 0
	st.PasswordMustChange = hasLastSet && pwdLastSet == 0 && !st.PasswordNeverExp
	if hasComputed && computed&uacPasswordExpired != 0 && pwdLastSet == 0 {
		st.PasswordMustChange = true
	}
	st.PasswordChangedAt = rfc3339(fromFiletime(pwdLastSet))
	if exp, ok := attrInt(e, "msDS-UserPasswordExpiryTimeComputed"); ok && !st.PasswordNeverExp {
		if exp == adNeverExpires {
			st.PasswordNeverExp = true
		} else {
			st.PasswordExpiresAt = rfc3339(fromFiletime(exp))
		}
	}
	// lastLogon is per DC and exact; lastLogonTimestamp replicates, ~14 days late. Take the later.
	ll, _ := attrInt(e, "lastLogon")
	llt, _ := attrInt(e, "lastLogonTimestamp")
	st.LastLogonAt = rfc3339(fromFiletime(max(ll, llt)))
	if n, ok := attrInt(e, "badPwdCount"); ok && n >= 0 && n < 1<<31 {
		st.FailedAttempts = int(n)
	}
	return st
}

func (activeDirectory) unlock(dn string) *ldap.ModifyRequest {
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace("lockoutTime", []string{"0"})
	return m
}

func (activeDirectory) alreadyUnlocked(error) bool { return false }

// encodeUnicodePwd renders a password as AD's unicodePwd value: the password
// in double quotes, UTF-16LE.
func encodeUnicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// adResetRequest sets a new password, and in the same modify (atomic) forces a
// change at next logon and clears a lockout when asked to.
func adResetRequest(dn, pw string, mustChange, unlock bool) *ldap.ModifyRequest {
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace("unicodePwd", []string{encodeUnicodePwd(pw)})
	if mustChange {
		m.Replace("pwdLastSet", []string{"0"})
	}
	if unlock {
		m.Replace("lockoutTime", []string{"0"})
	}
	return m
}

func (activeDirectory) bindControls() []ldap.Control { return nil }

// adDataCode finds the sub-code in "80090308: LdapErr: ..., data 775, v1db1".
var adDataCode = regexp.MustCompile(`\bdata ([0-9a-fA-F]{3,8})\b`)

func (activeDirectory) classifyBind(_ *ldap.SimpleBindResult, err error) (string, error) {
	if err == nil {
		return OutcomeOK, nil
	}
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return "", err
	}
	var le *ldap.Error
	msg := err.Error()
	if errors.As(err, &le) && le.Err != nil {
		msg = le.Err.Error()
	}
	return classifyADData(msg), nil
}

// classifyADData maps the "data XXX" of an AD bind failure (49).
func classifyADData(msg string) string {
	m := adDataCode.FindStringSubmatch(msg)
	if m == nil {
		return OutcomeInvalid
	}
	switch strings.ToLower(m[1]) {
	case "775":
		return OutcomeLocked
	case "773":
		return OutcomeMustChange
	case "533":
		return OutcomeDisabled
	case "701":
		return OutcomeAccountExpired
	case "532":
		return OutcomePasswordExpired
	case "530", "531":
		return OutcomeRestricted
	}
	return OutcomeInvalid // 52e, 525 (no such user) and anything else
}

func (activeDirectory) groupFilter(dn string) string {
	return fmt.Sprintf("(&(objectClass=group)(member:%s:=%s))", oidMatchingRuleInChain, ldap.EscapeFilter(dn))
}

func (activeDirectory) personFilter() string { return "(&(objectCategory=person)(objectClass=user))" }

func (activeDirectory) memberOfFilter(group string) string {
	return fmt.Sprintf("(memberOf:%s:=%s)", oidMatchingRuleInChain, ldap.EscapeFilter(group))
}
