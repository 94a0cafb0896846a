// Package sync is the runner's end of sync with the control plane: one QUIC
// connection (ALPN protocol.ALPN, TLS 1.3, the site certificate from
// enrollment, the control plane's CA pinned), kept up with jittered
// exponential backoff.
//
// Client.Run opens the control stream (Hello, Welcome, then Heartbeats up
// and Notify pushes down) and runs each transfer on its own stream: scope
// bundle fetch (handed to a Scope, which verifies it before use), goal and
// approval-decision fetches from a resumable cursor (handed to an Inbox,
// which applies each once), and the Outbox flush: every upstream item
// (escalation, approval request, outcome) leaves the outbox only when the
// control plane acknowledged a durable write. Audit batches go up through a
// Witness when one is configured.
//
// While the control plane is unreachable nothing is lost: items wait in the
// outbox, and the runner keeps working under its last verified scope.
// docs/sync.md describes the protocol.
package sync
