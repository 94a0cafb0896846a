// Package sambatest runs throwaway Samba Active Directory domain controllers
// for tests. A Template is provisioned once per test binary (samba-tool
// domain provision into a scratch directory, own TLS certificates, lockout
// policy, seeded users and groups, and a least-privilege service account
// with delegated rights); each test then clones it and starts its own DC on
// its own loopback address (LDAP ports are fixed in Samba), in about a second.
//
// It needs the Debian packages samba, samba-ad-provision,
// samba-dsdb-modules, samba-vfs-modules and openssl (installed by
// .ci/deps.sh), and root (samba binds ports 389 and 636). When they are
// missing, NewTemplate returns an error that says so; tests fail loudly.
package sambatest
