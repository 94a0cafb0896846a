package goals

import (
	"testing"

	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// TestGoalGuidanceSurvivesConversion checks a returned goal's guidance
// reaches the agent's goal (and back), apart from the ticket text.
func TestGoalGuidanceSurvivesConversion(t *testing.T) {
	in := &pb.Goal{GoalId: "g1~r-e1", ClientId: "acme", SiteId: "hq", Agent: "a", Workflow: "w", TicketText: "ticket", Guidance: "use dc02"}
	g := fromProtoGoal(in)
	if g.Guidance != "use dc02" || g.TicketText != "ticket" {
		t.Fatalf("agent goal = %+v", g)
	}
	if back := toProtoGoal(g); back.GetGuidance() != "use dc02" {
		t.Errorf("back to protobuf: %v", back)
	}
}
