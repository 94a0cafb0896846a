package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/sitewarden/sitewarden/policies"
	audit "github.com/sitewarden/sitewarden/protocol/audit"
)

// audit appends one record for this goal and returns its index. A failure
// marks the run's log as broken: the caller must not run what the record
// announced (fail closed).
func (r *run) audit(ctx context.Context, kind audit.Kind, actor string, payload map[string]any) (uint64, error) {
	if r.logBroken {
		return 0, fmt.Errorf("%w: an earlier record failed", ErrAuditUnavailable)
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		r.logBroken = true
		return 0, fmt.Errorf("%w: encode %s record: %v", ErrAuditUnavailable, kind, err)
	}
	idx, err := r.a.d.Audit.Append(ctx, audit.Record{
		Kind: kind, Time: r.a.d.Now(), Client: r.goal.Client, Site: r.a.cfg.Site,
		Agent: r.goal.Agent, GoalID: r.goal.ID, Actor: actor, Payload: raw,
	})
	if err != nil {
		r.logBroken = true
		return 0, fmt.Errorf("%w: %s record for goal %s: %v; nothing was run", ErrAuditUnavailable, kind, r.goal.ID, err)
	}
	return idx, nil
}

func (r *run) auditDecision(ctx context.Context, action string, params json.RawMessage, d policies.Decision) (uint64, error) {
	p := map[string]any{"effect": string(d.Effect), "rule": d.Rule, "reason": d.Reason, "mode": string(d.Mode)}
	if action != "" {
		p["action"] = action
		p["params"] = params
	}
	return r.audit(ctx, audit.KindPolicyDecision, "policy", p)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// secretDigests maps each secret's key to its digest, for audit payloads.
func secretDigests(secrets map[string]string) map[string]string {
	if len(secrets) == 0 {
		return nil
	}
	out := make(map[string]string, len(secrets))
	for k, v := range secrets {
		out[k] = audit.SecretDigest([]byte(v))
	}
	return out
}
