package ldapdir

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// Keys of sdk.Credentials the plugin reads.
const (
	CredURL          = "url"           // ldaps://host[:636] or ldap://host[:389] (StartTLS)
	CredBindDN       = "bind_dn"       // service account: DN, or user@domain / DOMAIN\user on AD
	CredBindPassword = "bind_password" // service account password
	CredBaseDN       = "base_dn"       // subtree the plugin may act in
	CredCAPEM        = "ca_pem"        // CA certificate(s) to trust; empty: system roots
	CredFlavor       = "flavor"        // openldap | ad
	CredServerName   = "server_name"   // optional TLS name when the URL host is not in the certificate
	CredTLS          = "tls"           // optional: "none" (test-only, needs Config.InsecureAllowPlainLDAP)
	CredUserPassword = "user_password" // verify_credentials only: the password to try
	CredPPolicyDN    = "ppolicy_dn"    // optional, OpenLDAP: the default pwdPolicy entry (lockout duration, max age)
)

// credentialSpec declares the keys above to the runner, which refuses to
// start the plugin when its credentials section lacks a required one.
// TestCredentialDeclaration checks it against what parseCredentials and
// the operations read.
func credentialSpec() *sdk.CredentialSpec {
	return &sdk.CredentialSpec{Keys: []sdk.CredentialKey{
		{Name: CredURL, Required: true, Description: "directory address: ldaps://host[:636], or ldap://host[:389] for StartTLS"},
		{Name: CredBindDN, Required: true, Description: "service account: a DN, or user@domain / DOMAIN\\user on Active Directory"},
		{Name: CredBindPassword, Required: true, Description: "the service account's password"},
		{Name: CredBaseDN, Required: true, Description: "the subtree the plugin may act in, e.g. ou=people,dc=example,dc=com"},
		{Name: CredFlavor, Required: true, Description: "openldap or ad"},
		{Name: CredCAPEM, Description: "PEM CA certificate(s) to trust for TLS; empty: the system roots"},
		{Name: CredServerName, Description: "TLS server name when the URL's host is not in the certificate"},
		{Name: CredTLS, Description: "\"none\" for plain LDAP (tests only; the plugin must allow it)"},
		{Name: CredPPolicyDN, Description: "OpenLDAP: DN of the default pwdPolicy entry (lockout duration, password age)"},
		{Name: CredUserPassword, Description: "verify_credentials only, per call: the password to try (the runner passes a goal's new password instead)"},
	}}
}

// Flavors of directory.
const (
	FlavorOpenLDAP = "openldap"
	FlavorAD       = "ad"
)

// Bounds on credential values (a decoder bound, not a policy).
const (
	maxCredLen = 64 << 10
	maxPEMLen  = 256 << 10
)

// target is one call's parsed credentials.
type target struct {
	scheme     string // ldaps | ldap
	hostport   string
	serverName string
	plain      bool // no TLS at all (test-only)
	roots      *x509.CertPool
	bindDN     string
	bindPW     string
	base       *ldap.DN
	baseDN     string
	flavor     string
	ppolicyDN  string
}

// parseCredentials validates creds. Its errors name the key to fix and never
// echo a password.
// Every key is read through sdk.Credentials.Get, so that the declaration
// test (TestCredentialDeclaration) sees what the plugin reads.
func parseCredentials(ctx context.Context, creds sdk.Credentials, allowPlain bool) (target, error) {
	var t target
	for k, v := range creds {
		limit := maxCredLen
		if k == CredCAPEM {
			limit = maxPEMLen
		}
		if len(v) > limit {
			return t, fmt.Errorf("%w: %q is longer than %d bytes", ErrBadCredentials, k, limit)
		}
	}
	raw := creds.Get(ctx, CredURL)
	if raw == "" && creds.Get(ctx, CredBindDN) == "" && creds.Get(ctx, CredBindPassword) == "" {
		// The runner hands empty credentials when its credentials file has
		// no section for this plugin.
		return t, fmt.Errorf("%w: %q, %q, %q, %q and %q are missing; add a \"directory\" section with them to the runner's credentials file (credentials_file)",
			ErrBadCredentials, CredURL, CredBindDN, CredBindPassword, CredBaseDN, CredFlavor)
	}
	if raw == "" {
		return t, fmt.Errorf("%w: %q is missing; give ldaps://host or ldap://host (StartTLS)", ErrBadCredentials, CredURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return t, fmt.Errorf("%w: %q must look like ldaps://host[:port]", ErrBadCredentials, CredURL)
	}
	t.scheme = strings.ToLower(u.Scheme)
	port := u.Port()
	switch t.scheme {
	case "ldaps":
		if port == "" {
			port = "636"
		}
	case "ldap":
		if port == "" {
			port = "389"
		}
	default:
		return t, fmt.Errorf("%w: %q scheme %q is not ldaps or ldap", ErrBadCredentials, CredURL, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return t, fmt.Errorf("%w: %q has no host", ErrBadCredentials, CredURL)
	}
	t.hostport = net.JoinHostPort(host, port)
	t.serverName = host
	if sn := creds.Get(ctx, CredServerName); sn != "" {
		t.serverName = sn
	}
	switch mode := creds.Get(ctx, CredTLS); mode {
	case "":
	case "none":
		if t.scheme != "ldap" {
			return t, fmt.Errorf("%w: %q=none needs an ldap:// url", ErrBadCredentials, CredTLS)
		}
		if !allowPlain {
			return t, fmt.Errorf("%w: %q=none; use ldaps:// or ldap:// with StartTLS", ErrPlainLDAP, CredTLS)
		}
		t.plain = true
	default:
		return t, fmt.Errorf("%w: %q must be empty or \"none\"", ErrBadCredentials, CredTLS)
	}
	if pem := creds.Get(ctx, CredCAPEM); pem != "" {
		t.roots = x509.NewCertPool()
		if !t.roots.AppendCertsFromPEM([]byte(pem)) {
			return t, fmt.Errorf("%w: %q holds no PEM certificate", ErrBadCredentials, CredCAPEM)
		}
	}
	t.bindDN, t.bindPW = creds.Get(ctx, CredBindDN), creds.Get(ctx, CredBindPassword)
	if t.bindDN == "" || t.bindPW == "" {
		return t, fmt.Errorf("%w: %q and %q are required (the service account)", ErrBadCredentials, CredBindDN, CredBindPassword)
	}
	t.baseDN = creds.Get(ctx, CredBaseDN)
	t.base, err = ldap.ParseDN(t.baseDN)
	if err != nil || t.baseDN == "" {
		return t, fmt.Errorf("%w: %q is not a DN (e.g. dc=example,dc=com)", ErrBadCredentials, CredBaseDN)
	}
	t.flavor = creds.Get(ctx, CredFlavor)
	if t.flavor != FlavorOpenLDAP && t.flavor != FlavorAD {
		return t, fmt.Errorf("%w: %q must be %q or %q", ErrBadCredentials, CredFlavor, FlavorOpenLDAP, FlavorAD)
	}
	t.ppolicyDN = creds.Get(ctx, CredPPolicyDN)
	if t.ppolicyDN != "" {
		if _, err := ldap.ParseDN(t.ppolicyDN); err != nil {
			return t, fmt.Errorf("%w: %q is not a DN", ErrBadCredentials, CredPPolicyDN)
		}
	}
	return t, nil
}

// within reports whether dn lies in the target's base (or is the base).
func (t target) within(dn string) bool {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return false
	}
	return t.base.EqualFold(d) || t.base.AncestorOfFold(d)
}
