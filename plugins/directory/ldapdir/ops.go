package ldapdir

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

func (p *Plugin) findUser(_ context.Context, c *call) (sdk.Result, error) {
	ref := *c.params.(*userRef)
	e, err := p.resolve(c, ref)
	if err != nil {
		return sdk.Result{}, err
	}
	return output(c.d.account(e), obs("directory.dn", e.DN))
}

func (p *Plugin) getAccountStatus(_ context.Context, c *call) (sdk.Result, error) {
	ref := *c.params.(*userRef)
	e, err := p.resolve(c, ref)
	if err != nil {
		return sdk.Result{}, err
	}
	st := p.status(c, e)
	return output(st, obs("directory.dn", e.DN), obs("directory.locked", strconv.FormatBool(st.Locked)),
		obs("directory.disabled", strconv.FormatBool(st.Disabled)))
}

func (p *Plugin) unlockAccount(_ context.Context, c *call) (sdk.Result, error) {
	g := *c.params.(*guardedRef)
	e, err := p.resolveGuarded(c, g)
	if err != nil {
		return sdk.Result{}, err
	}
	before := p.status(c, e)
	if before.Disabled && c.t.flavor == FlavorOpenLDAP {
		return sdk.Result{}, fmt.Errorf("%w: %s carries an administrative lock (pwdAccountLockedTime %s); "+
			"unlock_account does not enable disabled accounts: ask a directory administrator", ErrAccountDisabled, e.DN, ppolicyPermanentLock)
	}
	if err := c.s.Modify(c.d.unlock(e.DN)); err != nil && !c.d.alreadyUnlocked(err) {
		return sdk.Result{}, fmt.Errorf("%w: unlock %s: %s; check the service account may write the lockout attributes", ErrDirectory, e.DN, ldapMessage(err))
	}
	after, err := p.reread(c, e.DN)
	if err != nil {
		return sdk.Result{}, err
	}
	st := p.status(c, after)
	return output(map[string]any{"dn": e.DN, "was_locked": before.Locked, "locked": st.Locked},
		obs("directory.dn", e.DN), obs("directory.was_locked", strconv.FormatBool(before.Locked)))
}

func (p *Plugin) resetPassword(_ context.Context, c *call) (sdk.Result, error) {
	rp := *c.params.(*resetParams)
	mustChange := rp.MustChange == nil || *rp.MustChange
	length := rp.Length
	if length == 0 {
		length = p.cfg.PasswordLength
	}
	e, err := p.resolveGuarded(c, rp.guardedRef)
	if err != nil {
		return sdk.Result{}, err
	}
	before := p.status(c, e)
	pw, err := generatePassword(length)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("%w: %v; the system's random source failed, retry later", ErrDirectory, err)
	}
	var unlocked bool
	switch c.t.flavor {
	case FlavorAD:
		if err := c.s.Modify(adResetRequest(e.DN, pw, mustChange, rp.Unlock)); err != nil {
			return sdk.Result{}, fmt.Errorf("%w: reset password of %s: %s; check the domain's password policy and "+
				"that the service account has the Reset Password right", ErrDirectory, e.DN, ldapMessage(err))
		}
		unlocked = rp.Unlock && before.Locked
	default:
		if before.Disabled {
			return sdk.Result{}, fmt.Errorf("%w: %s carries an administrative lock; a reset would lift it: ask a directory administrator",
				ErrAccountDisabled, e.DN)
		}
		// The Password Modify exop hashes with the server's password-hash;
		// a plain replace of userPassword may be stored in clear.
		if _, err := c.s.PasswordModify(ldap.NewPasswordModifyRequest(e.DN, "", pw)); err != nil {
			return sdk.Result{}, fmt.Errorf("%w: reset password of %s: %s; check the service account may write userPassword",
				ErrDirectory, e.DN, ldapMessage(err))
		}
		// A service account with 'write' (not 'manage') on userPassword does
		// not get pwdReset set by slapd; set it explicitly either way.
		m := ldap.NewModifyRequest(e.DN, nil)
		m.Replace("pwdReset", []string{strings.ToUpper(strconv.FormatBool(mustChange))})
		if err := c.s.Modify(m); err != nil {
			// The password is set: hand it over, report that must-change is not.
			p.log.Warn("password reset without must-change", "dn", e.DN, "error", ldapMessage(err))
			mustChange = false
		}
		unlocked = before.Locked // a password change clears ppolicy's lock
	}
	res, err := output(map[string]any{"dn": e.DN, "must_change": mustChange, "unlocked": unlocked, "secret": SecretPassword},
		obs("directory.dn", e.DN), obs("directory.must_change", strconv.FormatBool(mustChange)))
	if err != nil {
		return sdk.Result{}, err
	}
	res.Secrets = map[string]string{SecretPassword: pw}
	return res, nil
}

func (p *Plugin) verifyCredentials(ctx context.Context, c *call) (sdk.Result, error) {
	ref := *c.params.(*userRef)
	pw := c.creds.Get(ctx, CredUserPassword) // non-empty: Execute checked it
	e, err := p.resolve(c, ref)
	if err != nil {
		return sdk.Result{}, err
	}
	us, err := p.dial(ctx, c.t)
	if err != nil {
		return sdk.Result{}, err
	}
	defer us.close()
	bres, berr := us.SimpleBind(ldap.NewSimpleBindRequest(e.DN, pw, c.d.bindControls()))
	outcome, err := c.d.classifyBind(bres, berr)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("%w: bind as %s: %s", ErrDirectory, e.DN, ldapMessage(err))
	}
	valid := outcome == OutcomeOK || outcome == OutcomeMustChange
	return output(map[string]any{"dn": e.DN, "valid": valid, "outcome": outcome},
		obs("directory.dn", e.DN), obs("directory.bind_outcome", outcome))
}
