package ldapdir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// How a user is named in params.
const (
	ByLogin = "login" // uid on OpenLDAP; sAMAccountName, or userPrincipalName when it holds '@', on AD
	ByMail  = "mail"
	ByDN    = "dn"
)

// Decoder bounds (the SDK's schema check runs first; these hold without it).
const (
	maxParamsBytes   = 64 << 10
	maxUserLen       = 1024
	maxProtectGroups = 32
)

// userRef names one account.
type userRef struct {
	User string `json:"user"`
	By   string `json:"by"` // "" means login
}

// guardedRef is a user plus the groups whose members the call must refuse to touch.
type guardedRef struct {
	userRef
	RefuseIfMemberOf []string `json:"refuse_if_member_of"`
}

// resetParams are reset_password's params.
type resetParams struct {
	guardedRef
	MustChange *bool `json:"must_change"` // nil: true
	Unlock     bool  `json:"unlock"`
	Length     int   `json:"length"` // 0: Config.PasswordLength
}

// decodeParams strictly decodes params into dst (unknown keys, trailing data
// and oversize input are errors) and checks the fields every op shares.
func decodeParams(raw []byte, dst any) error {
	if len(raw) > maxParamsBytes {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrBadParams, len(raw), maxParamsBytes)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %v", ErrBadParams, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the params object", ErrBadParams)
	}
	var ref *userRef
	var guard *guardedRef
	switch v := dst.(type) {
	case *userRef:
		ref = v
	case *guardedRef:
		ref, guard = &v.userRef, v
	case *resetParams:
		ref, guard = &v.userRef, &v.guardedRef
		if v.Length != 0 && (v.Length < MinPasswordLength || v.Length > MaxPasswordLength) {
			return fmt.Errorf("%w: length must be %d..%d", ErrBadParams, MinPasswordLength, MaxPasswordLength)
		}
	default:
		return fmt.Errorf("%w: no decoder for %T", ErrBadParams, dst)
	}
	if err := ref.check(); err != nil {
		return err
	}
	if guard != nil {
		if len(guard.RefuseIfMemberOf) > maxProtectGroups {
			return fmt.Errorf("%w: refuse_if_member_of has more than %d groups", ErrBadParams, maxProtectGroups)
		}
		for _, g := range guard.RefuseIfMemberOf {
			if g == "" || len(g) > maxUserLen || !utf8.ValidString(g) {
				return fmt.Errorf("%w: refuse_if_member_of holds an empty, overlong or non-UTF-8 DN", ErrBadParams)
			}
		}
	}
	return nil
}

func (r *userRef) check() error {
	if r.By == "" {
		r.By = ByLogin
	}
	switch r.By {
	case ByLogin, ByMail, ByDN:
	default:
		return fmt.Errorf("%w: by must be login, mail or dn", ErrBadParams)
	}
	if r.User == "" || len(r.User) > maxUserLen || !utf8.ValidString(r.User) {
		return fmt.Errorf("%w: user must be 1..%d bytes of UTF-8", ErrBadParams, maxUserLen)
	}
	return nil
}
