package syncserver

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// LagBuckets are the upper bounds of the sync lag histogram.
var LagBuckets = []time.Duration{
	100 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour,
}

// SyncStats is a snapshot of what the sync server received. Lag is the
// time from when a site created an item (an escalation raised, an approval
// requested, a goal finished) to when the control plane stored it: near
// zero while a site is connected, the length of the outage after one.
type SyncStats struct {
	// Items counts the items stored, by kind (redeliveries not counted).
	Items map[store.Kind]uint64
	// LagCounts[i] counts items whose lag was at most LagBuckets[i]
	// (cumulative); LagCount counts all of them, LagSum adds their lags.
	LagCounts []uint64
	LagCount  uint64
	LagSum    time.Duration
}

// syncStats collects SyncStats; its zero value is ready.
type syncStats struct {
	mu     sync.Mutex
	items  map[store.Kind]uint64
	counts [12]uint64 // one per LagBuckets entry, and +Inf
	count  uint64
	sum    time.Duration
}

// observe records a stored item and, when it carries its creation time,
// its lag.
func (s *syncStats) observe(kind store.Kind, m proto.Message, received time.Time) {
	var created time.Time
	switch m := m.(type) {
	case *pb.Escalation:
		created = m.GetRaisedAt().AsTime()
	case *pb.ApprovalRequest:
		created = m.GetRequestedAt().AsTime()
	case *pb.Outcome:
		created = m.GetFinishedAt().AsTime()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items = map[store.Kind]uint64{}
	}
	s.items[kind]++
	if created.Unix() <= 0 {
		return // no creation time sent
	}
	lag := max(received.Sub(created), 0)
	i := 0
	for i < len(LagBuckets) && lag > LagBuckets[i] {
		i++
	}
	s.counts[i]++
	s.count++
	s.sum += lag
}

// SyncStats returns what the server received since it started.
func (s *Server) SyncStats() SyncStats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	out := SyncStats{Items: map[store.Kind]uint64{}, LagCounts: make([]uint64, len(LagBuckets)), LagCount: s.stats.count, LagSum: s.stats.sum}
	for k, n := range s.stats.items {
		out.Items[k] = n
	}
	var cum uint64
	for i := range LagBuckets {
		cum += s.stats.counts[i]
		out.LagCounts[i] = cum
	}
	return out
}
