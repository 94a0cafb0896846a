package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// TestBrowserGovernanceFlows drives the samples and scopes pages in real
// headless Chromium: a supervisor grades a sample; a governance lead
// proposes a scope change, sees no approve button on their own proposal,
// and an admin (the second person) approves it. Each step checks the
// store, not just the page.
func TestBrowserGovernanceFlows(t *testing.T) {
	e := newEnv(t, nil)
	e.seedReview()
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
	exists := func(sel string) bool {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+"`"+sel+"`"+`) !== null`))
		if err != nil {
			t.Fatalf("query %s: %v", sel, err)
		}
		return ok
	}
	acceptConfirms := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.confirm = function () { return true; }; true"))
		return err
	})
	login := func(user string) {
		t.Helper()
		do("log in as "+user, chromedp.Navigate(e.srv.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#user"), user), chromedp.SendKeys(chromedp.CSS("#password"), password),
			chromedp.Submit(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("form.who")))
	}
	logout := func() {
		t.Helper()
		do("sign out", chromedp.Click(chromedp.CSS("form.who button")), chromedp.WaitVisible(chromedp.CSS("#login")))
	}

	// A supervisor grades the next sample.
	login("supervisor")
	do("samples", chromedp.Navigate(e.srv.URL+"/samples?client=acme"), chromedp.WaitVisible(chromedp.CSS("#grade-next")))
	shot("g01-samples")
	do("next sample", chromedp.Click(chromedp.CSS("#grade-next")), chromedp.WaitVisible(chromedp.CSS("#grade")))
	id := strings.Fields(text("main h1"))[1]
	if !strings.Contains(text("#sample-item"), "LDAP unreachable") {
		t.Errorf("the sample page does not show the decision")
	}
	shot("g02-sample")
	do("grade it", chromedp.Click(chromedp.CSS("#grade-incorrect")),
		chromedp.SendKeys(chromedp.CSS("#grade-note"), "should have tried the second DC first"),
		chromedp.Click(chromedp.CSS("#grade-submit")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(".flash"); !strings.Contains(got, "sample "+id+" graded incorrect") {
		t.Errorf("flash after grading = %q", got)
	}
	if s, err := e.st.Sample(context.Background(), id); err != nil || s.Grade != store.GradeIncorrect || s.GradedBy != "supervisor" || s.Note != "should have tried the second DC first" {
		t.Errorf("stored sample %s = %+v, %v", id, s, err)
	}
	shot("g03-graded-next")
	logout()

	// The governance lead proposes a change of acme's scope.
	login("governance_lead")
	do("scopes", chromedp.Navigate(e.srv.URL+"/scopes?client=acme"), chromedp.WaitVisible(chromedp.CSS("#propose")),
		chromedp.SetValue(chromedp.CSS("#propose-name"), "account.yaml"),
		chromedp.SetValue(chromedp.CSS("#propose-text"), packText(t, "account.yaml", "acme")),
		chromedp.SendKeys(chromedp.CSS("#propose-note"), "acme wants account unlocks"))
	shot("g04-propose")
	do("propose", chromedp.Click(chromedp.CSS("#propose-submit")), chromedp.WaitVisible(chromedp.CSS("#proposal-status")))
	pid := strings.Fields(text("main h1"))[1]
	if got := text("#proposal-status"); got != "pending" {
		t.Errorf("proposal status = %q, want pending", got)
	}
	if !strings.Contains(text("#changes"), "WIDENS") || !strings.Contains(text("#test-report"), "PASS: 15 cases passed") {
		t.Errorf("the proposal page lacks the diff or the test results")
	}
	if exists("#approve") || !exists("#own-proposal") {
		t.Error("the proposer is offered to approve their own change")
	}
	shot("g05-proposed")
	logout()

	// The admin, a second person, approves it.
	login("admin")
	do("open proposal", chromedp.Navigate(e.srv.URL+"/scopes/proposals/"+pid), chromedp.WaitVisible(chromedp.CSS("#approve")))
	shot("g06-review")
	do("approve", acceptConfirms, chromedp.SendKeys(chromedp.CSS("#approve textarea"), "diff and tests read"),
		chromedp.Click(chromedp.CSS("#approve-submit")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text("#proposal-status"); got != "approved" {
		t.Errorf("proposal status after approval = %q", got)
	}
	if got := text("#proposal-version"); got != "version 1" {
		t.Errorf("published version = %q", got)
	}
	p, err := e.st.Proposal(context.Background(), pid)
	v, err2 := e.st.LatestScope(context.Background(), "acme")
	if err != nil || err2 != nil || p.Proposer != "governance_lead" || p.DecidedBy != "admin" || p.Version != 1 || v.Version != 1 {
		t.Errorf("stored proposal %+v (%v), latest scope v%d (%v)", p, err, v.Version, err2)
	}
	do("history", chromedp.Navigate(e.srv.URL+"/scopes?client=acme"), chromedp.WaitVisible(chromedp.CSS("#versions")))
	if h := text("#versions"); !strings.Contains(h, pid) || !strings.Contains(h, "governance_lead") || !strings.Contains(h, "admin") {
		t.Errorf("versions table: %q", h)
	}
	shot("g07-history")
	t.Logf("screenshots in %s", br.shots)
}
