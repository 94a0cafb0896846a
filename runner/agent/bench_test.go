package agent

import (
	"context"
	"testing"
)

// BenchmarkStepOverhead measures the agent's own work per step (decide,
// gate, audit records, facts, filtering, history) for a resolved unlock
// goal with instant stand-ins for the plugin host, the audit log and the
// planner's model: the figure excludes model and plugin time by
// construction. Target: <= 1 ms per step.
func BenchmarkStepOverhead(b *testing.B) {
	f := newFixture(b, testScope(b))
	a := f.agent(b, nil)
	ctx := context.Background()
	steps := 0
	b.ReportAllocs()
	for b.Loop() {
		f.dir.users["dana"].locked = true
		f.audit.records = f.audit.records[:0]
		out := a.Run(ctx, goal("account_unlock", "dana", "locked out"))
		if out.Status != StatusResolved {
			b.Fatalf("status %s (%s)", out.Status, out.Summary)
		}
		steps += len(out.Steps)
	}
	if steps > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps)/1e3, "µs/step")
	}
}
