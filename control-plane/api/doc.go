// Package api is the control plane's HTTP/JSON API for supervisors and the
// CLI: sites, escalations, approvals, goals, enrollment tokens, sessions,
// users and API tokens. Every route names the permission it needs; requests
// are decoded strictly (unknown fields are an error), lists are paginated
// and errors are JSON with a code and a hint. docs/api.md documents it.
package api
