// Package ldapdir implements the directory plugin (sdk.Plugin): account
// operations against OpenLDAP (ppolicy overlay) and Active Directory over
// LDAPS or StartTLS with github.com/go-ldap/ldap/v3.
//
// Operations: directory.find_user, directory.get_account_status,
// directory.unlock_account, directory.reset_password,
// directory.verify_credentials and directory.list_groups. Every call gets its
// target and service account in sdk.Credentials (url, bind_dn,
// bind_password, base_dn, ca_pem, flavor=openldap|ad, optional server_name);
// the plugin keeps no connection or credential between calls.
//
// Secrets: a generated password travels only in Result.Secrets["password"];
// the password to verify arrives only in Credentials["user_password"]. Neither
// appears in Output, Observations, logs or errors.
//
// The flavor-specific attribute logic (ppolicy's pwdAccountLockedTime and
// pwdReset, AD's userAccountControl, lockoutTime, pwdLastSet and unicodePwd)
// lives behind the small dialect interface in openldap.go and ad.go.
package ldapdir
