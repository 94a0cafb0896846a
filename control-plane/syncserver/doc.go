// Package syncserver is the control plane's end of sync: a QUIC listener
// (ALPN protocol.ALPN, TLS 1.3, mutual certificates issued by the control
// plane's CA) that serves one connection per site.
//
// The first stream a runner opens is the control stream: Hello, answered
// by Welcome (the version protocol.Negotiate picks) or an Error of code
// UNSUPPORTED_VERSION, then Heartbeats up and Notify pushes down. Every
// other stream is one transfer, named by its first frame:
//
//   - ScopeRequest: the newest scope bundle of the client, or Error NOT_FOUND;
//   - Ack{stream: "goals"|"approvals", cursor}: the goal assignments or
//     approval decisions after cursor (at most Config.FetchLimit), then the
//     stream ends;
//   - Escalation, ApprovalRequest, Outcome (any number, in order): each is
//     written durably, then acknowledged with an Ack naming its id;
//   - AuditBatch: checkpoint signature verified with the audit key the site
//     sent at enrollment, checkpoint verified against the last one held
//     (consistency proof), records mirrored, countersigned, answered with a
//     CheckpointCosignature.
//
// Each connected site is served by one goroutine of this package (see
// Server.serveSession): it accepts transfer streams and drains the control
// stream's heartbeats once per heartbeat interval, so an idle site holds
// no reader goroutine and no buffer.
//
// Authorization uses the tenant, client and site in the peer certificate
// only: every read is scoped to them, every write filed under them, and a
// message naming another client or site is refused (ERROR_CODE_FORBIDDEN),
// logged, and not applied. docs/sync.md describes the protocol in full.
package syncserver
