package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// TestSyncControlStreamHeartbeats: the control plane serves each site from
// one goroutine that reads the control stream between transfers. A
// heartbeat frame cut in two, with a drain between the halves, is still
// recorded whole; transfers are served meanwhile; and a site that goes
// silent for three heartbeat intervals (1 s here) is disconnected.
func TestSyncControlStreamHeartbeats(t *testing.T) {
	p := startPlane(t, 0)
	dir := enrollSite(t, p, "acme", "hq")
	r := dialRaw(t, p, dir)

	var frame bytes.Buffer
	if err := protocol.WriteMessage(&frame, &pb.Heartbeat{Seq: 1, RunnerVersion: "split-heartbeat",
		Health: &pb.Health{UptimeSeconds: 42}}, 0); err != nil {
		t.Fatal(err)
	}
	raw := frame.Bytes()
	_ = r.ctrl.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ctrl.Write(raw[:3]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // at least one drain sees only the first half
	if got := r.exchange(&pb.ScopeRequest{}); len(got) != 1 || errorCode(got[0]) != pb.ErrorCode_ERROR_CODE_NOT_FOUND {
		t.Fatalf("scope fetch while a heartbeat is half sent: %v, want NOT_FOUND (none published)", got)
	}
	if _, err := r.ctrl.Write(raw[3:]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "split heartbeat recorded", func() bool {
		s, err := p.store.Site(context.Background(), "acme", "hq")
		return err == nil && s.RunnerVersion == "split-heartbeat" && len(s.Health) > 0
	})

	start := time.Now()
	select {
	case <-r.conn.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a site silent for 10 s (heartbeat interval 1 s) is still connected")
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("disconnected %s after the last heartbeat, before three intervals", d)
	}
}
