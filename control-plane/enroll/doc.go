// Package enroll is the control plane's side of enrollment: its certificate
// authority (CA), one-time enrollment tokens, and the HTTPS endpoint that
// turns a token and a certificate request into a site certificate.
//
// A site certificate names its tenant, client and site in a URI SAN
// (sitewarden://tenant/client/site, see IdentityFromCert); the sync server
// authorizes by that name only.
//
// Tokens use protocol.Token's format (version 1, prefix "swt1_"), shared
// with the runner. The control plane stores only SHA-256(secret); the other
// fields are hints for the runner and for people, never trusted by the
// control plane. Enrollment requires the site's audit public key and
// stores it with the site (store.Site.AuditKey).
package enroll
