package ldapdir

import (
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Account identifies one user entry (find_user's output).
type Account struct {
	DN          string `json:"dn"`
	Login       string `json:"login"`
	Mail        string `json:"mail"`
	DisplayName string `json:"display_name"`
	Flavor      string `json:"flavor"`
}

// AccountStatus is get_account_status's output. Times are RFC 3339 UTC, ""
// when the directory does not record them.
type AccountStatus struct {
	DN                 string `json:"dn"`
	Flavor             string `json:"flavor"`
	Locked             bool   `json:"locked"`
	LockedAt           string `json:"locked_at"`
	Disabled           bool   `json:"disabled"`
	PasswordMustChange bool   `json:"password_must_change"`
	PasswordChangedAt  string `json:"password_changed_at"`
	PasswordExpiresAt  string `json:"password_expires_at"`
	PasswordNeverExp   bool   `json:"password_never_expires"`
	LastLogonAt        string `json:"last_logon_at"`
	FailedAttempts     int    `json:"failed_attempts"`
}

// Bind outcomes reported by verify_credentials.
const (
	OutcomeOK              = "ok"
	OutcomeMustChange      = "must_change" // password right, must be changed now
	OutcomeInvalid         = "invalid_credentials"
	OutcomeLocked          = "locked"
	OutcomeDisabled        = "disabled"
	OutcomeAccountExpired  = "account_expired"
	OutcomePasswordExpired = "password_expired"
	OutcomeRestricted      = "restricted" // logon hours or workstation restrictions (AD)
)

// bindOutcomes lists every outcome (the result schema's enum).
var bindOutcomes = []string{OutcomeOK, OutcomeMustChange, OutcomeInvalid, OutcomeLocked,
	OutcomeDisabled, OutcomeAccountExpired, OutcomePasswordExpired, OutcomeRestricted}

// dialect is what differs between OpenLDAP and Active Directory. Implementations
// hold no state.
type dialect interface {
	// userFilter is the search filter for a login or mail (value unescaped).
	userFilter(by, value string) string
	// userAttrs are the attributes account and status read.
	userAttrs() []string
	account(e *ldap.Entry) Account
	// status decodes the entry; pol carries the password policy where the
	// directory keeps it outside the entry (OpenLDAP), else the zero value.
	status(e *ldap.Entry, pol ppolicy, now time.Time) AccountStatus
	// unlock builds the modify that clears a lockout; alreadyUnlocked
	// reports whether err from it means "was not locked".
	unlock(dn string) *ldap.ModifyRequest
	alreadyUnlocked(err error) bool
	// bindControls are sent with a user's bind; classifyBind maps its answer.
	bindControls() []ldap.Control
	classifyBind(res *ldap.SimpleBindResult, err error) (string, error)
	// personFilter matches user entries (for a lookup by DN).
	personFilter() string
	// groupFilter finds the groups dn is a member of, transitively where the server can.
	groupFilter(dn string) string
	// memberOfFilter matches a user entry that is in group (transitively where the server can).
	memberOfFilter(group string) string
}

var (
	_ dialect = openLDAP{}
	_ dialect = activeDirectory{}
)

func dialectFor(flavor string) dialect {
	if flavor == FlavorAD {
		return activeDirectory{}
	}
	return openLDAP{}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
