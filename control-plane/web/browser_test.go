package web_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/web/webtest"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// artifactsDir is where the browser test writes its screenshots:
// $SW_ARTIFACTS/web-browser when SW_ARTIFACTS is set (CI keeps it), else
// a temporary directory removed after the test.
func artifactsDir(t *testing.T) string {
	if base := os.Getenv("SW_ARTIFACTS"); base != "" {
		dir := filepath.Join(base, "web-browser")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// seedActivity stores a few days of goals and outcomes so the overview's
// charts have something to draw.
func (e *env) seedActivity() {
	e.t.Helper()
	ctx := context.Background()
	sts := []pb.OutcomeStatus{pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED,
		pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED, pb.OutcomeStatus_OUTCOME_STATUS_DENIED, pb.OutcomeStatus_OUTCOME_STATUS_FAILED}
	for i := range 120 {
		at := t0.Add(-time.Duration(i) * 3 * time.Hour)
		client := []string{"acme", "globex"}[i%2]
		id := fmt.Sprintf("seed-%d", i)
		g := &pb.Goal{GoalId: id, ClientId: client, SiteId: "hq", Agent: "account-helper", Workflow: []string{"account_unlock", "password_reset", "group_add"}[i%3], CreatedAt: timestamppb.New(at)}
		b, _ := proto.Marshal(g)
		if _, err := e.st.AddGoal(ctx, store.Goal{Client: client, Site: "hq", ID: id, Payload: b}); err != nil {
			e.t.Fatal(err)
		}
		o := &pb.Outcome{GoalId: id, Status: sts[i%len(sts)], StartedAt: timestamppb.New(at), FinishedAt: timestamppb.New(at.Add(time.Minute))}
		if err := webtest.Put(ctx, e.st, store.KindOutcome, client, "hq", id, o, at.Add(time.Minute)); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.st.TouchSite(ctx, store.Identity{Client: "acme", Site: "hq"}, t0.Add(-30*time.Second), "0.9.0", nil); err != nil {
		e.t.Fatal(err)
	}
}

// TestBrowserSupervisorFlows drives the UI in real headless Chromium: log
// in, approve an action, resolve an escalation, return one to the agent
// with guidance, and export an audit file that protocol/audit's verifier
// accepts. Each step checks the store, not just the page.
func TestBrowserSupervisorFlows(t *testing.T) {
	e := newEnv(t, nil)
	e.seedActivity()
	e.putEscalation("acme", "e-resolve", "account_unlock")
	e.putEscalation("acme", "e-return", "account_unlock")
	e.putApproval("acme", "a-1", t0.Add(time.Hour))
	downloads := t.TempDir()

	br := newBrowser(t)
	ctx, shot, do := br.ctx, br.shot, br.do
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// confirm() dialogs ask "are you sure"; the test answers yes.
	acceptConfirms := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.confirm = function () { return true; }; true"))
		return err
	})

	// Log in.
	do("log in", chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#user"), "supervisor"), chromedp.SendKeys(chromedp.CSS("#password"), password))
	shot("01-login")
	do("submit login", chromedp.Submit(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("form.who")))
	if got := text("main h1"); !strings.HasPrefix(got, "Overview") {
		t.Fatalf("after login the page is %q, want the overview: %s", got, text("main"))
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof htmx === "object"`)); err != nil || !ok {
		t.Errorf("htmx did not load under the Content-Security-Policy: %v", err)
	}
	shot("02-overview")

	// Approve an action.
	do("open approval", chromedp.Navigate(e.srv.URL+"/approvals/acme/a-1"), chromedp.WaitVisible(chromedp.CSS("#approve")))
	shot("03-approval")
	do("approve", acceptConfirms, chromedp.SendKeys(chromedp.CSS("#approve textarea"), "called dana's manager"),
		chromedp.Click(chromedp.CSS("#approve button")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text("#approval-status"); got != "approved" {
		t.Errorf("approval status on the page = %q, want approved", got)
	}
	ds, err := e.st.DecisionsAfter(context.Background(), "acme", "hq", 0, 10)
	var dec pb.ApprovalDecision
	if err != nil || len(ds) != 1 || proto.Unmarshal(ds[0].Payload, &dec) != nil || dec.GetVerdict() != pb.Verdict_VERDICT_APPROVED ||
		dec.GetDecidedBy() != "supervisor" || dec.GetReason() != "called dana's manager" {
		t.Errorf("stored decisions = %v (%v), %v; want one approval by supervisor with the note", ds, &dec, err)
	}
	shot("04-approved")

	// Resolve an escalation.
	do("open escalation", chromedp.Navigate(e.srv.URL+"/escalations?client=acme&state=open"), chromedp.WaitVisible(chromedp.CSS("#queue")))
	shot("05-queue")
	do("resolve", chromedp.Navigate(e.srv.URL+"/escalations/acme/e-resolve"), chromedp.WaitVisible(chromedp.CSS("#resolve")))
	if trail := text("main"); !strings.Contains(trail, "Audit trail of the goal") || !strings.Contains(trail, "action_result") {
		t.Errorf("the escalation page shows no audit trail for its goal")
	}
	shot("06-escalation")
	do("resolve it", chromedp.SendKeys(chromedp.CSS("#resolve textarea"), "restarted the DC, unlocked dana by hand"),
		chromedp.Click(chromedp.CSS("#resolve button")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	st, err := e.st.EscalationState(context.Background(), "acme", "e-resolve")
	if err != nil || st.ResolvedBy != "supervisor" || st.Note != "restarted the DC, unlocked dana by hand" {
		t.Errorf("escalation state = %+v, %v", st, err)
	}
	shot("07-resolved")

	// The queue's filters swap the table with htmx (under the CSP) and
	// keep the filter in the address.
	do("filter the queue", chromedp.Navigate(e.srv.URL+"/escalations?client=acme"), chromedp.WaitVisible(chromedp.CSS("#queue")),
		chromedp.SetValue(chromedp.CSS(`select[name="state"]`), "resolved"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('select[name="state"]').dispatchEvent(new Event("change", {bubbles: true}))`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`location.search.includes("state=resolved") && document.querySelector("#queue").textContent.includes("1 escalation(s) match")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the htmx filter did not swap the queue: %v; page: %s", err, text("#queue"))
	}
	shot("07b-queue-filtered")

	// Return one to the agent with guidance.
	do("return", chromedp.Navigate(e.srv.URL+"/escalations/acme/e-return"), chromedp.WaitVisible(chromedp.CSS("#return")), acceptConfirms,
		chromedp.SendKeys(chromedp.CSS("#return textarea"), "Use dc02; dc01 is down for maintenance."),
		chromedp.Click(chromedp.CSS("#return button")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	goals, err := e.st.GoalsAfter(context.Background(), "acme", "hq", 0, 1000)
	var returned *pb.Goal
	for _, g := range goals {
		var gp pb.Goal
		if proto.Unmarshal(g.Payload, &gp) == nil && gp.GetGuidance() != "" {
			returned = &gp
		}
	}
	if err != nil || returned == nil || returned.GetGuidance() != "Use dc02; dc01 is down for maintenance." || returned.GetWorkflow() != "account_unlock" ||
		returned.GetSubject()["user"] != "dana" || returned.GetRequester() != "user:supervisor" {
		t.Errorf("returned goal = %v, %v; want the original goal with the guidance", returned, err)
	}
	shot("08-returned")

	// Export an audit file and verify it offline.
	events := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	on := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &on}); err != nil {
		t.Fatal(err)
	}
	do("audit page", chromedp.Navigate(e.srv.URL+"/audit?client=acme&site=hq"), chromedp.WaitVisible(chromedp.CSS("#audit-export")))
	shot("09-audit")
	do("export", chromedp.Click(chromedp.CSS("#audit-export button")))
	var file string
	for ev, err := range events {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(downloads, ev.GUID)
			break
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the browser canceled the export download")
		}
	}
	v, err := webtest.Verifier(e.vkey)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := audit.VerifyFile(context.Background(), file, v)
	if err != nil {
		t.Fatalf("the exported audit file does not verify: %v", err)
	}
	if sum.Client != "acme" || sum.Records != 5 || sum.TreeSize != 5 {
		t.Errorf("export summary = %+v; want acme's 5 witnessed records", sum)
	}
	// The remaining pages render in the browser too.
	do("sites", chromedp.Navigate(e.srv.URL+"/sites"), chromedp.WaitVisible(chromedp.CSS("main table")))
	shot("10-sites")
	// The site page, opened from the sites list: the chart is SVG drawn on
	// the server, so it shows under the CSP with no script.
	do("site", chromedp.Click(chromedp.CSS(`main table a[href="/sites/acme/hq"]`)), chromedp.WaitVisible(chromedp.CSS("#identity")),
		chromedp.WaitVisible(chromedp.CSS("#goals svg.chart")))
	if got := text("main h1"); !strings.HasPrefix(got, "Site acme / hq") {
		t.Errorf("site page heading %q", got)
	}
	shot("10b-site")
	do("report", chromedp.Navigate(e.srv.URL+"/report?client=acme&month=2026-11"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	if got := text("main h1"); got != "Service review · acme · 2026-11" {
		t.Errorf("report heading %q", got)
	}
	shot("11-report")
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPrintBackground()))
	if err != nil || len(pdf) < 1000 || string(pdf[:4]) != "%PDF" {
		t.Fatalf("printing the report: %d bytes, %v", len(pdf), err)
	}
	if err := os.WriteFile(filepath.Join(br.shots, "11-report.pdf"), pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("browser test ran out of time")
	}
	t.Logf("screenshots in %s", br.shots)
}
