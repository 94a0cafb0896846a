// Package metrics serves the control plane's Prometheus metrics: sites
// connected, sync lag, items received, and the supervisors' queue sizes
// (escalations open, approvals pending, samples ungraded, scope proposals
// pending). It is the only package that imports the Prometheus client.
//
// The metrics listen on their own address (off unless configured), plain
// HTTP on loopback by default; any other address needs a bearer token, so
// queue sizes and client names never reach an unauthenticated network
// peer. docs/api.md, "Metrics", describes both.
package metrics
