package protocol

// Version is the newest wire protocol version this build speaks.
//
// History (a version is never changed after release; add a line instead):
//
//   - 1 (2026-11-26): first version. Hello/Welcome version negotiation,
//     Heartbeat with Health, Notify, ScopeBundle and ScopeRequest,
//     GoalAssignment, Escalation (goal, plan, attempts with observations,
//     suggested next step), ApprovalRequest/ApprovalDecision, Outcome,
//     AuditBatch with checkpoint and consistency proof,
//     CheckpointCosignature, Ack with resumable cursor, Error with code.
//     Frames: 1-byte type, 4-byte big-endian length, payload; 4 MiB default
//     maximum.
//   - 1, addition (2026-11-26): Goal.guidance (field 11), a supervisor's
//     guidance on a goal returned to the agent after an escalation; a peer
//     that does not know it ignores it.
const Version uint32 = 1

// MinVersion is the oldest wire protocol version this build still speaks.
const MinVersion uint32 = 1

// ALPN is the TLS application protocol name for sync connections.
const ALPN = "sitewarden/1"

// SupportedVersions lists the versions this build speaks, newest first.
func SupportedVersions() []uint32 {
	out := make([]uint32, 0, Version-MinVersion+1)
	for v := Version; v >= MinVersion; v-- {
		out = append(out, v)
	}
	return out
}

// Negotiate picks the highest version that both this build and the peer
// speak. ok is false when there is none.
func Negotiate(peer []uint32) (version uint32, ok bool) {
	for _, v := range peer {
		if v >= MinVersion && v <= Version && v > version {
			version, ok = v, true
		}
	}
	return version, ok
}
