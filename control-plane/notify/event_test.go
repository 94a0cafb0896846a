package notify

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func testConfig() Config {
	c := DefaultConfig()
	c.BaseURL = "https://cp.example.com:8443/"
	c.Tenant = "msp"
	c.Targets = []Target{{Name: "t", URL: "https://example.com/x", Format: FormatSlack, Timeout: time.Second}}
	return c
}

func TestSlackEscapesHostileText(t *testing.T) {
	hostile := "<!channel> <!here|here> <!everyone> @channel @here @all <@U123> <https://evil.example|click me> [login](https://evil.example) ![x](https://evil.example/i.png) a&b\nline2\x00\u202e"
	esc := &pb.Escalation{Goal: &pb.Goal{GoalId: "g<1>", Workflow: "account_unlock"}, Reason: hostile + strings.Repeat("z", 1000)}
	payload, _ := proto.Marshal(esc)
	e, due := testConfig().itemEvents(store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "e1", Payload: payload, ReceivedAt: time.Now()})
	if due != nil {
		t.Fatal("an escalation scheduled an expiring event")
	}
	if len([]rune(e.Summary)) > maxSummary || strings.ContainsAny(e.Summary, "\n\x00\u202e") {
		t.Fatalf("summary not bounded to one clean line: %q", e.Summary)
	}
	for _, format := range []string{FormatSlack, FormatTeams} {
		body, err := Render(format, e)
		if err != nil {
			t.Fatal(err)
		}
		var text string
		if format == FormatSlack {
			var m struct{ Text string }
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			text = m.Text
		} else {
			text = string(body) // JSON-escaped, but brackets and @ survive
		}
		for _, bad := range []string{"<!channel>", "<!here", "<!everyone>", "<@U123>", "<https://evil", "](https://", "[login]", "@channel", "@here", "@all"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s text keeps %q: %s", format, bad, text)
			}
		}
		if !strings.Contains(text, "https://cp.example.com:8443/escalations/acme/e1") {
			t.Errorf("%s text lacks the link: %s", format, text)
		}
	}
	var m struct{ Text string }
	body, _ := Render(FormatSlack, e)
	_ = json.Unmarshal(body, &m)
	if !strings.Contains(m.Text, "&lt;!channel&gt;") || !strings.Contains(m.Text, "a&amp;b") || !strings.Contains(m.Text, "g&lt;1&gt;") {
		t.Errorf("slack text not entity-escaped: %s", m.Text)
	}
}

func TestApprovalEvents(t *testing.T) {
	exp := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	payload, _ := proto.Marshal(&pb.ApprovalRequest{ApprovalId: "a1", GoalId: "g1", Workflow: "account_unlock",
		Action: &pb.PlanStep{Action: "directory.unlock_account"}, ExpiresAt: timestamppb.New(exp)})
	c := testConfig()
	e, due := c.itemEvents(store.Item{Kind: store.KindApprovalRequest, Client: "acme", Site: "hq", ID: "a1", Payload: payload, ReceivedAt: exp.Add(-time.Hour)})
	if e.Type != EventApprovalRequested || e.ID != "approval.requested:acme:a1" || e.ExpiresAt == nil || !e.ExpiresAt.Equal(exp) ||
		e.Link != "https://cp.example.com:8443/approvals/acme/a1" || e.Tenant != "msp" || e.GoalID != "g1" || !strings.Contains(e.Summary, "directory.unlock_account") {
		t.Fatalf("event = %+v", e)
	}
	if due == nil || due.EventID != "approval.expiring:acme:a1" || !due.DueAt.Equal(exp.Add(-c.ApprovalLead)) || !due.ExpiresAt.Equal(exp) {
		t.Fatalf("due = %+v", due)
	}
	var x Event
	if err := json.Unmarshal(due.Body, &x); err != nil || x.Type != EventApprovalExpiring || x.ID != due.EventID {
		t.Fatalf("due body = %s, %v", due.Body, err)
	}
	a := c.alertEvent(store.SeqAlert{Seq: 7, AuditAlert: store.AuditAlert{Client: "acme", Site: "hq", Reason: "checkpoint fork", At: exp}})
	if a.ID != "witness.alert:acme:hq:7" || a.Link != "https://cp.example.com:8443/sites/acme/hq" || !strings.Contains(a.Summary, "checkpoint fork") {
		t.Fatalf("alert event = %+v", a)
	}
}

func TestSignVerify(t *testing.T) {
	// The vector docs/notify.md's Python and openssl recipes reproduce.
	if got := Sign("test-secret-0123456789", 1800000000, []byte(`{"id":"x"}`)); got != "v1=2f0362078f2e841590bff4f3d0e4f6f17c5d3926d9ace41582f6e43ea4451bf8" {
		t.Fatalf("Sign = %s; the signature format changed", got)
	}
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"x"}`)
	sig := Sign("secret-secret-16", now.Unix(), body)
	ts := "1800000000"
	if err := Verify("secret-secret-16", sig, ts, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]error{
		"tampered body": Verify("secret-secret-16", sig, ts, []byte(`{"id":"y"}`), now, 5*time.Minute),
		"wrong secret":  Verify("another-secret-1", sig, ts, body, now, 5*time.Minute),
		"other ts":      Verify("secret-secret-16", sig, "1800000001", body, now, 5*time.Minute),
		"replay":        Verify("secret-secret-16", sig, ts, body, now.Add(time.Hour), 5*time.Minute),
		"bad ts":        Verify("secret-secret-16", sig, "soon", body, now, 5*time.Minute),
	} {
		if !errors.Is(check, ErrBadSignature) {
			t.Errorf("%s: %v; want ErrBadSignature", name, check)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"a\n\n b\tc":            "a b c",
		"  lead":                "lead",
		"\xff ok":               "\uFFFD ok",
		strings.Repeat("x", 10): "xxxx…",
	} {
		if got := clean(in, 4+len(in)*boolInt(len(in) < 10)); got != want {
			t.Errorf("clean(%q) = %q; want %q", in, got, want)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
