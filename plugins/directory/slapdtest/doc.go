// Package slapdtest starts a throwaway OpenLDAP server (Debian slapd 2.5 with
// the ppolicy and dynlist overlays) on 127.0.0.1 for tests: its own scratch
// directory, certificates, configuration and users, LDAPS and StartTLS
// listeners, and a least-privilege service account. It is importable from any
// package's tests (the directory plugin's and, later, end-to-end scenarios).
//
// It needs /usr/sbin/slapd, /usr/sbin/slapadd and openssl (Debian packages
// slapd and openssl, installed by .ci/deps.sh); when they are missing, Start
// fails the test loudly instead of skipping it.
package slapdtest
