package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	renroll "github.com/sitewarden/sitewarden/runner/enroll"
)

// rawPeer speaks the sync protocol frame by frame with a site's
// certificate, so a test can send what a well-behaved runner never would.
type rawPeer struct {
	t    testing.TB
	conn *quic.Conn
	ctrl *quic.Stream
}

func dialRaw(t testing.TB, p *plane, dir string) *rawPeer {
	t.Helper()
	creds, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, p.addr, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{creds.Cert},
		RootCAs: creds.Pool(), ServerName: "127.0.0.1", NextProtos: []string{protocol.ALPN}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Claims name another client: the control plane must not care.
	if err := protocol.WriteMessage(ctrl, &pb.Hello{ProtocolVersions: []uint32{1}, Claims: &pb.SiteClaims{ClientId: "someone-else", SiteId: "x"}}, 0); err != nil {
		t.Fatal(err)
	}
	_ = ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	if m, err := protocol.ReadMessage(ctrl, 0); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*pb.Welcome); !ok {
		t.Fatalf("hello answered with %T", m)
	}
	return &rawPeer{t: t, conn: conn, ctrl: ctrl}
}

// exchange opens a stream, sends ms, closes the send side and reads every
// answer until the stream ends.
func (r *rawPeer) exchange(ms ...proto.Message) []proto.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.conn.OpenStreamSync(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	for _, m := range ms {
		if err := protocol.WriteMessage(st, m, 0); err != nil {
			r.t.Fatal(err)
		}
	}
	st.Close()
	var out []proto.Message
	for {
		m, err := protocol.ReadMessage(st, 0)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			r.t.Fatalf("read answer: %v", err)
		}
		out = append(out, m)
	}
}

func errorCode(m proto.Message) pb.ErrorCode {
	if e, ok := m.(*pb.Error); ok {
		return e.GetCode()
	}
	return pb.ErrorCode_ERROR_CODE_UNSPECIFIED
}

// signedCheckpoint returns a checkpoint note for client/site's log, signed
// with a fresh key.
func signedCheckpoint(t testing.TB, client, site string, size uint64) []byte {
	t.Helper()
	origin, err := audit.Origin(client, site)
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	s, _, err := audit.NewSigner(origin, k)
	if err != nil {
		t.Fatal(err)
	}
	n, err := audit.SignCheckpoint(audit.Checkpoint{Origin: origin, Size: size}, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSyncAuthorizationMatrix: with two clients, a runner of one cannot
// read the other's scope, goals or decisions, nor write the other's
// escalations, approval requests, outcomes or audit. Reads are scoped by
// the certificate (there is no field to name another client); writes that
// name another client or site are refused with FORBIDDEN, logged, and not
// applied; writes that cannot name one are filed under the certificate's
// client and leave the other's rows untouched. Run in both directions.
func TestSyncAuthorizationMatrix(t *testing.T) {
	p := startPlane(t, 0)
	ctx := context.Background()
	dirs := map[string]string{"acme": enrollSite(t, p, "acme", "hq"), "globex": enrollSite(t, p, "globex", "hq")}
	versions := map[string]uint64{"acme": 2, "globex": 9}
	for c, v := range versions {
		p.publishScope(t, c, v)
		p.addGoal(t, c, "hq", c+"-goal")
		dec, _ := proto.Marshal(&pb.ApprovalDecision{ApprovalId: c + "-appr", Verdict: pb.Verdict_VERDICT_APPROVED})
		if _, err := p.store.AddDecision(ctx, store.Decision{Client: c, Site: "hq", ApprovalID: c + "-appr", Payload: dec}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []store.Kind{store.KindEscalation, store.KindApprovalRequest, store.KindOutcome} {
			if _, err := p.store.PutItem(ctx, store.Item{Kind: k, Client: c, Site: "hq", ID: c + "-item", Payload: []byte("original")}); err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, pair := range [][2]string{{"acme", "globex"}, {"globex", "acme"}} {
		self, other := pair[0], pair[1]
		t.Run(self+"_vs_"+other, func(t *testing.T) {
			r := dialRaw(t, p, dirs[self])
			before := map[store.Kind][]store.Item{}
			for _, k := range []store.Kind{store.KindEscalation, store.KindApprovalRequest, store.KindOutcome} {
				its, err := p.store.Items(ctx, k, other, 100)
				if err != nil {
					t.Fatal(err)
				}
				before[k] = its
			}

			// Reads: scope, goals, decisions are the certificate's client's.
			got := r.exchange(&pb.ScopeRequest{})
			if b, ok := got[0].(*pb.ScopeBundle); !ok || b.GetClientId() != self || b.GetVersion() != versions[self] {
				t.Errorf("scope fetch = %v; want %s's v%d", got, self, versions[self])
			}
			got = r.exchange(&pb.Ack{Stream: "goals"})
			if len(got) != 1 || got[0].(*pb.GoalAssignment).GetGoal().GetGoalId() != self+"-goal" {
				t.Errorf("goal fetch = %v; want only %s-goal", got, self)
			}
			got = r.exchange(&pb.Ack{Stream: "approvals"})
			if len(got) != 2 || got[0].(*pb.ApprovalDecision).GetApprovalId() != self+"-appr" {
				t.Errorf("decision fetch = %v; want only %s-appr", got, self)
			}

			// Writes naming the other client or another site: refused.
			for name, m := range map[string]proto.Message{
				"escalation for other client": &pb.Escalation{EscalationId: "x-" + other, Goal: &pb.Goal{GoalId: other + "-goal", ClientId: other, SiteId: "hq"}},
				"escalation for other site":   &pb.Escalation{EscalationId: "x-site", Goal: &pb.Goal{GoalId: "g", ClientId: self, SiteId: "branch"}},
				"audit of other client":       &pb.AuditBatch{FirstIndex: 0, Records: [][]byte{[]byte("r")}, Checkpoint: signedCheckpoint(t, other, "hq", 1)},
			} {
				got := r.exchange(m)
				if len(got) != 1 || errorCode(got[0]) != pb.ErrorCode_ERROR_CODE_FORBIDDEN {
					t.Errorf("%s: answer %v, want FORBIDDEN", name, got)
				}
			}
			// Writes with no client field reuse the other's ids: filed under self.
			got = r.exchange(
				&pb.Outcome{GoalId: other + "-item", Summary: "from " + self},
				&pb.ApprovalRequest{ApprovalId: other + "-item"},
				&pb.Escalation{EscalationId: other + "-item", Goal: &pb.Goal{GoalId: "g", ClientId: self}},
			)
			for i, m := range got {
				if a, ok := m.(*pb.Ack); !ok || a.GetItemId() != other+"-item" {
					t.Errorf("write %d with %s's id: %v, want Ack", i, other, m)
				}
			}

			// Nothing of the other client changed.
			for _, k := range []store.Kind{store.KindEscalation, store.KindApprovalRequest, store.KindOutcome} {
				its, err := p.store.Items(ctx, k, other, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(its) != len(before[k]) || string(its[0].Payload) != "original" || its[0].ID != other+"-item" {
					t.Errorf("%s's %s rows changed: %+v", other, k, its)
				}
				mine, _ := p.store.Items(ctx, k, self, 100)
				found := false
				for _, it := range mine {
					found = found || it.ID == other+"-item"
				}
				if !found {
					t.Errorf("%s's write with id %s-item was not filed under %s", self, other, self)
				}
			}
			if n, _ := p.store.AuditSize(ctx, other, "hq"); n != 0 {
				t.Errorf("%s's audit mirror holds %d records", other, n)
			}
		})
	}
	logs := p.logs.String()
	if n := strings.Count(logs, "refused write for another client or site"); n != 4 {
		t.Errorf("refused escalations logged %d times, want 4", n)
	}
	if n := strings.Count(logs, "refused audit batch for another log"); n != 2 {
		t.Errorf("refused audit batches logged %d times, want 2", n)
	}
	if !strings.Contains(logs, "hello claims differ from certificate") {
		t.Error("mismatched hello claims were not logged")
	}
}

// TestSyncSitesOfOneClient: two sites of one client (a rogue one enrolled
// with a leaked fleet token, say) cannot close each other's goals or take
// each other's item ids. An outcome for a goal the control plane assigned
// to another site is refused with FORBIDDEN; a write reusing an id another
// site holds is refused and not stored; a site's own retry of an id it
// holds is acknowledged again; an outcome for a goal nobody assigned (one
// submitted on the site) is filed under the writer.
func TestSyncSitesOfOneClient(t *testing.T) {
	p := startPlane(t, 0)
	ctx := context.Background()
	hq, branch := enrollSite(t, p, "acme", "hq"), enrollSite(t, p, "acme", "branch")
	p.addGoal(t, "acme", "hq", "hq-goal")
	if _, err := p.store.PutItem(ctx, store.Item{Kind: store.KindApprovalRequest, Client: "acme", Site: "hq", ID: "hq-appr", Payload: []byte("original")}); err != nil {
		t.Fatal(err)
	}
	rogue := dialRaw(t, p, branch)
	got := rogue.exchange(
		&pb.Outcome{GoalId: "hq-goal", Summary: "closed by branch"},
		&pb.ApprovalRequest{ApprovalId: "hq-appr"},
		&pb.Outcome{GoalId: "branch-local", Summary: "a goal submitted on branch"},
	)
	if len(got) != 3 || errorCode(got[0]) != pb.ErrorCode_ERROR_CODE_FORBIDDEN || errorCode(got[1]) != pb.ErrorCode_ERROR_CODE_FORBIDDEN {
		t.Fatalf("branch's writes for hq's goal and approval id: %v, want FORBIDDEN twice", got)
	}
	if a, ok := got[2].(*pb.Ack); !ok || a.GetItemId() != "branch-local" {
		t.Errorf("outcome of a goal nobody assigned: %v, want Ack", got[2])
	}
	if _, err := p.store.Item(ctx, store.KindOutcome, "acme", "hq-goal"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("branch's outcome for hq's goal was stored: %v", err)
	}
	if it, err := p.store.Item(ctx, store.KindApprovalRequest, "acme", "hq-appr"); err != nil || it.Site != "hq" || string(it.Payload) != "original" {
		t.Errorf("hq's approval request = %+v, %v; want it untouched", it, err)
	}
	// hq closes its own goal; its retry of an id it holds is acknowledged.
	got = dialRaw(t, p, hq).exchange(&pb.Outcome{GoalId: "hq-goal", Summary: "unlocked"}, &pb.ApprovalRequest{ApprovalId: "hq-appr"})
	for i, m := range got {
		if _, ok := m.(*pb.Ack); !ok {
			t.Errorf("hq's write %d: %v, want Ack", i, m)
		}
	}
	if it, err := p.store.Item(ctx, store.KindOutcome, "acme", "hq-goal"); err != nil || it.Site != "hq" {
		t.Errorf("hq's outcome = %+v, %v", it, err)
	}
	logs := p.logs.String()
	for _, want := range []string{"refused outcome for another site's goal", "refused item whose id another site of the client holds"} {
		if !strings.Contains(logs, want) {
			t.Errorf("control plane did not log %q", want)
		}
	}
}

// TestSyncVersionNegotiation: a runner that speaks no version the control
// plane speaks gets Error UNSUPPORTED_VERSION on the control stream, and a
// peer without a site certificate is not let in.
func TestSyncVersionNegotiation(t *testing.T) {
	p := startPlane(t, 0)
	creds, err := renroll.Load(enrollSite(t, p, "acme", "hq"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{creds.Cert},
		RootCAs: creds.Pool(), ServerName: "127.0.0.1", NextProtos: []string{protocol.ALPN}}
	conn, err := quic.DialAddr(ctx, p.addr, tlsConf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.WriteMessage(ctrl, &pb.Hello{ProtocolVersions: []uint32{99, 100}}, 0); err != nil {
		t.Fatal(err)
	}
	_ = ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := protocol.ReadMessage(ctrl, 0)
	if err != nil || errorCode(m) != pb.ErrorCode_ERROR_CODE_UNSUPPORTED_VERSION {
		t.Errorf("hello with versions 99,100: %v, %v; want UNSUPPORTED_VERSION", m, err)
	}

	anon := tlsConf.Clone()
	anon.Certificates = nil
	if c, err := quic.DialAddr(ctx, p.addr, anon, nil); err == nil {
		st, err := c.OpenStreamSync(ctx)
		if err == nil {
			_ = protocol.WriteMessage(st, &pb.Hello{ProtocolVersions: []uint32{1}}, 0)
			_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err = protocol.ReadMessage(st, 0); err == nil {
				t.Error("a peer without a certificate got an answer")
			}
		}
		c.CloseWithError(0, "")
	}
}
