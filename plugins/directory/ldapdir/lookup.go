package ldapdir

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// searchTimeLimit is the server-side time limit, in seconds, of every search.
const searchTimeLimit = 15

// resolve finds exactly one user entry under the base.
func (p *Plugin) resolve(c *call, ref userRef) (*ldap.Entry, error) {
	var req *ldap.SearchRequest
	if ref.By == ByDN {
		if !c.t.within(ref.User) {
			return nil, fmt.Errorf("%w: %q is not under %q; give a DN inside the site's base_dn", ErrOutsideBase, ref.User, c.t.baseDN)
		}
		req = ldap.NewSearchRequest(ref.User, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, searchTimeLimit,
			false, c.d.personFilter(), c.d.userAttrs(), nil)
	} else {
		req = ldap.NewSearchRequest(c.t.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, searchTimeLimit,
			false, c.d.userFilter(ref.By, ref.User), c.d.userAttrs(), nil)
	}
	res, err := c.s.Search(req)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, fmt.Errorf("%w: no entry %q; check the DN", ErrUserNotFound, ref.User)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil && len(res.Entries) > 1:
		return nil, fmt.Errorf("%w: %s %q matches several accounts; use by=dn", ErrAmbiguousUser, ref.By, ref.User)
	case err != nil:
		return nil, fmt.Errorf("%w: search for %s %q: %s", ErrDirectory, ref.By, ref.User, ldapMessage(err))
	}
	switch len(res.Entries) {
	case 0:
		return nil, fmt.Errorf("%w: no account with %s %q under %q; check the spelling or search by another attribute",
			ErrUserNotFound, ref.By, ref.User, c.t.baseDN)
	case 1:
	default:
		return nil, fmt.Errorf("%w: %s %q matches %d accounts; use by=dn", ErrAmbiguousUser, ref.By, ref.User, len(res.Entries))
	}
	e := res.Entries[0]
	if !c.t.within(e.DN) {
		return nil, fmt.Errorf("%w: %q", ErrOutsideBase, e.DN)
	}
	return e, nil
}

// reread reads an entry again after a change.
func (p *Plugin) reread(c *call, dn string) (*ldap.Entry, error) {
	return p.resolve(c, userRef{User: dn, By: ByDN})
}

// resolveGuarded resolves the user and refuses it when it is a member of one
// of the groups the caller protects.
func (p *Plugin) resolveGuarded(c *call, g guardedRef) (*ldap.Entry, error) {
	e, err := p.resolve(c, g.userRef)
	if err != nil {
		return nil, err
	}
	for _, group := range g.RefuseIfMemberOf {
		member, err := p.isMember(c, e.DN, group)
		if err != nil {
			return nil, err
		}
		if member {
			return nil, fmt.Errorf("%w: %s is a member of %s; this needs a human with the right privileges", ErrPrivilegedUser, e.DN, group)
		}
	}
	return e, nil
}

// isMember reports whether user is in group, directly or (where the server
// computes it) through nesting. A protected group that does not exist is an
// error, so that a mistyped policy does not silently protect nobody.
func (p *Plugin) isMember(c *call, user, group string) (bool, error) {
	if _, err := ldap.ParseDN(group); err != nil {
		return false, fmt.Errorf("%w: refuse_if_member_of %q is not a DN", ErrBadParams, group)
	}
	res, err := c.s.Search(ldap.NewSearchRequest(group, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, searchTimeLimit,
		false, "(objectClass=*)", []string{"member", "uniqueMember"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || (err == nil && len(res.Entries) == 0) {
		return false, fmt.Errorf("%w: protected group %q does not exist or is not readable by the service account; fix the policy or the ACLs",
			ErrBadParams, group)
	}
	if err != nil {
		return false, fmt.Errorf("%w: read protected group %q: %s", ErrDirectory, group, ldapMessage(err))
	}
	ud, _ := ldap.ParseDN(user)
	for _, attr := range []string{"member", "uniqueMember"} {
		for _, v := range res.Entries[0].GetAttributeValues(attr) {
			if d, err := ldap.ParseDN(v); err == nil && d.EqualFold(ud) {
				return true, nil
			}
		}
	}
	res, err = c.s.Search(ldap.NewSearchRequest(user, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, searchTimeLimit,
		false, c.d.memberOfFilter(group), []string{"1.1"}, nil))
	if err != nil {
		return false, fmt.Errorf("%w: check membership of %s in %q: %s", ErrDirectory, user, group, ldapMessage(err))
	}
	return len(res.Entries) > 0, nil
}

// status decodes an entry, reading the OpenLDAP password policy it refers to.
func (p *Plugin) status(c *call, e *ldap.Entry) AccountStatus {
	var pol ppolicy
	if c.t.flavor == FlavorOpenLDAP {
		dn := e.GetAttributeValue("pwdPolicySubentry")
		if dn == "" {
			dn = c.t.ppolicyDN
		}
		if dn != "" {
			res, err := c.s.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, searchTimeLimit,
				false, "(objectClass=pwdPolicy)", []string{"pwdLockoutDuration", "pwdMaxAge"}, nil))
			if err == nil && len(res.Entries) == 1 {
				pol = decodePolicy(res.Entries[0])
			}
		}
	}
	return c.d.status(e, pol, p.cfg.Now())
}

// Group is one entry of list_groups' output.
type Group struct {
	DN   string `json:"dn"`
	Name string `json:"name"`
}

func (p *Plugin) listGroups(_ context.Context, c *call) (sdk.Result, error) {
	ref := *c.params.(*userRef)
	e, err := p.resolve(c, ref)
	if err != nil {
		return sdk.Result{}, err
	}
	groups := map[string]Group{}
	truncated := false
	res, err := c.s.Search(ldap.NewSearchRequest(c.t.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		p.cfg.MaxGroups, searchTimeLimit, false, c.d.groupFilter(e.DN), []string{"cn"}, nil))
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		truncated = true
	case err != nil:
		return sdk.Result{}, fmt.Errorf("%w: search groups of %s: %s", ErrDirectory, e.DN, ldapMessage(err))
	}
	if res != nil {
		for _, g := range res.Entries {
			groups[strings.ToLower(g.DN)] = Group{DN: g.DN, Name: g.GetAttributeValue("cn")}
		}
	}
	// memberOf adds what the member search cannot see (OpenLDAP dynlist nesting).
	for _, dn := range e.GetAttributeValues("memberOf") {
		if _, ok := groups[strings.ToLower(dn)]; !ok {
			groups[strings.ToLower(dn)] = Group{DN: dn, Name: firstRDNValue(dn)}
		}
	}
	list := make([]Group, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	slices.SortFunc(list, func(a, b Group) int { return strings.Compare(strings.ToLower(a.DN), strings.ToLower(b.DN)) })
	if len(list) > p.cfg.MaxGroups {
		list, truncated = list[:p.cfg.MaxGroups], true
	}
	return output(map[string]any{"dn": e.DN, "groups": list, "truncated": truncated},
		obs("directory.dn", e.DN), obs("directory.group_count", fmt.Sprint(len(list))))
}

func firstRDNValue(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return dn
	}
	return d.RDNs[0].Attributes[0].Value
}
