package cli_test

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// freeAddr returns a loopback address whose port is free for TCP and UDP.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		u, err := net.ListenPacket("udp", addr)
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

// TestSupervisorCLIAgainstRealServer starts 'sitewarden server' in-process,
// sets up the first admin from its setup link, logs in for an API token and
// drives sites, escalations, approvals and goals through the CLI.
func TestSupervisorCLIAgainstRealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := startTestServer(t, ctx)
	if strings.Contains(s.log.String(), `"msg"`) && strings.Contains(s.log.String(), s.setup+`"`) {
		t.Error("the setup secret appears inside a log record")
	}
	state, token := s.state, s.admin
	run := func(want int, args ...string) string {
		t.Helper()
		return s.run("", want, args...)
	}
	run(1, "setup", "--setup", s.setup) // the link works once
	if msg := run(2, "sites", "list", "--client", "acme"); !strings.Contains(msg, "SITEWARDEN_TOKEN") {
		t.Errorf("no token: %s", msg)
	}
	t.Setenv("SITEWARDEN_TOKEN", token)

	st, err := store.OpenSQLite(ctx, filepath.Join(state, "control-plane.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.UpsertSite(ctx, store.Site{Identity: store.Identity{Tenant: "default", Client: "acme", Site: "hq"}, CertSerial: "01", EnrolledAt: now, CertNotAfter: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	esc, _ := proto.Marshal(&pb.Escalation{EscalationId: "e1", Goal: &pb.Goal{GoalId: "g1"}, Reason: "user not found"})
	appr, _ := proto.Marshal(&pb.ApprovalRequest{ApprovalId: "a1", GoalId: "g2", Workflow: "password_reset", Action: &pb.PlanStep{Action: "reset_password"}, ExpiresAt: timestamppb.New(now.Add(time.Hour))})
	for _, it := range []store.Item{{Kind: store.KindEscalation, ID: "e1", Payload: esc}, {Kind: store.KindApprovalRequest, ID: "a1", Payload: appr}, {Kind: store.KindApprovalRequest, ID: "a2", Payload: appr}} {
		it.Client, it.Site, it.ReceivedAt = "acme", "hq", now
		if _, err := st.PutItem(ctx, it); err != nil {
			t.Fatal(err)
		}
	}

	var sites api.Page[api.SiteView]
	if err := json.Unmarshal([]byte(run(0, "sites", "list", "--client", "acme", "-o", "json")), &sites); err != nil || len(sites.Items) != 1 || sites.Items[0].Site != "hq" {
		t.Errorf("sites list -o json = %+v, %v", sites, err)
	}
	if txt := run(0, "sites", "show", "hq", "--client", "acme"); !strings.Contains(txt, "site acme/hq") {
		t.Errorf("sites show: %s", txt)
	}
	// A site a fleet token enrolled names the token (its ID, never the secret).
	const fleetHash = "f1ee7c0ffee000000000000000000000000000000000000000000000000000aa"
	if err := st.CreateToken(ctx, store.Token{Hash: fleetHash, Identity: store.Identity{Tenant: "default", Client: "acme"}, Fleet: true, MaxUses: 5, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnrollFleetSite(ctx, fleetHash, store.Site{Identity: store.Identity{Tenant: "default", Client: "acme", Site: "pc1"}, CertSerial: "02", EnrolledAt: now}, now); err != nil {
		t.Fatal(err)
	}
	if txt := run(0, "sites", "show", "pc1", "--client", "acme"); !strings.Contains(txt, "enrolled by fleet token "+store.TokenID(fleetHash)) {
		t.Errorf("sites show of a fleet-enrolled site: %s", txt)
	}
	// The design's name for the same command: 'runners' is an alias of 'sites'.
	if txt := run(0, "runners", "list", "--client", "acme"); !strings.Contains(txt, "SITE") || !strings.Contains(txt, "hq") {
		t.Errorf("runners list: %s", txt)
	}
	if txt := run(0, "runners", "show", "hq", "--client", "acme"); !strings.Contains(txt, "site acme/hq") {
		t.Errorf("runners show: %s", txt)
	}
	if txt := run(0, "escalations", "list", "--client", "acme"); !strings.Contains(txt, "e1") || !strings.Contains(txt, "open") {
		t.Errorf("escalations list: %s", txt)
	}
	run(0, "escalations", "claim", "e1", "--client", "acme")
	var e api.EscalationView
	if err := json.Unmarshal([]byte(run(0, "escalations", "resolve", "e1", "--client", "acme", "--note", "created the account", "-o", "json")), &e); err != nil || e.Status != "resolved" || e.ResolvedBy != "admin" {
		t.Errorf("resolve -o json = %+v, %v", e, err)
	}
	if txt := run(0, "escalations", "show", "e1", "--client", "acme"); !strings.Contains(txt, "resolved by admin") {
		t.Errorf("escalations show: %s", txt)
	}
	if txt := run(1, "escalations", "claim", "e1", "--client", "acme"); !strings.Contains(txt, "conflict") {
		t.Errorf("claim of a resolved escalation: %s", txt)
	}
	if txt := run(0, "approvals", "list", "--client", "acme"); !strings.Contains(txt, "a1") || !strings.Contains(txt, "pending") {
		t.Errorf("approvals list: %s", txt)
	}
	run(0, "approvals", "approve", "a1", "--client", "acme", "--reason", "verified")
	run(0, "approvals", "deny", "a2", "--client", "acme")
	ds, err := st.DecisionsAfter(ctx, "acme", "hq", 0, 10)
	if err != nil || len(ds) != 2 || ds[0].ApprovalID != "a1" || ds[1].ApprovalID != "a2" {
		t.Fatalf("decisions the sync server would deliver: %+v, %v", ds, err)
	}
	var g api.GoalView
	if err := json.Unmarshal([]byte(run(0, "goals", "submit", "--client", "acme", "--site", "hq", "--agent", "account-helper", "--workflow", "account_unlock", "--subject", "user=bob", "--id", "g7", "-o", "json")), &g); err != nil || g.ID != "g7" || g.Status != "assigned" {
		t.Errorf("goals submit = %+v, %v", g, err)
	}
	if gs, err := st.GoalsAfter(ctx, "acme", "hq", 0, 10); err != nil || len(gs) != 1 || gs[0].ID != "g7" {
		t.Errorf("goals the sync server would deliver: %+v, %v", gs, err)
	}
	if txt := run(0, "goals", "show", "g7", "--client", "acme"); !strings.Contains(txt, "assigned") {
		t.Errorf("goals show: %s", txt)
	}
	if txt := run(1, "goals", "show", "nope", "--client", "acme"); !strings.Contains(txt, "not_found") {
		t.Errorf("unknown goal: %s", txt)
	}
	if txt := run(1, "sites", "list", "--client", "acme", "--token", "swt_bogus"); !strings.Contains(txt, "unauthenticated") {
		t.Errorf("bad token: %s", txt)
	}
}
