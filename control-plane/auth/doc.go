// Package auth is the control plane's people and access: local accounts
// with argon2id passwords, roles and what each may do, server-side cookie
// sessions with CSRF tokens, API tokens for the CLI (hashed at rest, shown
// once), login rate limiting and the first-start admin setup link.
package auth
