// Package enroll is the control plane's side of enrollment: its certificate
// authority (CA), one-time enrollment tokens, and the HTTPS endpoint that
// turns a token and a certificate request into a site certificate.
//
// A site certificate names its tenant, client and site in a URI SAN
// (sitewarden://tenant/client/site, see IdentityFromCert); the sync server
// authorizes by that name only.
//
// Token format, version 1: "swt1_" followed by the unpadded base64url of a
// JSON object {"a": control plane address, "p": CA pin, "s": secret
// (base64url, 32 bytes), "c": client, "t": site, "e": expiry (Unix
// seconds)}. The pin is "sha256/" + base64url(SHA-256 of the CA's
// SubjectPublicKeyInfo). The control plane stores only SHA-256(secret); the
// other fields are hints for the runner and for people, never trusted by
// the control plane.
package enroll
