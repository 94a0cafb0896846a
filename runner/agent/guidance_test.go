package agent

import (
	"context"
	"strings"
	"testing"
)

// TestGuidanceReachesThePlannerApartFromTheTicket checks a goal returned
// with a supervisor's guidance hands it to the planner as its own field
// (trusted input), leaves the ticket text as it was, and audits it.
func TestGuidanceReachesThePlannerApartFromTheTicket(t *testing.T) {
	f := newFixture(t, testScope(t))
	m := &scriptedPlanner{}
	g := goal("account_unlock", "dana", "please unlock me")
	g.Guidance = "Use dc02; dc01 is down for maintenance."
	f.agent(t, m).Run(context.Background(), g)
	if len(m.states) == 0 {
		t.Fatal("the planner was never asked")
	}
	got := m.states[0].Goal
	if got.Guidance != g.Guidance || got.TicketText != "please unlock me" {
		t.Errorf("planner saw guidance %q and ticket %q", got.Guidance, got.TicketText)
	}
	if !strings.Contains(f.audit.dump(), `"guidance":"Use dc02; dc01 is down for maintenance."`) {
		t.Error("the guidance is not in the goal_received audit record")
	}
	g.Guidance = strings.Repeat("x", maxGuidance+1)
	if err := g.Validate(); err == nil {
		t.Error("oversized guidance accepted")
	}
}
