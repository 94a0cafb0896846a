// Package enroll is the runner's side of enrollment: it reads a one-time
// token, makes the site's key pair locally, sends a certificate request to
// the control plane whose CA the token pins, and keeps the returned
// certificate; it renews the certificate before it expires.
//
// The private key never leaves the machine. The token format is the one
// control-plane/enroll documents (version 1, prefix "swt1_"); this package
// only decodes it.
//
// Files in the state directory: site-key.pem (mode 0600), site-cert.pem,
// ca.pem and enrollment.json (control plane address and CA pin).
package enroll
