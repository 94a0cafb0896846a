package goals

import (
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/policies"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	"github.com/sitewarden/sitewarden/runner/agent"
)

type protoMessage = proto.Message

func fromProtoGoal(g *pb.Goal) agent.Goal {
	out := agent.Goal{
		ID: g.GetGoalId(), Client: g.GetClientId(), Site: g.GetSiteId(), Agent: g.GetAgent(),
		Workflow: g.GetWorkflow(), Requester: g.GetRequester(), Subject: maps.Clone(g.GetSubject()),
		TicketText: g.GetTicketText(), Guidance: g.GetGuidance(),
	}
	if g.GetDeadline() != nil {
		out.Deadline = g.GetDeadline().AsTime()
	}
	return out
}

func toProtoGoal(g agent.Goal) *pb.Goal {
	out := &pb.Goal{GoalId: g.ID, ClientId: g.Client, SiteId: g.Site, Agent: g.Agent, Workflow: g.Workflow,
		Requester: g.Requester, Subject: maps.Clone(g.Subject), TicketText: g.TicketText, Guidance: g.Guidance}
	if !g.Deadline.IsZero() {
		out.Deadline = timestamppb.New(g.Deadline)
	}
	return out
}

var effects = map[policies.Effect]pb.Effect{
	policies.Allow: pb.Effect_EFFECT_ALLOW, policies.Deny: pb.Effect_EFFECT_DENY, policies.NeedsApproval: pb.Effect_EFFECT_NEEDS_APPROVAL,
}

func toProtoDecision(d policies.Decision) *pb.PolicyDecision {
	if d.Effect == "" {
		return nil
	}
	return &pb.PolicyDecision{Effect: effects[d.Effect], RuleId: d.Rule, Reason: d.Reason, Mode: string(d.Mode)}
}

func toProtoAttempts(steps []agent.Step) []*pb.Attempt {
	out := make([]*pb.Attempt, 0, len(steps))
	for _, s := range steps {
		a := &pb.Attempt{
			Step: uint32(s.N), Proposed: &pb.PlanStep{Action: s.Action, ParamsJson: s.Params, Rationale: s.Rationale},
			Decision: toProtoDecision(s.Decision), Status: string(s.Status), Error: s.Error, AuditIndex: s.AuditIndex,
		}
		if !s.Started.IsZero() {
			a.StartedAt = timestamppb.New(s.Started)
		}
		if !s.Finished.IsZero() {
			a.FinishedAt = timestamppb.New(s.Finished)
		}
		for _, o := range s.Observations {
			a.Observations = append(a.Observations, &pb.Observation{Key: o.Key, Value: o.Value, Redacted: o.Redacted})
		}
		if len(s.Output) > 0 {
			a.Observations = append(a.Observations, &pb.Observation{Key: "output", Value: string(s.Output)})
		}
		out = append(out, a)
	}
	return out
}

var statuses = map[agent.Status]pb.OutcomeStatus{
	agent.StatusResolved: pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, agent.StatusEscalated: pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED,
	agent.StatusDenied: pb.OutcomeStatus_OUTCOME_STATUS_DENIED, agent.StatusAwaitingApproval: pb.OutcomeStatus_OUTCOME_STATUS_AWAITING_APPROVAL,
	agent.StatusFailed: pb.OutcomeStatus_OUTCOME_STATUS_FAILED,
}

// toProtoOutcome never carries Outcome.Secrets: they are for the local
// requester only.
func toProtoOutcome(o agent.Outcome) *pb.Outcome {
	out := &pb.Outcome{GoalId: o.GoalID, Status: statuses[o.Status], Summary: o.Summary,
		Attempts: toProtoAttempts(o.Steps), Steps: uint32(len(o.Steps)), OutOfScopeProposals: uint32(o.OutOfScope)}
	if !o.Started.IsZero() {
		out.StartedAt = timestamppb.New(o.Started)
	}
	if !o.Finished.IsZero() {
		out.FinishedAt = timestamppb.New(o.Finished)
	}
	return out
}

func toProtoEscalation(g agent.Goal, o agent.Outcome) *pb.Escalation {
	e := &pb.Escalation{EscalationId: "esc-" + o.GoalID, Goal: toProtoGoal(g), Attempts: toProtoAttempts(o.Steps), Reason: o.Summary}
	plan := &pb.Plan{}
	for _, s := range o.Steps {
		if s.Action != "" {
			plan.Planner = s.Planner
			plan.Steps = append(plan.Steps, &pb.PlanStep{Action: s.Action, ParamsJson: s.Params, Rationale: s.Rationale})
		}
	}
	e.Plan = plan
	if o.Escalation != nil {
		e.Reason, e.SuggestedNextStep = o.Escalation.Reason, o.Escalation.SuggestedNextStep
	}
	if !o.Finished.IsZero() {
		e.RaisedAt = timestamppb.New(o.Finished)
	}
	return e
}

func toProtoApproval(r agent.ApprovalRequest) *pb.ApprovalRequest {
	target := make(map[string]string, len(r.Target))
	for _, k := range slices.Sorted(maps.Keys(r.Target)) {
		target[k] = fmt.Sprint(r.Target[k])
	}
	return &pb.ApprovalRequest{
		ApprovalId: r.ID, GoalId: r.GoalID, Agent: r.Agent, Workflow: r.Workflow,
		Action: &pb.PlanStep{Action: r.Action, ParamsJson: r.Params}, Target: target,
		Decision: toProtoDecision(r.Decision), RequestedAt: timestamppb.New(r.Requested), ExpiresAt: timestamppb.New(r.Expires),
	}
}
