package syncserver

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func TestSyncStatsLag(t *testing.T) {
	s := &Server{}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s.stats.observe(store.KindEscalation, &pb.Escalation{RaisedAt: timestamppb.New(now.Add(-50 * time.Millisecond))}, now)
	s.stats.observe(store.KindApprovalRequest, &pb.ApprovalRequest{RequestedAt: timestamppb.New(now.Add(-2 * time.Minute))}, now)
	s.stats.observe(store.KindOutcome, &pb.Outcome{FinishedAt: timestamppb.New(now.Add(-48 * time.Hour))}, now)
	s.stats.observe(store.KindOutcome, &pb.Outcome{}, now)                                                    // no time: counted, no lag
	s.stats.observe(store.KindEscalation, &pb.Escalation{RaisedAt: timestamppb.New(now.Add(time.Hour))}, now) // a clock ahead: lag 0
	got := s.SyncStats()
	if got.Items[store.KindEscalation] != 2 || got.Items[store.KindApprovalRequest] != 1 || got.Items[store.KindOutcome] != 2 {
		t.Errorf("items = %v", got.Items)
	}
	if got.LagCount != 4 || got.LagSum != 50*time.Millisecond+2*time.Minute+48*time.Hour {
		t.Errorf("lag count %d sum %s", got.LagCount, got.LagSum)
	}
	// Cumulative: <=0.1s: 2, <=5m: 3, <=24h: 3 (48h only in +Inf).
	want := map[time.Duration]uint64{100 * time.Millisecond: 2, time.Minute: 2, 5 * time.Minute: 3, 24 * time.Hour: 3}
	for i, b := range LagBuckets {
		if w, ok := want[b]; ok && got.LagCounts[i] != w {
			t.Errorf("bucket <= %s: %d, want %d", b, got.LagCounts[i], w)
		}
	}
	if len(s.stats.counts) != len(LagBuckets)+1 {
		t.Errorf("%d counters for %d buckets, want one more (+Inf)", len(s.stats.counts), len(LagBuckets))
	}
}
