// Package enroll is the runner's side of enrollment: it reads a one-time
// token, makes the site's key pair locally, sends a certificate request to
// the control plane whose CA the token pins, and keeps the returned
// certificate; it renews the certificate before it expires.
//
// The private key never leaves the machine. The token format is
// protocol.Token's (version 1, prefix "swt1_"), shared with the control
// plane. Enrollment also sends the public half of the site's audit key
// (LoadOrCreateAuditKey), with which the control plane verifies the site's
// audit checkpoints.
//
// Files in the state directory: site-key.pem (mode 0600), site-cert.pem,
// ca.pem, scope-key.pub, enrollment.json (control plane address and CA
// pin) and audit.key (mode 0600).
package enroll
